package scheduler_test

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	fwk "k8s.io/kube-scheduler/framework"

	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// failPreBindOnce fails the first binding cycle of pods annotated
// annotationFailPreBindOnce, as a volume that is not ready yet would, once
// the test closes releasePreBind. A failed binding cycle makes kube-scheduler
// raise AssignedPodDelete for a pod that still exists.
type failPreBindOnce struct {
	mu     sync.Mutex
	failed map[types.UID]bool
}

// releasePreBind lets the failing binding cycle fail.
var releasePreBind = make(chan struct{})

const (
	failPreBindOnceName       = "TestFailPreBindOnce"
	annotationFailPreBindOnce = "test.carve.dev/fail-prebind-once"
)

func newFailPreBindOnce(context.Context, runtime.Object, fwk.Handle) (fwk.Plugin, error) {
	return &failPreBindOnce{failed: map[types.UID]bool{}}, nil
}

func (*failPreBindOnce) Name() string { return failPreBindOnceName }

func (pl *failPreBindOnce) PreBindPreFlight(_ context.Context, _ fwk.CycleState, pod *corev1.Pod, _ string) (*fwk.PreBindPreFlightResult, *fwk.Status) {
	if pod.Annotations[annotationFailPreBindOnce] == "" {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	return &fwk.PreBindPreFlightResult{}, nil
}

func (pl *failPreBindOnce) PreBind(_ context.Context, _ fwk.CycleState, pod *corev1.Pod, _ string) *fwk.Status {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.failed[pod.UID] {
		return nil
	}
	pl.failed[pod.UID] = true
	select {
	case <-releasePreBind:
	case <-time.After(time.Minute):
	}
	return fwk.NewStatus(fwk.Error, "test: failing this pod's first binding cycle")
}

// TestFailedBindingKeepsQuota: a pod whose binding cycle fails keeps its
// quota; the pod held behind it neither takes the quota nor is ever marked
// Unschedulable, and the first pod binds on its retry.
func TestFailedBindingKeepsQuota(t *testing.T) {
	ws := ut.MakeWorkspace("wsbind", "small").Quota("", "", "", 1).Obj()
	pool := setup(t, ws, []string{"wsbind-alice"}, 1, "16", "64Gi")
	ns := "wsbind-alice"
	first := workspacePod("wsbind", ns, "first", pool, "1")
	first.Annotations = map[string]string{annotationFailPreBindOnce: "true"}
	create(t, first)
	// second is held behind first while first's binding cycle hangs; then
	// the cycle fails.
	create(t, workspacePod("wsbind", ns, "second", pool, "1"))
	waitWaiting(t, ns, "second", "waiting for workspace wsbind quota: needs pods 1, 1/1 in use; 1st in queue")
	close(releasePreBind)
	waitBound(t, ns, "first")
	held, err := getPod(t.Context(), ns, "second")
	if err != nil {
		t.Fatal(err)
	}
	if held.Spec.NodeName != "" {
		t.Fatalf("second bound to %s while first holds the quota", held.Spec.NodeName)
	}
	if c := condition(held, corev1.PodScheduled); c != nil {
		t.Errorf("the held pod has PodScheduled %s/%s: the autoscaler would buy a node for it", c.Status, c.Reason)
	}
	deletePod(t, ns, "first")
	waitBound(t, ns, "second")
}
