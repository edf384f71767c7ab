package packing

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/carve-dev/carve/test/traces"
)

// Replayer replays traces through whatever scheduler serves the pods'
// schedulerName in the cluster behind Client.
//
// Each step of a trace, in virtual time: its departing pods are deleted;
// every pool that has arrivals is given exactly NodesFor(their demand) +
// Headroom empty nodes (empty nodes beyond that are deleted, missing ones
// created); the arriving pods are created in trace order; the replay waits
// until the scheduler has bound each of them. A pod the scheduler finds no
// room for (PodScheduled=False, Unschedulable) gets an empty node of its own
// added, as an autoscaler would. Then the step's nodes in use — those holding
// at least one pod — are counted; they stay in use until the next step.
// Empty nodes count as released.
//
// The cluster needs no kubelet, kwok or kube-controller-manager; a
// not-ready taint that the apiserver's admission adds to new Nodes is
// removed.
type Replayer struct {
	Client kubernetes.Interface
	// Headroom is how many empty nodes beyond the lower bound of a step's
	// arrivals each pool offers the scheduler at that step.
	Headroom int
	// Healthy, if set, is checked while waiting for the scheduler; an error
	// ends the replay (e.g. the scheduler exited).
	Healthy func() error
	// Logf, if set, receives progress every few hundred steps.
	Logf func(format string, args ...any)
	// Consolidation, if set, runs carve's consolidation planner between
	// steps (see Consolidation).
	Consolidation *Consolidation
}

// waitTimeout bounds each wait for the cluster or the scheduler.
const waitTimeout = 2 * time.Minute

// Replay runs trace t through the scheduler named schedulerName. id names
// the replay: its namespace is packing-<id>, and its nodes <id>-<pool>-<n>.
// Everything the replay created is deleted before it returns.
func (r *Replayer) Replay(ctx context.Context, t traces.Trace, schedulerName, id string) (Result, error) {
	start := time.Now()
	if err := t.Validate(); err != nil {
		return Result{}, err
	}
	s := &replay{
		Replayer: r, t: t, id: id, ns: "packing-" + id, sched: schedulerName,
		nodes: map[string]*nodeState{}, podNode: map[int]string{}, started: map[int]time.Duration{},
		res: Result{Pools: map[string]PoolResult{}},
	}
	defer s.cleanup()
	if err := s.setup(ctx); err != nil {
		return Result{}, err
	}
	if err := s.run(ctx); err != nil {
		return Result{}, fmt.Errorf("replaying trace %s (seed %d) with %s: %w", t.Name, t.Seed, schedulerName, err)
	}
	s.res.Elapsed = time.Since(start)
	return s.res, nil
}

type nodeState struct {
	name string
	pool traces.Pool
	seq  int
	pods int
	// draining: the node carries the draining taint (Consolidation).
	draining bool
}

// replay is the state of one Replay.
type replay struct {
	*Replayer
	t             traces.Trace
	id, ns, sched string

	pods      corelisters.PodNamespaceLister
	nodeStore cache.Store
	stop      chan struct{}
	factories []informers.SharedInformerFactory

	nodes   map[string]*nodeState // nodes that exist, by name
	podNode map[int]string        // bound pods (trace index) and their node
	// now is the step's virtual time; started, when each bound pod was
	// bound (a moved replica starts again).
	now     time.Duration
	started map[int]time.Duration
	seq     int
	res     Result
}

func (s *replay) setup(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.ns}}
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating namespace %s: %w", s.ns, err)
	}
	// The ServiceAccount admission plugin refuses pods whose ServiceAccount
	// does not exist, and no controller manager makes it here.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: s.ns}}
	if _, err := s.Client.CoreV1().ServiceAccounts(s.ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating ServiceAccount %s/default: %w", s.ns, err)
	}
	s.stop = make(chan struct{})
	podFactory := informers.NewSharedInformerFactoryWithOptions(s.Client, 0, informers.WithNamespace(s.ns))
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(s.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = replayLabel + "=" + s.id }))
	s.factories = []informers.SharedInformerFactory{podFactory, nodeFactory}
	s.pods = podFactory.Core().V1().Pods().Lister().Pods(s.ns)
	s.nodeStore = nodeFactory.Core().V1().Nodes().Informer().GetStore()
	for _, f := range s.factories {
		f.Start(s.stop)
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return fmt.Errorf("syncing the %v informer", typ)
			}
		}
	}
	return nil
}

func (s *replay) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	now := metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}
	_ = s.Client.CoreV1().Pods(s.ns).DeleteCollection(ctx, now, metav1.ListOptions{})
	_ = s.Client.CoreV1().Nodes().DeleteCollection(ctx, now, metav1.ListOptions{LabelSelector: replayLabel + "=" + s.id})
	if s.stop != nil {
		close(s.stop)
		for _, f := range s.factories {
			f.Shutdown()
		}
	}
}

