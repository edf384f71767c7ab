package scheduler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// BenchmarkQuotaRelease measures admissions end to end: carve-scheduler
// holds CARVE_BENCH_PODS pods (default 5000) for quota (the Workspace caps
// pods at 1, which the warm-up pod holds), then the quota is raised so that
// all fit, and it reports how fast they are bound from that moment
// (released-pods/s over all, steady-released-pods/s over the middle 80%),
// and that none was bound before. The comparison, in the same run, is the
// stock kube-scheduler started on the same backlog of pending pods (its
// rate counts from its start, so its overall rate includes the informer
// sync: compare the steady rates). Run it with -benchtime 1x.
func BenchmarkQuotaRelease(b *testing.B) {
	nodes, pods := envInt(b, "CARVE_BENCH_NODES", defaultNodes), envInt(b, "CARVE_BENCH_PODS", defaultPods)
	ctx := context.Background()
	all := cases()
	held := all[1]
	held.name = "carve-held"
	held.workspace = ut.MakeWorkspace(workspaceName, "small").Quota("", "", "", 1).Obj()
	for b.Loop() {
		total, steady, early, err := release(ctx, held, nodes, pods)
		if err != nil {
			b.Fatal(err)
		}
		if early > 0 {
			b.Errorf("%d pods were bound before the quota was raised", early)
		}
		stockTotal, stockSteady, err := backlog(ctx, all[0], nodes, pods)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "quota release: %d pods on %d nodes: carve %.0f pods/s (steady %.0f); stock on the same backlog %.0f pods/s (steady %.0f)\n",
			pods, nodes, total, steady, stockTotal, stockSteady)
		b.ReportMetric(total, "released-pods/s")
		b.ReportMetric(steady, "steady-released-pods/s")
		b.ReportMetric(stockSteady, "stock-steady-pods/s")
		b.ReportMetric(steady/stockSteady, "steady-ratio")
	}
}

// backlog creates the pods with no scheduler running, then starts sc's
// scheduler and times it until all are bound.
func backlog(ctx context.Context, sc schedulerCase, nodes, pods int) (total, steady float64, err error) {
	e, err := startEnv(ctx, sc.workspace, nodes)
	if err != nil {
		return 0, 0, err
	}
	defer func() { err = errors.Join(err, e.cluster.Stop()) }()
	w, err := watchBinds(ctx, e.client)
	if err != nil {
		return 0, 0, err
	}
	defer w.stop()
	if err := createPods(ctx, e, sc, pods); err != nil {
		return 0, 0, err
	}
	runtime.GC()
	w.setStart(time.Now())
	stop, err := startScheduler(ctx, sc, e.cluster.Dir, e.cluster.Kubeconfig)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	binds, err := w.wait(ctx, pods, bindTimeout)
	if err != nil {
		return 0, 0, err
	}
	return throughput(binds)
}

func createPods(ctx context.Context, e *env, sc schedulerCase, pods int) error {
	if err := parallel(ctx, pods, func(ctx context.Context, i int) error {
		p := pod(fmt.Sprintf("pod-%d", i), project(i%projects), sc.schedulerName)
		_, err := e.client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
		return err
	}); err != nil {
		return fmt.Errorf("creating pods: %w", err)
	}
	return nil
}

func release(ctx context.Context, sc schedulerCase, nodes, pods int) (total, steady float64, early int, err error) {
	e, err := startEnv(ctx, sc.workspace, nodes)
	if err != nil {
		return 0, 0, 0, err
	}
	defer func() { err = errors.Join(err, e.cluster.Stop()) }()
	stop, err := startScheduler(ctx, sc, e.cluster.Dir, e.cluster.Kubeconfig)
	if err != nil {
		return 0, 0, 0, err
	}
	defer stop()
	if err := warmUp(ctx, e.client, sc.schedulerName); err != nil {
		return 0, 0, 0, err
	}
	runtime.GC()
	w, err := watchBinds(ctx, e.client)
	if err != nil {
		return 0, 0, 0, err
	}
	defer w.stop()
	w.setStart(time.Now())
	if err := createPods(ctx, e, sc, pods); err != nil {
		return 0, 0, 0, err
	}
	// Every pod has reached PreEnqueue and is held; give the queue a moment.
	time.Sleep(5 * time.Second)
	w.mu.Lock()
	early = len(w.bound)
	w.mu.Unlock()

	dyn, err := dynamic.NewForConfig(e.cluster.Config)
	if err != nil {
		return 0, 0, 0, err
	}
	res := dyn.Resource(carvev1.GroupVersion.WithResource("workspaces"))
	u, err := res.Get(ctx, workspaceName, metav1.GetOptions{})
	if err != nil {
		return 0, 0, 0, err
	}
	if err := unstructured.SetNestedField(u.Object, int64(pods+1), "spec", "quota", "pods"); err != nil {
		return 0, 0, 0, err
	}
	w.setStart(time.Now())
	if _, err := res.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		return 0, 0, 0, fmt.Errorf("raising the quota: %w", err)
	}
	binds, err := w.wait(ctx, pods, bindTimeout)
	if err != nil {
		return 0, 0, early, err
	}
	total, steady, err = throughput(binds)
	return total, steady, early, err
}
