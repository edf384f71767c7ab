package consolidation_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider/server"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// TestRetireEmptiestNode: of three nodes whose work fits on two, the one
// whose session ends soonest is retired (and only it: the budget is one);
// its model replicas move as their PodDisruptionBudgets allow, the session
// keeps running and is told so, and the node can be removed once it ends.
func TestRetireEmptiestNode(t *testing.T) {
	ctx := t.Context()
	s := newScene(t, "ret", carvev1.NodePoolRoleCPU, 0, nil)
	a, b, c := "ret-a", "ret-b", "ret-c"
	s.addNode(t, a, false)
	s.session(t, "big", "5", 3*time.Hour, a)
	setCordon(t, a, true)
	s.addNode(t, b, false)
	s.session(t, "short", "1", 10*time.Minute, b)
	s.model(t, "serve", 2, 1)
	// pinned may never lose its one replica: its eviction is refused.
	s.model(t, "pinned", 1, 0)
	setCordon(t, b, true)
	s.addNode(t, c, false)
	s.session(t, "long", "1", 3*time.Hour, c)
	for _, n := range []string{a, b} {
		setCordon(t, n, false)
	}
	for _, app := range []string{"serve", "pinned"} {
		pods, err := s.podsOf(ctx, app)
		if err != nil || len(pods) == 0 || pods[0].Spec.NodeName != b {
			t.Fatalf("%s's replicas are not on %s: %v", app, b, err)
		}
	}

	s.consolidate(t, 1)
	waitFor(t, b+" draining", func(ctx context.Context) (bool, error) { return draining(ctx, b) })
	node, err := getNode(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if got := drainTaint(node); got.Effect != corev1.TaintEffectPreferNoSchedule {
		t.Errorf("draining taint %+v, want effect PreferNoSchedule", got)
	}
	if got := node.Annotations[carvev1.AnnotationRetiring]; got != "Underused" {
		t.Errorf("annotation %s = %q, want Underused", carvev1.AnnotationRetiring, got)
	}
	if e := waitEvent(t, "default", b, "Retiring"); !strings.Contains(e.Note, "fits on its other nodes") {
		t.Errorf("Retiring event says %q", e.Note)
	}

	// serve's two replicas move, one at a time as its budget allows, to
	// nodes that stay.
	waitFor(t, "serve's replicas moved off "+b, func(ctx context.Context) (bool, error) {
		pods, err := s.podsOf(ctx, "serve")
		if err != nil || len(pods) != 2 || !allRunning(pods) {
			return false, err
		}
		for _, p := range pods {
			if p.Spec.NodeName == b {
				return false, nil
			}
		}
		return true, nil
	})

	// The session stays, told that nothing will stop it.
	p, err := getPod(ctx, s.ns, "short")
	if err != nil {
		t.Fatal(err)
	}
	cond := retiringCondition(p)
	if cond == nil || cond.Status != corev1.ConditionTrue || cond.Reason != carvev1.ReasonNodeRetiring || !strings.Contains(cond.Message, "nothing will stop it") {
		t.Fatalf("session's %s condition: %+v", carvev1.PodConditionNodeRetiring, cond)
	}
	// The event is written in the round that retires the node, and names
	// why as the condition does.
	if e := waitEvent(t, s.ns, "short", carvev1.ReasonNodeRetiring); !strings.Contains(e.Note, "(Underused)") {
		t.Errorf("NodeRetiring event says %q, not why the node is retired", e.Note)
	}

	// For several rounds: the budget keeps a and c undrained, pinned's
	// budget keeps it on b, and the session runs.
	holds(t, "one node retires, pinned stays, the session runs", func(ctx context.Context) (bool, error) {
		for _, n := range []string{a, c} {
			if d, err := draining(ctx, n); err != nil || d {
				return false, err
			}
		}
		pinned, err := s.podsOf(ctx, "pinned")
		if err != nil || len(pinned) != 1 || pinned[0].Spec.NodeName != b {
			return false, err
		}
		p, err := getPod(ctx, s.ns, "short")
		return err == nil && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Spec.NodeName == b, err
	})
	var np carvev1.NodePool
	if err := cl.Get(ctx, client.ObjectKey{Name: s.pool}, &np); err != nil {
		t.Fatal(err)
	}
	if np.Status.DrainingNodes != 1 {
		t.Errorf("status.drainingNodes = %d, want 1", np.Status.DrainingNodes)
	}

	// carve-cloudprovider's guard refuses the node while the session runs.
	if err := server.CheckNodeRemovable(node, podsOn(t, b)); err == nil {
		t.Errorf("the guard would remove %s under a session", b)
	}
	// Once pinned's budget allows, it moves too; once the session ends,
	// nothing on the node must stay.
	patch := []byte(`{"spec":{"maxUnavailable":1}}`)
	if _, err := k8s.PolicyV1().PodDisruptionBudgets(s.ns).Patch(ctx, "pinned", "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pinned moved off "+b, func(ctx context.Context) (bool, error) {
		pods, err := s.podsOf(ctx, "pinned")
		return err == nil && len(pods) == 1 && allRunning(pods) && pods[0].Spec.NodeName != b, err
	})
	if err := cl.Delete(ctx, p, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b+" empty", func(ctx context.Context) (bool, error) { return len(podsOn(t, b)) == 0, nil })
	if err := server.CheckNodeRemovable(node, podsOn(t, b)); err != nil {
		t.Errorf("the guard refuses the emptied node: %v", err)
	}
}

// podsOn lists the pods bound to node that are not being deleted.
func podsOn(t *testing.T, node string) []corev1.Pod {
	t.Helper()
	var l corev1.PodList
	if err := cl.List(t.Context(), &l); err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.Spec.NodeName == node && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// TestUnretireInsteadOfScaleUp: a burst of sessions that only fits with the
// retiring node's room starts there at once — no pod ever waits for a new
// node — and the node is taken back.
func TestUnretireInsteadOfScaleUp(t *testing.T) {
	ctx := t.Context()
	s := newScene(t, "unr", carvev1.NodePoolRoleCPU, 0, nil)
	a, b := "unr-a", "unr-b"
	s.addNode(t, a, false)
	s.session(t, "big", "5", 3*time.Hour, a)
	setCordon(t, a, true)
	s.addNode(t, b, false)
	s.session(t, "short", "1", 10*time.Minute, b)
	setCordon(t, a, false)
	s.consolidate(t, 1)
	waitFor(t, b+" draining", func(ctx context.Context) (bool, error) { return draining(ctx, b) })
	waitFor(t, "the session on "+b+" told", func(ctx context.Context) (bool, error) {
		p, err := getPod(ctx, s.ns, "short")
		return err == nil && retiringCondition(p) != nil && retiringCondition(p).Status == corev1.ConditionTrue, err
	})

	// Three 2-CPU sessions: one fits beside big, two need b.
	for i := range 3 {
		p := ut.MakePod(fmt.Sprintf("burst-%d", i), s.ns).Profile(s.pool + "-2").Obj()
		p.Spec.Containers = []corev1.Container{{Name: "main", Image: "jupyter"}}
		if err := cl.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Delete(context.Background(), p) })
	}
	waitFor(t, "the burst running", func(ctx context.Context) (bool, error) {
		for i := range 3 {
			p, err := getPod(ctx, s.ns, fmt.Sprintf("burst-%d", i))
			if err != nil || p.Status.Phase != corev1.PodRunning {
				return false, err
			}
		}
		return true, nil
	})
	for i := range 3 {
		name := fmt.Sprintf("burst-%d", i)
		if ev, err := events(ctx, s.ns, name, "FailedScheduling"); err != nil || len(ev) > 0 {
			t.Errorf("pod %s waited for a node (an autoscaler would have bought one): %v %v", name, ev, err)
		}
	}
	waitFor(t, b+" taken back", notDraining(b))
	if e := waitEvent(t, "default", b, "Unretired"); !strings.Contains(e.Note, "started on it") {
		t.Errorf("Unretired event says %q", e.Note)
	}
	waitFor(t, "the session told its node stays", func(ctx context.Context) (bool, error) {
		p, err := getPod(ctx, s.ns, "short")
		c := retiringCondition(p)
		return err == nil && c != nil && c.Status == corev1.ConditionFalse && c.Reason == carvev1.ReasonNodeKept, err
	})
	// The work now needs both nodes: neither is retired again.
	holds(t, "neither node drains", func(ctx context.Context) (bool, error) {
		da, err := draining(ctx, a)
		if err != nil {
			return false, err
		}
		db, err := draining(ctx, b)
		return !da && !db, err
	})
}