func (s *replay) run(ctx context.Context) error {
	steps := s.t.Steps()
	bounds := map[string][]traces.Bound{}
	for _, p := range traces.Pools {
		bounds[p.Name] = s.t.Bounds(p)
		pr := PoolResult{LowerBound: s.t.LowerBound(p)}
		for _, b := range bounds[p.Name] {
			pr.PeakBound = max(pr.PeakBound, b.Nodes)
		}
		s.res.Pools[p.Name] = pr
	}
	for k, step := range steps {
		s.now = step.At
		if err := s.depart(ctx, step.Depart); err != nil {
			return err
		}
		if s.Consolidation != nil {
			if err := s.takeBack(ctx, step.At, step.Arrive); err != nil {
				return err
			}
		}
		if err := s.offerNodes(ctx, step.Arrive); err != nil {
			return err
		}
		if err := s.arrive(ctx, step.Arrive); err != nil {
			return err
		}
		used := s.inUse()
		for _, p := range traces.Pools {
			b := bounds[p.Name][k]
			if used[p.Name] < b.Nodes {
				return fmt.Errorf("at %v: %d %s nodes in use, below the lower bound %d: the replay lost track of pods", step.At, used[p.Name], p.Name, b.Nodes)
			}
			pr := s.res.Pools[p.Name]
			pr.NodeHours += float64(used[p.Name]) * (b.To - b.From).Hours()
			pr.PeakNodes = max(pr.PeakNodes, used[p.Name])
			s.res.Pools[p.Name] = pr
		}
		s.res.Steps++
		if s.Consolidation != nil {
			if err := s.consolidate(ctx, step.At, step.Arrive); err != nil {
				return err
			}
		}
		if s.Logf != nil && (k%200 == 199 || k == len(steps)-1) {
			s.Logf("%s %s/%d: step %d/%d at %v: %d pods bound, nodes in use %v", s.sched, s.t.Name, s.t.Seed, k+1, len(steps), step.At, len(s.podNode), used)
		}
	}
	return nil
}

// depart deletes the departing pods and waits until they are gone from the
// informer, which sees the apiserver's events when the scheduler does.
func (s *replay) depart(ctx context.Context, idx []int) error {
	now := metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}
	for _, i := range idx {
		name := s.t.Pods[i].Name
		if err := s.Client.CoreV1().Pods(s.ns).Delete(ctx, name, now); err != nil {
			return fmt.Errorf("deleting pod %s: %w", name, err)
		}
		s.nodes[s.podNode[i]].pods--
		delete(s.podNode, i)
		delete(s.started, i)
	}
	return s.poll(ctx, "departed pods to disappear", func() (bool, string) {
		for _, i := range idx {
			if _, err := s.pods.Get(s.t.Pods[i].Name); err == nil {
				return false, "pod " + s.t.Pods[i].Name + " still listed"
			}
		}
		return true, ""
	})
}

// offerNodes leaves each pool that has arrivals in idx with exactly
// NodesFor(their demand) + Headroom empty nodes.
func (s *replay) offerNodes(ctx context.Context, idx []int) error {
	demand := map[string]traces.Resources{}
	for _, i := range idx {
		p := s.t.Pods[i]
		demand[p.Pool] = demand[p.Pool].Add(p.Requests)
	}
	for _, pool := range traces.Pools {
		d, ok := demand[pool.Name]
		if !ok {
			continue
		}
		want := int(traces.NodesFor(d, pool.Capacity)) + s.Headroom
		var empty []*nodeState
		for _, n := range s.nodes {
			if n.pool.Name == pool.Name && n.pods == 0 {
				empty = append(empty, n)
			}
		}
		// Release the newest, keep the oldest: any rule does, as long as
		// it does not depend on the scheduler under test.
		slices.SortFunc(empty, func(a, b *nodeState) int { return a.seq - b.seq })
		for _, n := range empty[min(want, len(empty)):] {
			if err := s.Client.CoreV1().Nodes().Delete(ctx, n.name, metav1.DeleteOptions{}); err != nil {
				return fmt.Errorf("deleting empty node %s: %w", n.name, err)
			}
			delete(s.nodes, n.name)
		}
		for range want - len(empty) {
			s.seq++
			if err := s.createNode(ctx, fmt.Sprintf("%s-%s-%05d", s.id, pool.Name, s.seq), pool, s.seq); err != nil {
				return err
			}
		}
	}
	return s.waitNodes(ctx)
}

func (s *replay) createNode(ctx context.Context, name string, pool traces.Pool, seq int) error {
	want := nodeObject(name, s.id, pool)
	n, err := s.Client.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating node %s: %w", name, err)
	}
	// kube-apiserver's TaintNodesByCondition admission taints new Nodes
	// not-ready until a node controller sees them Ready; there is none.
	if len(n.Spec.Taints) != len(want.Spec.Taints) {
		n.Spec.Taints = want.Spec.Taints
		if _, err := s.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("removing the taints admission added to node %s: %w", name, err)
		}
	}
	s.nodes[name] = &nodeState{name: name, pool: pool, seq: seq}
	s.res.NodesCreated++
	return nil
}

