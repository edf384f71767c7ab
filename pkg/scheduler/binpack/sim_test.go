package binpack

import (
	"math"
	"testing"
	"time"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/test/traces"
)

// simNode is a node of the packing simulation.
type simNode struct {
	used traces.Resources
	pods map[int]bool
	mix  [numKinds]float64
}

// scorer picks a score for placing pod i on node n at time now.
type scorer func(t traces.Trace, pool traces.Pool, n *simNode, i int, now time.Duration) float64

func kindOfWorkload(w carvev1.Workload) kind {
	switch w {
	case carvev1.WorkloadSession:
		return kindSession
	case carvev1.WorkloadJob:
		return kindJob
	case carvev1.WorkloadModel:
		return kindModel
	}
	return kindOther
}

func toUsage(r traces.Resources) usage {
	return usage{milliCPU: r.MilliCPU, memory: r.Memory, gpu: r.GPU}
}

func stateOf(pool traces.Pool, n *simNode) nodeState {
	return nodeState{alloc: toUsage(pool.Capacity), requested: toUsage(n.used), gpuNode: pool.Capacity.GPU > 0, mix: n.mix}
}

// simulate places the trace's pods greedily by score, one at a time in
// arrival order, on the best node that fits (an empty node when none
// scores higher), and returns node-hours over the lower bound.
func simulate(t traces.Trace, s scorer) float64 {
	total, bound := 0.0, 0.0
	for _, pool := range traces.Pools {
		var nodes []*simNode
		where := map[int]*simNode{}
		hours := 0.0
		steps := t.Steps()
		for si, st := range steps {
			for _, i := range st.Depart {
				n, ok := where[i]
				if !ok {
					continue
				}
				p := t.Pods[i]
				n.used = n.used.Sub(p.Requests)
				delete(n.pods, i)
				n.mix[kindOfWorkload(p.Workload)] -= share(pool, p.Requests)
				delete(where, i)
			}
			for _, i := range st.Arrive {
				p := t.Pods[i]
				if p.Pool != pool.Name {
					continue
				}
				var best *simNode
				bestScore := math.Inf(-1)
				for _, n := range nodes {
					if len(n.pods) == 0 || !n.used.Add(p.Requests).Fits(pool.Capacity) {
						continue
					}
					if sc := s(t, pool, n, i, st.At); sc > bestScore {
						best, bestScore = n, sc
					}
				}
				empty := &simNode{pods: map[int]bool{}}
				if sc := s(t, pool, empty, i, st.At); best == nil || sc > bestScore {
					best = nil
					for _, n := range nodes {
						if len(n.pods) == 0 {
							best = n
							break
						}
					}
					if best == nil {
						best = empty
						nodes = append(nodes, empty)
					}
				}
				best.used = best.used.Add(p.Requests)
				best.pods[i] = true
				best.mix[kindOfWorkload(p.Workload)] += share(pool, p.Requests)
				where[i] = best
			}
			hours += stepHours(t, steps, si, nodes, func(n *simNode) bool { return len(n.pods) > 0 })
		}
		total += hours
		bound += t.LowerBound(pool)
	}
	return total / bound
}

// stepHours is the node-hours of step si: the nodes busy says hold work,
// for as long as the step lasts.
func stepHours[N any](t traces.Trace, steps []traces.Step, si int, nodes []N, busy func(N) bool) float64 {
	next := t.Horizon
	if si+1 < len(steps) {
		next = steps[si+1].At
	}
	n := 0
	for _, node := range nodes {
		if busy(node) {
			n++
		}
	}
	return float64(n) * (next - steps[si].At).Hours()
}

func share(pool traces.Pool, r traces.Resources) float64 {
	return math.Max(float64(r.MilliCPU)/float64(pool.Capacity.MilliCPU), float64(r.Memory)/float64(pool.Capacity.Memory))
}

// mostAllocated is kube-scheduler's MostAllocated: the mean over CPU and
// memory of the fraction requested after placement.
func mostAllocated(t traces.Trace, pool traces.Pool, n *simNode, i int, _ time.Duration) float64 {
	r := n.used.Add(t.Pods[i].Requests)
	return (float64(r.MilliCPU)/float64(pool.Capacity.MilliCPU) + float64(r.Memory)/float64(pool.Capacity.Memory)) / 2
}

func carveScorer(pl *BinPack) scorer {
	return func(t traces.Trace, pool traces.Pool, n *simNode, i int, _ time.Duration) float64 {
		p := t.Pods[i]
		return float64(score(stateOf(pool, n), toUsage(p.Requests), kindOfWorkload(p.Workload), pl.args.LifetimeWeight, &pl.sim))
	}
}

// TestSimulatedPacking compares BinPack with MostAllocated on the reference
// traces without an API server: a deterministic, second-long check of the
// score that the real replay (test/bench/packing) measures end to end, and
// the tool the default weight was chosen with. The two agree to about 0.01
// on the same seed.
func TestSimulatedPacking(t *testing.T) {
	pl := newPlugin(defaultArgs())
	var sumCarve, sumMost float64
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		for _, gen := range []func(uint64) traces.Trace{traces.DayTrace, traces.StaticTrace} {
			tr := gen(seed).Quantize(time.Minute)
			most, carve := simulate(tr, mostAllocated), simulate(tr, carveScorer(pl))
			t.Logf("%s seed %d: node-hours / lower bound: carve %.3f, MostAllocated %.3f", tr.Name, seed, carve, most)
			if tr.Name == "static" {
				if carve > 1.04 {
					t.Errorf("static seed %d: carve %.3f, want <= 1.04", seed, carve)
				}
				continue
			}
			sumCarve += carve
			sumMost += most
		}
	}
	if sumCarve > sumMost {
		t.Errorf("day traces: carve averages %.3f x the lower bound, MostAllocated %.3f", sumCarve/5, sumMost/5)
	}
}
