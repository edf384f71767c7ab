package packing

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	configv1 "github.com/carve-dev/carve/pkg/apis/config/v1"
	"github.com/carve-dev/carve/pkg/consolidation"
	"github.com/carve-dev/carve/test/traces"
)

// Consolidation runs carve-controller's planner (consolidation.PlanPool) in
// the replay's virtual time, as carve-controller runs it in real time: after
// each step's pods are bound and counted, each pool is planned and the plan
// carried out through the API — retired nodes get the PreferNoSchedule
// draining taint the scheduler under test must honour, model replicas to
// move are deleted and created again (as their ReplicaSet would) for the
// scheduler to place, and a draining node a pod was bound to is taken back.
// Before a step's arrivals are created, the planner sees them as pods
// waiting for room, so that it takes back the draining nodes they need
// before the replay offers empty ones.
type Consolidation struct {
	// Budget is the most nodes of a pool draining at once.
	Budget int
	// ArrivalWindow: a pool keeps free the requests of the pods that
	// arrived in it during this window of virtual time.
	ArrivalWindow time.Duration
}

// ConsolidationStats are what the consolidation did in a replay.
type ConsolidationStats struct {
	// Retired and Unretired count retirements and nodes taken back.
	Retired, Unretired int
	// Moved counts model replicas moved; MovedUnschedulable those the
	// scheduler then found no room for (the planner said they had room),
	// each given a node of its own.
	Moved, MovedUnschedulable int
	// ScaleUps counts arriving pods that found no room while a draining
	// node of their pool had it: nodes retiring made the replay add.
	ScaleUps int
}

// epoch anchors virtual time for the planner.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// planInput describes a pool at virtual time now, with the pods in pending
// (trace indices) waiting for room.
func (s *replay) planInput(pool traces.Pool, now time.Duration, pending []int) consolidation.Pool {
	c := s.Consolidation
	toRes := func(r traces.Resources) consolidation.Resources {
		return consolidation.Resources{MilliCPU: r.MilliCPU, Memory: r.Memory, GPU: r.GPU}
	}
	in := consolidation.Pool{Budget: c.Budget}
	onNode := map[string][]int{}
	for i, n := range s.podNode {
		onNode[n] = append(onNode[n], i)
	}
	var names []string
	for name, n := range s.nodes {
		if n.pool.Name == pool.Name && n.pods > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		n := consolidation.Node{Name: name, Allocatable: toRes(pool.Capacity), Draining: s.nodes[name].draining}
		idx := onNode[name]
		slices.Sort(idx)
		for _, i := range idx {
			p := s.t.Pods[i]
			pod := consolidation.Pod{
				Name:     strconv.Itoa(i),
				Requests: toRes(p.Requests),
				Ends:     consolidation.ExpectedEnd(epoch.Add(s.started[i]), configv1.DefaultLifetimes[string(p.Workload)], epoch.Add(now)),
			}
			if p.Workload == carvev1.WorkloadModel {
				pod.Disruption = consolidation.Movable
			}
			n.Pods = append(n.Pods, pod)
		}
		in.Nodes = append(in.Nodes, n)
	}
	for _, i := range pending {
		if p := s.t.Pods[i]; p.Pool == pool.Name {
			in.Pending = append(in.Pending, consolidation.Pod{Name: strconv.Itoa(i), Requests: toRes(p.Requests)})
		}
	}
	for _, p := range s.t.Pods {
		if p.Pool == pool.Name && p.Arrive <= now && p.Arrive > now-c.ArrivalWindow {
			in.Headroom = in.Headroom.Add(toRes(p.Requests))
		}
	}
	return in
}

