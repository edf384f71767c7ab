package binpack

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	configv1 "github.com/carve-dev/carve/pkg/apis/config/v1"
	"github.com/carve-dev/carve/pkg/consolidation"
	"github.com/carve-dev/carve/test/traces"
)

// consolidationSim is the packing simulation with carve's consolidation
// planner run after every step, as carve-controller runs it: nodes it
// retires take workspace pods only when no other node has room (BinPack's
// draining band), and a draining node that takes one is un-retired.
type consolidationSim struct {
	// budget is the most nodes per pool draining at once.
	budget int
	// headroomWindow: the pool keeps free the requests of the pods that
	// arrived in it during this window.
	headroomWindow time.Duration
	// every is how often the planner runs.
	every time.Duration
	// oracle: the planner knows each pod's real end.
	oracle bool
}

// consolidationStats are what a consolidated simulation measured.
type consolidationStats struct {
	ratio float64
	// moved is the number of pods evicted and placed again.
	moved int
	// scaleUps counts nodes opened while a draining node of the pool had
	// room for the pod.
	scaleUps int
	// retired counts retirements, unretired un-retirements.
	retired, unretired int
}

type cnode struct {
	simNode
	name     string
	draining bool
}

func simulateConsolidated(t traces.Trace, s scorer, c consolidationSim) consolidationStats {
	var st consolidationStats
	total, bound := 0.0, 0.0
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, pool := range traces.Pools {
		var nodes []*cnode
		where := map[int]*cnode{}
		hours := 0.0
		steps := t.Steps()
		seq := 0
		var lastPlan time.Duration = -time.Hour
		// place puts pod i where BinPack would: the best undrained node,
		// or an empty one where that scores higher; when no undrained node
		// has room, the best draining node that has (un-retiring it) before
		// a new node.
		place := func(i int, now time.Duration, move bool) {
			p := t.Pods[i]
			var best, drain *cnode
			bestScore, drainScore := math.Inf(-1), math.Inf(-1)
			for _, n := range nodes {
				if len(n.pods) == 0 || !n.used.Add(p.Requests).Fits(pool.Capacity) {
					continue
				}
				sc := s(t, pool, &n.simNode, i, now)
				switch {
				case n.draining && sc > drainScore:
					drain, drainScore = n, sc
				case !n.draining && sc > bestScore:
					best, bestScore = n, sc
				}
			}
			if best == nil && drain != nil {
				best, bestScore = drain, math.Inf(1)
				best.draining = false
				st.unretired++
			}
			if best == nil || (!move && s(t, pool, &simNode{pods: map[int]bool{}}, i, now) > bestScore) {
				if drain != nil && best != drain {
					st.scaleUps++
				}
				best = nil
				for _, n := range nodes {
					if len(n.pods) == 0 {
						best = n
						break
					}
				}
				if best == nil {
					seq++
					best = &cnode{simNode: simNode{pods: map[int]bool{}}, name: fmt.Sprintf("n%04d", seq)}
					nodes = append(nodes, best)
				}
			}
			best.used = best.used.Add(p.Requests)
			best.pods[i] = true
			best.mix[kindOfWorkload(p.Workload)] += share(pool, p.Requests)
			where[i] = best
		}
		remove := func(i int) {
			n := where[i]
			p := t.Pods[i]
			n.used = n.used.Sub(p.Requests)
			delete(n.pods, i)
			n.mix[kindOfWorkload(p.Workload)] -= share(pool, p.Requests)
			delete(where, i)
			if len(n.pods) == 0 {
				n.draining = false // removed; a reused empty node is a new one
			}
		}
		for si, step := range steps {
			for _, i := range step.Depart {
				if _, ok := where[i]; ok {
					remove(i)
				}
			}
			for _, i := range step.Arrive {
				if t.Pods[i].Pool == pool.Name {
					place(i, step.At, false)
				}
			}
			if step.At-lastPlan >= c.every {
				lastPlan = step.At
				plan := consolidation.PlanPool(c.pool(t, pool, nodes, step.At, start), start.Add(step.At))
				byName := map[string]*cnode{}
				for _, n := range nodes {
					byName[n.name] = n
				}
				for _, u := range plan.Unretire {
					byName[u.Node].draining = false
					st.unretired++
				}
				for _, r := range plan.Retire {
					byName[r.Node].draining = true
					st.retired++
				}
				for _, m := range plan.Move {
					var i int
					fmt.Sscanf(m.Pod, "%d", &i)
					remove(i)
					place(i, step.At, true)
					st.moved++
				}
			}
			hours += stepHours(t, steps, si, nodes, func(n *cnode) bool { return len(n.pods) > 0 })
		}
		total += hours
		bound += t.LowerBound(pool)
	}
	st.ratio = total / bound
	return st
}

