package workspacequeue

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/apis/config"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// testPlugin is the plugin without its informers and API writes: what
// PreEnqueue and the hints decide, nothing else.
func testPlugin(ws *carvev1.Workspace) *WorkspaceQueue {
	tr := newTestTracker(ws)
	args := &config.WorkspaceQueueArgs{StatusUpdatesPerSecond: 1, StatusUpdateInterval: metav1.Duration{Duration: time.Second}}
	return &WorkspaceQueue{tracker: tr, status: newStatusWriter(fake.NewClientset(), nil, tr, args)}
}

func TestPreEnqueue(t *testing.T) {
	pl := testPlugin(ut.MakeWorkspace("ml", "small").Quota("1", "", "", -1).Obj())
	ctx := t.Context()
	if s := pl.PreEnqueue(ctx, ut.MakePod("plain", "default").Container("c", "64", "1Gi").Obj()); !s.IsSuccess() {
		t.Errorf("a pod without the workspace label was held: %v", s)
	}
	if s := pl.PreEnqueue(ctx, pod("a", "alice", "", 0, "1")); !s.IsSuccess() {
		t.Errorf("first pod held: %v", s)
	}
	s := pl.PreEnqueue(ctx, pod("b", "alice", "", 1, "1"))
	if s.Code() != fwk.UnschedulableAndUnresolvable {
		t.Fatalf("second pod: %v, want UnschedulableAndUnresolvable", s)
	}
	if got, want := s.Message(), "waiting for workspace ml quota: needs cpu 1, 1/1 in use"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

func TestHintsQueueOnlyAdmittedPods(t *testing.T) {
	pl := testPlugin(ut.MakeWorkspace("ml", "small").Quota("1", "", "", -1).Policy(carvev1.QueueingFIFO).Obj())
	ctx := t.Context()
	run, first, second := pod("run", "alice", "", 0, "1"), pod("first", "alice", "", 1, "1"), pod("second", "alice", "", 2, "1")
	for _, p := range []*corev1.Pod{run, first, second} {
		pl.PreEnqueue(ctx, p)
	}
	// The plugin's informer sees the deletion; then the scheduler asks
	// every held pod's hint about its own event for it.
	pl.tracker.forget(run)
	for _, p := range []*corev1.Pod{second, first} {
		h, err := pl.hintAdmitted(klog.Background(), p, bound(run, "n1"), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := fwk.QueueSkip
		if p == first {
			want = fwk.Queue
		}
		if h != want {
			t.Errorf("hint for %s: %v, want %v", p.Name, h, want)
		}
	}
}

// kube-scheduler raises AssignedPodDelete for pods that still exist (a
// failed binding cycle, a changed nominated node). The hint must not free
// the live pod's quota, or a waiting pod takes it and the first pod runs
// uncounted or fails Reserve.
func TestHintsNeverFreeQuota(t *testing.T) {
	ws := ut.MakeWorkspace("ml", "small").Quota("1", "", "", -1)
	pl := testPlugin(ws.Obj())
	pl.handle = &activations{}
	ctx := t.Context()
	live, held := pod("live", "alice", "", 0, "1"), pod("held", "alice", "", 1, "1")
	pl.PreEnqueue(ctx, live)
	pl.PreEnqueue(ctx, held)
	if h, _ := pl.hintAdmitted(klog.Background(), held, bound(live, "n1"), nil); h != fwk.QueueSkip {
		t.Errorf("hint for the held pod after a spurious deletion of the live one: %v, want QueueSkip", h)
	}
	// Nor may an old Workspace from kube-scheduler's informer change quota.
	raised := ut.MakeWorkspace("ml", "small").Quota("2", "", "", -1).Obj()
	raised.APIVersion, raised.Kind = carvev1.GroupVersion.String(), "Workspace"
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(raised)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := pl.hintAdmitted(klog.Background(), held, nil, &unstructured.Unstructured{Object: obj}); h != fwk.QueueSkip {
		t.Errorf("hint for the held pod after a Workspace event the informer has not applied: %v, want QueueSkip", h)
	}
	if !pl.tracker.isAdmitted(live.UID) || pl.tracker.isAdmitted(held.UID) {
		t.Error("a hint changed the accounting: the live pod must keep its quota and the held pod wait")
	}
	if s := pl.Reserve(ctx, nil, live, "n1"); !s.IsSuccess() {
		t.Errorf("Reserve of the live pod after the spurious deletion: %v", s)
	}
}

func TestHintWorkspaceRaise(t *testing.T) {
	ws := ut.MakeWorkspace("ml", "small").Quota("1", "", "", -1)
	pl := testPlugin(ws.Obj())
	ctx := t.Context()
	a, b, c := pod("a", "alice", "", 0, "1"), pod("b", "alice", "", 1, "1"), pod("c", "alice", "", 2, "1")
	for _, p := range []*corev1.Pod{a, b, c} {
		pl.PreEnqueue(ctx, p)
	}
	pl.tracker.setWorkspace(ws.Quota("2", "", "", -1).Obj())
	for _, p := range []*corev1.Pod{c, b} {
		h, err := pl.hintAdmitted(klog.Background(), p, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]fwk.QueueingHint{"b": fwk.Queue, "c": fwk.QueueSkip}[p.Name]; h != want {
			t.Errorf("hint for %s after raising cpu to 2: %v, want %v", p.Name, h, want)
		}
	}
}

// activations is a Handle whose Activate does nothing: the hints, not the
// wake-up, are under test.
type activations struct {
	fwk.Handle
}

func (a *activations) Activate(klog.Logger, map[string]*corev1.Pod) {}
