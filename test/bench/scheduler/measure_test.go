package scheduler

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// Time limits of one run, far above what a run needs on a loaded machine.
const (
	warmupTimeout = 2 * time.Minute
	bindTimeout   = 10 * time.Minute
)

// result is one measured run.
type result struct {
	pods int
	// elapsed is from the first create to the last bind seen.
	elapsed time.Duration
	// total is pods/s over elapsed; steady is pods/s over the middle 80%
	// of binds (see throughput).
	total, steady float64
	// created is from the first create to the last create's answer.
	created time.Duration
	// cpu is the CPU time of this process during elapsed: the scheduler
	// plus the load generator and the watch, which are the same in every
	// case.
	cpu time.Duration
	// batched is how many pods opportunistic batching placed on its hinted
	// node, skipping the full filter and score.
	batched int
}

func (r result) String() string {
	return fmt.Sprintf("%.1f pods/s, steady %.1f pods/s; created in %s, last bind after %s; %.0f µs CPU/pod; %d batched",
		r.total, r.steady, r.created.Round(time.Millisecond), r.elapsed.Round(time.Millisecond),
		float64(r.cpu.Microseconds())/float64(r.pods), r.batched)
}

// throughput returns the pods/s from the start to the last bind, and in
// steady state: over the middle 80% of binds, from the bind at the 10th
// percentile to the one at the 90th, leaving out the ramp-up and the tail.
// binds are the bind times as offsets from the start, in any order.
func throughput(binds []time.Duration) (total, steady float64, err error) {
	n := len(binds)
	if n < 10 {
		return 0, 0, fmt.Errorf("%d binds are too few to measure", n)
	}
	sorted := slices.Sorted(slices.Values(binds))
	lo, hi := n/10, n-1-n/10
	span := sorted[hi] - sorted[lo]
	if sorted[n-1] <= 0 || span <= 0 {
		return 0, 0, errors.New("binds span no time")
	}
	return float64(n) / sorted[n-1].Seconds(), float64(hi-lo) / span.Seconds(), nil
}

// measure runs one case on a fresh control plane: it creates the nodes,
// starts the scheduler, waits until it has bound a warm-up pod, then
// creates the pods as fast as the apiserver takes them and records when
// each is bound.
func measure(ctx context.Context, sc schedulerCase, nodes, pods int) (_ result, err error) {
	e, err := startEnv(ctx, sc.workspace, nodes)
	if err != nil {
		return result{}, err
	}
	defer func() { err = errors.Join(err, e.cluster.Stop()) }()
	if err := createHeld(ctx, e, sc); err != nil {
		return result{}, err
	}
	stop, err := startScheduler(ctx, sc, e.cluster.Dir, e.cluster.Kubeconfig)
	if err != nil {
		return result{}, err
	}
	defer stop()
	if err := warmUp(ctx, e.client, sc.schedulerName); err != nil {
		return result{}, fmt.Errorf("%s scheduler: %w", sc.name, err)
	}
	// Garbage of the previous run is not this run's cost.
	runtime.GC()

	w, err := watchBinds(ctx, e.client)
	if err != nil {
		return result{}, err
	}
	defer w.stop()
	cpu0, hinted0 := processCPU(), hintedPods(sc.schedulerName)
	start := time.Now()
	w.setStart(start)
	err = parallel(ctx, pods, func(ctx context.Context, i int) error {
		p := pod(fmt.Sprintf("pod-%d", i), project(i%projects), sc.schedulerName)
		_, err := e.client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return result{}, fmt.Errorf("creating pods: %w", err)
	}
	created := time.Since(start)
	binds, err := w.wait(ctx, pods, bindTimeout)
	cpu := processCPU() - cpu0
	if err != nil {
		return result{}, fmt.Errorf("%s scheduler: %w", sc.name, err)
	}
	batched := int(hintedPods(sc.schedulerName) - hinted0)
	waitBindingsDone(ctx)
	total, steady, err := throughput(binds)
	if err != nil {
		return result{}, err
	}
	return result{
		pods:    pods,
		elapsed: slices.Max(binds),
		total:   total,
		steady:  steady,
		created: created,
		cpu:     cpu,
		batched: batched,
	}, nil
}

// heldPods (CARVE_BENCH_HELD) pending pods sit in the cluster while the
// measured ones are scheduled: for carve's cases, pods of a second
// Workspace whose quota admits none, so WorkspaceQueue holds every one of
// them; for the stock cases, the same pods naming a scheduler that does not
// run, so they are pending and in the informers but never queued.
var heldPods int

func createHeld(ctx context.Context, e *env, sc schedulerCase) error {
	if heldPods == 0 {
		return nil
	}
	const heldWS, heldNS = "held", "held-p0"
	if err := createWorkspace(ctx, e.cluster.Config, ut.MakeWorkspace(heldWS, "small").Quota("", "", "", 0).Obj()); err != nil {
		return err
	}
	if _, err := e.client.CoreV1().Namespaces().Create(ctx, ut.MakeNamespace(heldNS, heldWS, ""), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating namespace %s: %w", heldNS, err)
	}
	name := sc.schedulerName
	if name != carvev1.SchedulerName {
		name = "not-running"
	}
	return parallel(ctx, heldPods, func(ctx context.Context, i int) error {
		p := pod(fmt.Sprintf("held-%d", i), heldNS, name)
		p.Labels[carvev1.LabelWorkspace] = heldWS
		delete(p.Labels, benchLabel)
		_, err := e.client.CoreV1().Pods(heldNS).Create(ctx, p, metav1.CreateOptions{})
		return err
	})
}

// warmUp creates one pod and waits until it is bound: the scheduler has
// synced its informers and each code path has run once.
func warmUp(ctx context.Context, client kubernetes.Interface, schedulerName string) error {
	p := pod("warm-up", project(0), schedulerName)
	delete(p.Labels, benchLabel)
	if _, err := client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the warm-up pod: %w", err)
	}
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, warmupTimeout, true, func(ctx context.Context) (bool, error) {
		got, err := client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = got
		return got.Spec.NodeName != "", nil
	})
	if err != nil {
		status := "never read"
		if last != nil {
			status = fmt.Sprintf("conditions %v", last.Status.Conditions)
		}
		return fmt.Errorf("waiting for the warm-up pod to be bound: %w (%s)", err, status)
	}
	return nil
}

