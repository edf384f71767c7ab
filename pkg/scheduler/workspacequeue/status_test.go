package workspacequeue

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/apis/config"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func TestStatusWriter(t *testing.T) {
	ctx, logger := t.Context(), klog.Background()
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("1", "", "", -1).Obj())
	run, held := pod("run", "alice", "", 0, "1"), pod("held", "alice", "", 1, "1")
	client := fake.NewClientset(run, held)
	rec := events.NewFakeRecorder(10)
	w := newStatusWriter(client, rec, tr, &config.WorkspaceQueueArgs{
		StatusUpdatesPerSecond: 100, StatusUpdateInterval: metav1.Duration{Duration: time.Minute}})
	w.now = func() time.Time { return t0 }
	tr.enqueue(run)
	tr.enqueue(held)

	condition := func() *corev1.PodCondition {
		p, err := client.CoreV1().Pods("alice").Get(ctx, "held", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == carvev1.PodConditionAdmitted {
				return &p.Status.Conditions[i]
			}
		}
		return nil
	}
	patches := func() int {
		n := 0
		for _, a := range client.Actions() {
			if a.GetVerb() == "patch" {
				n++
			}
		}
		return n
	}

	w.changed("ml")
	w.flush(ctx, logger)
	c := condition()
	if c == nil || c.Status != corev1.ConditionFalse || c.Message != "waiting for workspace ml quota: cpu 1/1 in use; 1st in queue" {
		t.Fatalf("held pod's condition after the first flush: %+v", c)
	}
	if got := len(rec.Events); got != 1 {
		t.Errorf("%d events after the first flush, want 1", got)
	}
	// Nothing changed: nothing is written again.
	w.changed("ml")
	w.flush(ctx, logger)
	if got := patches(); got != 1 {
		t.Errorf("%d status patches after an unchanged flush, want 1", got)
	}

	tr.forget(run)
	w.changed("ml")
	w.flush(ctx, logger)
	if c := condition(); c == nil || c.Status != corev1.ConditionTrue || c.Reason != carvev1.ReasonAdmitted {
		t.Errorf("held pod's condition once admitted: %+v", c)
	}
	if len(w.written) != 0 {
		t.Errorf("the writer still remembers %d pods after admission", len(w.written))
	}

}
