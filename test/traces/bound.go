package traces

import "time"

// NodesFor returns the fewest nodes of capacity c that together offer demand
// d in every resource: the largest, over resources, of ceil(d_r / c_r).
// Bin-packing may need more; no placement needs fewer, since no pod spans two
// nodes. It panics if d asks for a resource c lacks: a pool's pods must fit
// its nodes (see Trace.Validate).
func NodesFor(d, c Resources) int64 {
	n := int64(0)
	for _, r := range [][2]int64{{d.MilliCPU, c.MilliCPU}, {d.Memory, c.Memory}, {d.GPU, c.GPU}} {
		demand, capacity := r[0], r[1]
		if demand <= 0 {
			continue
		}
		if capacity <= 0 {
			panic("traces: demand for a resource the node does not have")
		}
		n = max(n, (demand+capacity-1)/capacity)
	}
	return n
}

// Bound is the lower bound of one pool between two instants.
type Bound struct {
	From, To time.Duration
	Nodes    int64
}

// Bounds returns, for pool p, the lower bound on nodes in use over [0,
// Horizon) as consecutive intervals, one per step (departures of a step are
// applied before its arrivals).
func (t Trace) Bounds(p Pool) []Bound {
	steps := t.Steps()
	out := make([]Bound, 0, len(steps))
	var demand Resources
	for k, s := range steps {
		for _, i := range s.Depart {
			if t.Pods[i].Pool == p.Name {
				demand = demand.Sub(t.Pods[i].Requests)
			}
		}
		for _, i := range s.Arrive {
			if t.Pods[i].Pool == p.Name {
				demand = demand.Add(t.Pods[i].Requests)
			}
		}
		to := t.Horizon
		if k+1 < len(steps) {
			to = steps[k+1].At
		}
		out = append(out, Bound{From: s.At, To: to, Nodes: NodesFor(demand, p.Capacity)})
	}
	return out
}

// LowerBound returns the node-hours pool p needs at least over [0, Horizon):
// at each instant, NodesFor the demand of the pods alive in the pool,
// integrated over time.
func (t Trace) LowerBound(p Pool) float64 {
	h := 0.0
	for _, b := range t.Bounds(p) {
		h += float64(b.Nodes) * (b.To - b.From).Hours()
	}
	return h
}