// bindWatch records, for each measured pod, when a watch first showed it
// bound.
type bindWatch struct {
	w       watch.Interface
	mu      sync.Mutex
	start   time.Time
	bound   map[string]time.Duration
	changed chan struct{}
	done    chan struct{}
}

// watchBinds starts watching the measured pods; bind times are measured
// from the time given to setStart.
func watchBinds(ctx context.Context, client kubernetes.Interface) (*bindWatch, error) {
	selector := benchLabel + "=" + benchValue
	list, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	if len(list.Items) > 0 {
		return nil, fmt.Errorf("%d measured pods exist before the run", len(list.Items))
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return client.CoreV1().Pods(metav1.NamespaceAll).Watch(ctx, o)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watching pods: %w", err)
	}
	bw := &bindWatch{w: w, bound: map[string]time.Duration{}, changed: make(chan struct{}, 1), done: make(chan struct{})}
	go bw.run()
	return bw, nil
}

func (bw *bindWatch) setStart(t time.Time) {
	bw.mu.Lock()
	bw.start = t
	bw.mu.Unlock()
}

func (bw *bindWatch) run() {
	defer close(bw.done)
	for ev := range bw.w.ResultChan() {
		now := time.Now()
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || p.Spec.NodeName == "" {
			continue
		}
		key := p.Namespace + "/" + p.Name
		bw.mu.Lock()
		if _, seen := bw.bound[key]; !seen {
			bw.bound[key] = now.Sub(bw.start)
		}
		bw.mu.Unlock()
		select {
		case bw.changed <- struct{}{}:
		default:
		}
	}
}

// wait returns the bind times once n pods are bound, or an error after
// timeout.
func (bw *bindWatch) wait(ctx context.Context, n int, timeout time.Duration) ([]time.Duration, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		bw.mu.Lock()
		got := len(bw.bound)
		bw.mu.Unlock()
		if got >= n {
			break
		}
		select {
		case <-bw.changed:
		case <-bw.done:
			return nil, fmt.Errorf("the pod watch ended with %d of %d pods bound", got, n)
		case <-deadline.C:
			return nil, fmt.Errorf("%d of %d pods bound after %s", got, n, timeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	bw.mu.Lock()
	defer bw.mu.Unlock()
	out := make([]time.Duration, 0, len(bw.bound))
	for _, d := range bw.bound {
		out = append(out, d)
	}
	return out, nil
}

func (bw *bindWatch) stop() {
	bw.w.Stop()
	<-bw.done
}