// TestBasePoolKeepsItsLastNode: the Base pool's one node is never retired,
// even empty (any other empty node is the first a pool retires).
func TestBasePoolKeepsItsLastNode(t *testing.T) {
	s := newScene(t, "base", carvev1.NodePoolRoleBase, 1, nil)
	s.addNode(t, "base-a", false)
	s.consolidate(t, 1)
	holds(t, "the base node is not retired", notDraining("base-a"))
}

// TestSessionDeadline: an admin marks a node for retirement; its workspace
// lets sessions keep a retiring node 1s, with a 3s notice. The session is
// told when it will be stopped and stopped no sooner.
func TestSessionDeadline(t *testing.T) {
	ctx := t.Context()
	s := newScene(t, "dl", carvev1.NodePoolRoleCPU, 0, func(w *ut.WorkspaceWrapper) { w.SessionDeadline(time.Second, 3*time.Second) })
	s.addNode(t, "dl-a", false)
	s.session(t, "nb", "1", 3*time.Hour, "dl-a")
	holds(t, "nothing retires with consolidation off", notDraining("dl-a"))

	patch := []byte(`{"metadata":{"annotations":{"` + carvev1.AnnotationRetire + `":"true"}}}`)
	if _, err := k8s.CoreV1().Nodes().Patch(ctx, "dl-a", "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "dl-a draining", func(ctx context.Context) (bool, error) { return draining(ctx, "dl-a") })
	n, err := getNode(ctx, "dl-a")
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Annotations[carvev1.AnnotationRetiring]; got != "Requested" {
		t.Errorf("annotation %s = %q, want Requested", carvev1.AnnotationRetiring, got)
	}
	var told time.Time
	waitFor(t, "the session told", func(ctx context.Context) (bool, error) {
		p, err := getPod(ctx, s.ns, "nb")
		if err != nil {
			return false, err
		}
		c := retiringCondition(p)
		if c == nil || c.Status != corev1.ConditionTrue {
			return false, nil
		}
		if !strings.Contains(c.Message, "may be stopped after") {
			return false, fmt.Errorf("condition message %q does not say when the session may be stopped", c.Message)
		}
		told = c.LastTransitionTime.Time
		return true, nil
	})
	stopped := waitEvent(t, s.ns, "nb", "SessionStopped")
	if at := stopped.EventTime.Time; at.Before(told.Add(3 * time.Second)) {
		t.Errorf("session stopped at %v, %v after it was told; the notice is 3s", at, at.Sub(told))
	}
	waitFor(t, "the session gone", func(ctx context.Context) (bool, error) {
		p, err := getPod(ctx, s.ns, "nb")
		return client.IgnoreNotFound(err) == nil && (err != nil || p.DeletionTimestamp != nil), nil
	})
}