// pool describes the simulation's pool to the planner as carve-controller
// would: sessions and jobs stay, model replicas move, each pod expected to
// end its kind's default lifetime after it started.
func (c consolidationSim) pool(t traces.Trace, pool traces.Pool, nodes []*cnode, now time.Duration, start time.Time) consolidation.Pool {
	alloc := consolidation.Resources{MilliCPU: pool.Capacity.MilliCPU, Memory: pool.Capacity.Memory, GPU: pool.Capacity.GPU}
	p := consolidation.Pool{Budget: c.budget, Keep: 0}
	for _, n := range nodes {
		if len(n.pods) == 0 {
			continue
		}
		cn := consolidation.Node{Name: n.name, Allocatable: alloc, Draining: n.draining}
		for _, i := range slices.Sorted(maps.Keys(n.pods)) {
			tp := t.Pods[i]
			pod := consolidation.Pod{
				Name:     fmt.Sprint(i),
				Requests: consolidation.Resources{MilliCPU: tp.Requests.MilliCPU, Memory: tp.Requests.Memory, GPU: tp.Requests.GPU},
				Ends:     consolidation.ExpectedEnd(start.Add(tp.Arrive), configv1.DefaultLifetimes[string(tp.Workload)], start.Add(now)),
			}
			if c.oracle {
				pod.Ends = start.Add(tp.Depart)
			}
			if tp.Workload == carvev1.WorkloadModel {
				pod.Disruption = consolidation.Movable
			}
			cn.Pods = append(cn.Pods, pod)
		}
		p.Nodes = append(p.Nodes, cn)
	}
	for _, tp := range t.Pods {
		if tp.Pool == pool.Name && tp.Arrive <= now && tp.Arrive > now-c.headroomWindow {
			p.Headroom = p.Headroom.Add(consolidation.Resources{MilliCPU: tp.Requests.MilliCPU, Memory: tp.Requests.Memory, GPU: tp.Requests.GPU})
		}
	}
	return p
}

// TestSimulatedConsolidation runs the day traces through BinPack with and
// without the consolidation planner, in memory: the planner must save
// node-hours on every seed without ever opening a node while a draining one
// had room. With the planner told each pod's real end (oracle), it shows
// how much of the rest better estimates could win.
func TestSimulatedConsolidation(t *testing.T) {
	pl := newPlugin(defaultArgs())
	configs := []struct {
		name string
		sim  consolidationSim
		gate bool
	}{
		{"budget 1", consolidationSim{budget: 1, headroomWindow: 10 * time.Minute, every: time.Minute}, true},
		{"budget 3", consolidationSim{budget: 3, headroomWindow: 10 * time.Minute, every: time.Minute}, false},
		{"budget 1, oracle", consolidationSim{budget: 1, headroomWindow: 10 * time.Minute, every: time.Minute, oracle: true}, false},
		{"budget 3, oracle", consolidationSim{budget: 3, headroomWindow: 10 * time.Minute, every: time.Minute, oracle: true}, false},
	}
	for _, seed := range []uint64{1, 2, 3} {
		tr := traces.DayTrace(seed).Quantize(time.Minute)
		without, most := simulate(tr, carveScorer(pl)), simulate(tr, mostAllocated)
		t.Logf("seed %d: node-hours / lower bound: MostAllocated %.3f, carve without consolidation %.3f", seed, most, without)
		for _, c := range configs {
			st := simulateConsolidated(tr, carveScorer(pl), c.sim)
			t.Logf("seed %d, %s: %.3f with consolidation (moved %d, retired %d, unretired %d, scale-ups %d)",
				seed, c.name, st.ratio, st.moved, st.retired, st.unretired, st.scaleUps)
			if st.scaleUps != 0 {
				t.Errorf("seed %d, %s: %d nodes opened while a draining node had room", seed, c.name, st.scaleUps)
			}
			if c.gate && st.ratio >= without {
				t.Errorf("seed %d, %s: consolidation %.3f, not below %.3f without it", seed, c.name, st.ratio, without)
			}
		}
	}
}