// takeBack un-retires the draining nodes the planner needs for the step's
// arrivals, before they are created.
func (s *replay) takeBack(ctx context.Context, now time.Duration, arrivals []int) error {
	// A draining node that emptied is released; if the replay offers it
	// again, it is a node like any other.
	for _, n := range s.nodes {
		if n.draining && n.pods == 0 {
			if err := s.setDraining(ctx, n.name, false); err != nil { // released, not taken back
				return err
			}
		}
	}
	for _, pool := range traces.Pools {
		plan := consolidation.PlanPool(s.planInput(pool, now, arrivals), epoch.Add(now))
		for _, u := range plan.Unretire {
			if err := s.unretire(ctx, u.Node); err != nil {
				return err
			}
		}
	}
	return s.waitNodes(ctx)
}

// consolidate takes back draining nodes pods were bound to, then plans each
// pool and carries the plan out.
func (s *replay) consolidate(ctx context.Context, now time.Duration, arrived []int) error {
	for _, i := range arrived {
		if n := s.nodes[s.podNode[i]]; n.draining {
			if err := s.unretire(ctx, n.name); err != nil {
				return err
			}
		}
	}
	var moves []int
	for _, pool := range traces.Pools {
		plan := consolidation.PlanPool(s.planInput(pool, now, nil), epoch.Add(now))
		for _, u := range plan.Unretire {
			if err := s.unretire(ctx, u.Node); err != nil {
				return err
			}
		}
		for _, r := range plan.Retire {
			if err := s.setDraining(ctx, r.Node, true); err != nil {
				return err
			}
			s.res.Consolidation.Retired++
		}
		for _, m := range plan.Move {
			i, _ := strconv.Atoi(m.Pod)
			moves = append(moves, i)
		}
	}
	if err := s.waitNodes(ctx); err != nil {
		return err
	}
	if len(moves) == 0 {
		return nil
	}
	// Move: delete each replica, then create it again for the scheduler.
	if err := s.depart(ctx, moves); err != nil {
		return err
	}
	s.res.Pods -= len(moves) // arrive counts them again
	before := s.res.Unschedulable
	if err := s.arrive(ctx, moves); err != nil {
		return fmt.Errorf("moving model replicas: %w", err)
	}
	s.res.Consolidation.Moved += len(moves)
	s.res.Consolidation.MovedUnschedulable += s.res.Unschedulable - before
	s.res.Unschedulable = before
	return nil
}

// unretire takes a draining node back, counting it.
func (s *replay) unretire(ctx context.Context, name string) error {
	if n := s.nodes[name]; n == nil || !n.draining {
		return nil
	}
	s.res.Consolidation.Unretired++
	return s.setDraining(ctx, name, false)
}

// setDraining taints or untaints a node and waits for nothing: waitNodes
// does.
func (s *replay) setDraining(ctx context.Context, name string, on bool) error {
	n := s.nodes[name]
	if n == nil || n.draining == on {
		return nil
	}
	node, err := s.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading node %s: %w", name, err)
	}
	node.Spec.Taints = slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.Key == carvev1.TaintDraining })
	if on {
		node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: carvev1.TaintDraining, Effect: corev1.TaintEffectPreferNoSchedule})
	}
	if _, err := s.Client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating the draining taint of node %s: %w", name, err)
	}
	n.draining = on
	return nil
}

// nodeTaints is how many taints a node of the replay should carry.
func nodeTaints(n *nodeState) int {
	t := len(poolTaints(n.pool))
	if n.draining {
		t++
	}
	return t
}

// drainingRoom reports whether a draining node of the pod's pool has room
// for it: a pod that then finds no room anywhere is a scale-up retiring
// caused.
func (s *replay) drainingRoom(i int) bool {
	p := s.t.Pods[i]
	used := map[string]traces.Resources{}
	for j, n := range s.podNode {
		used[n] = used[n].Add(s.t.Pods[j].Requests)
	}
	for name, n := range s.nodes {
		if n.draining && n.pool.Name == p.Pool && used[name].Add(p.Requests).Fits(n.pool.Capacity) {
			return true
		}
	}
	return false
}
