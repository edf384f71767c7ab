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
	w.noEstimates = true
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
	if c == nil || c.Status != corev1.ConditionFalse || c.Message != "waiting for workspace ml quota: needs cpu 1, 1/1 in use; 1st in queue" {
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

// TestStatusWriterQuotaChangeAtOnce: when an admin changes the quota a pod
// waits for, its message says so at the next flush, not an interval later;
// a change of the amount in use alone waits for the interval.
func TestStatusWriterQuotaChangeAtOnce(t *testing.T) {
	ctx, logger := t.Context(), klog.Background()
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("2", "", "", -1).Obj())
	a, b, held := pod("a", "alice", "", 0, "1"), pod("b", "alice", "", 1, "1"), pod("held", "alice", "", 2, "2")
	client := fake.NewClientset(a, b, held)
	w := newStatusWriter(client, events.NewFakeRecorder(10), tr, &config.WorkspaceQueueArgs{
		StatusUpdatesPerSecond: 100, StatusUpdateInterval: metav1.Duration{Duration: time.Minute}})
	now := t0
	w.now = func() time.Time { return now }
	w.noEstimates = true
	for _, p := range []*corev1.Pod{a, b, held} {
		tr.enqueue(p)
	}
	message := func() string {
		p, err := client.CoreV1().Pods("alice").Get(ctx, "held", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == carvev1.PodConditionAdmitted {
				return c.Message
			}
		}
		return ""
	}
	w.changed("ml")
	w.flush(ctx, logger)
	if got, want := message(), "waiting for workspace ml quota: needs cpu 2, 2/2 in use; 1st in queue"; got != want {
		t.Fatalf("first message %q, want %q", got, want)
	}

	// Less in use, within the interval: the message waits.
	now = now.Add(time.Second)
	tr.forget(a)
	w.changed("ml")
	w.flush(ctx, logger)
	if got, want := message(), "waiting for workspace ml quota: needs cpu 2, 2/2 in use; 1st in queue"; got != want {
		t.Errorf("message %q a second after a pod ended, want the old one %q until the interval passes", got, want)
	}

	// The cap raised, still within the interval: written at once.
	now = now.Add(time.Second)
	tr.setWorkspace(ut.MakeWorkspace("ml", "small").Quota("2500m", "", "", -1).Obj())
	w.changed("ml")
	w.flush(ctx, logger)
	if got, want := message(), "waiting for workspace ml quota: needs cpu 2, 1/2500m in use; 1st in queue"; got != want {
		t.Errorf("message %q right after the quota was raised, want %q", got, want)
	}
}

// TestStatusWriterEstimate: a waiting pod's message says when it is
// expected to start: here when the running job, which has run 20 of the
// 30 minutes a job is expected to take, ends.
func TestStatusWriterEstimate(t *testing.T) {
	ctx, logger := t.Context(), klog.Background()
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("1", "", "", -1).Obj())
	run := bound(ut.MakePod("run", "alice").UID("uid-run").Workspace("ml", "").Workload(carvev1.WorkloadJob).
		Created(t0.Add(-20*time.Minute)).Container("main", "1", "1Gi").Obj(), "node-1")
	run.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-20 * time.Minute))}}
	held := pod("held", "alice", "", 1, "1")
	client := fake.NewClientset(run, held)
	w := newStatusWriter(client, events.NewFakeRecorder(10), tr, &config.WorkspaceQueueArgs{
		StatusUpdatesPerSecond: 100, StatusUpdateInterval: metav1.Duration{Duration: time.Minute}})
	w.now = func() time.Time { return t0 }
	tr.observe(run)
	tr.enqueue(held)
	w.changed("ml")
	w.flush(ctx, logger)
	p, err := client.CoreV1().Pods("alice").Get(ctx, "held", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// t0 is 09:00; the job ends at 09:10.
	want := "waiting for workspace ml quota: needs cpu 1, 1/1 in use; 1st in queue; expected to start around 2026-11-29 09:10 UTC"
	if c := admittedCondition(p); c == nil || c.Message != want {
		t.Errorf("condition %+v, want message %q", c, want)
	}
	if got := withEstimate("m", t0.Add(-time.Minute), t0); got != "m; expected to start within minutes" {
		t.Errorf("an estimate in the past: %q", got)
	}
	if got := withEstimate("m", t0.Add(11*time.Minute), t0); got != "m; expected to start around 2026-11-29 09:15 UTC" {
		t.Errorf("an estimate 11 minutes ahead: %q", got)
	}
}