// waitNodes waits until the node informer shows exactly the nodes that
// exist, without taints other than their pool's.
func (s *replay) waitNodes(ctx context.Context) error {
	return s.poll(ctx, "nodes to be listed", func() (bool, string) {
		if got := len(s.nodeStore.ListKeys()); got != len(s.nodes) {
			return false, fmt.Sprintf("%d nodes listed, %d exist", got, len(s.nodes))
		}
		for name, n := range s.nodes {
			obj, ok, _ := s.nodeStore.GetByKey(name)
			if !ok {
				return false, "node " + name + " not listed"
			}
			if len(obj.(*corev1.Node).Spec.Taints) != nodeTaints(n) {
				return false, "node " + name + "'s taints not listed yet"
			}
		}
		return true, ""
	})
}

// arrive creates the arriving pods in trace order and waits until each is
// bound, giving nodes to those the scheduler finds no room for.
func (s *replay) arrive(ctx context.Context, idx []int) error {
	for _, i := range idx {
		pod := podObject(s.t.Pods[i], s.ns, s.id, s.sched)
		if _, err := s.Client.CoreV1().Pods(s.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating pod %s: %w", pod.Name, err)
		}
	}
	var stuck []int
	err := s.poll(ctx, "arriving pods to be bound or found unschedulable", func() (bool, string) {
		stuck = stuck[:0]
		for _, i := range idx {
			p, err := s.pods.Get(s.t.Pods[i].Name)
			switch {
			case err != nil:
				return false, "pod " + s.t.Pods[i].Name + " not listed yet"
			case p.Spec.NodeName != "":
			case unschedulable(p):
				stuck = append(stuck, i)
			default:
				return false, "pod " + p.Name + " pending"
			}
		}
		return true, ""
	})
	if err != nil {
		return err
	}
	if len(stuck) > 0 {
		// An empty node of its own for each: every pod fits one.
		for _, i := range stuck {
			if s.Consolidation != nil && s.drainingRoom(i) {
				s.res.Consolidation.ScaleUps++
			}
			pool, _ := traces.PoolNamed(s.t.Pods[i].Pool)
			s.seq++
			if err := s.createNode(ctx, fmt.Sprintf("%s-%s-%05d", s.id, pool.Name, s.seq), pool, s.seq); err != nil {
				return err
			}
		}
		s.res.Unschedulable += len(stuck)
		if err := s.waitNodes(ctx); err != nil {
			return err
		}
		err := s.poll(ctx, "unschedulable pods to be bound to added nodes", func() (bool, string) {
			for _, i := range stuck {
				if p, err := s.pods.Get(s.t.Pods[i].Name); err != nil || p.Spec.NodeName == "" {
					return false, "pod " + s.t.Pods[i].Name + " unbound"
				}
			}
			return true, ""
		})
		if err != nil {
			return err
		}
	}
	for _, i := range idx {
		p, err := s.pods.Get(s.t.Pods[i].Name)
		if err != nil {
			return fmt.Errorf("reading bound pod %s: %w", s.t.Pods[i].Name, err)
		}
		n, ok := s.nodes[p.Spec.NodeName]
		if !ok {
			n, err = s.revive(ctx, p.Spec.NodeName, s.t.Pods[i].Pool)
			if err != nil {
				return err
			}
		}
		n.pods++
		s.podNode[i] = n.name
		s.started[i] = s.now
		s.res.Pods++
	}
	return nil
}

// revive creates again a node the replay released but the scheduler bound a
// pod to before it saw the deletion.
func (s *replay) revive(ctx context.Context, name, poolName string) (*nodeState, error) {
	pool, _ := traces.PoolNamed(poolName)
	seq := 0
	if _, err := fmt.Sscanf(strings.TrimPrefix(name, s.id+"-"+pool.Name+"-"), "%d", &seq); err != nil {
		return nil, fmt.Errorf("pod bound to node %s, which this replay never made", name)
	}
	if err := s.createNode(ctx, name, pool, seq); err != nil {
		return nil, err
	}
	s.res.Revived++
	return s.nodes[name], s.waitNodes(ctx)
}

func unschedulable(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return true
		}
	}
	return false
}

// inUse counts, per pool, the nodes holding at least one pod.
func (s *replay) inUse() map[string]int64 {
	used := map[string]int64{}
	for _, n := range s.nodes {
		if n.pods > 0 {
			used[n.pool.Name]++
		}
	}
	return used
}

// poll waits until cond holds, checking often: the replay's speed is bounded
// by how soon it notices the scheduler's bindings.
func (s *replay) poll(ctx context.Context, what string, cond func() (bool, string)) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 2*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
		if s.Healthy != nil {
			if err := s.Healthy(); err != nil {
				return false, err
			}
		}
		ok, why := cond()
		last = why
		return ok, nil
	})
	if err != nil {
		if wait.Interrupted(err) {
			return fmt.Errorf("waiting for %s: %w (%s)", what, err, last)
		}
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}
