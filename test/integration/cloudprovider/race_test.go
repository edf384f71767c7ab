package cloudprovider_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	corev1 "k8s.io/api/core/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func hasDeletingTaint(n *corev1.Node) bool {
	return slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
		return t.Key == carvev1.TaintDeleting && t.Effect == corev1.TaintEffectNoSchedule
	})
}

// TestSessionLandingDuringDeleteIsKept drives the race between a session
// landing on a node and the node's deletion. carve-cloudprovider makes the
// node unschedulable (carve.dev/deleting) before it lists the node's pods,
// so a scheduler places nothing there from then on; a session bound just
// before (here: bound in the hook, as a scheduler whose cache had not seen
// the taint yet would) is in the list, the deletion is refused and the node
// is untainted. A node that goes keeps its taint to the end.
func TestSessionLandingDuringDeleteIsKept(t *testing.T) {
	ctx := t.Context()
	pool := newPool(t, ut.MakeNodePool("race", carvev1.NodePoolRoleCPU, 0, 3, "8", "32Gi"))
	nodes := scaleUp(t, pool, 2, 2)

	// The hooks run on the server's goroutines: what they see is passed
	// back through atomics.
	var session atomic.Pointer[corev1.Pod]
	var taintedAtCheck atomic.Bool
	hook := func(ctx context.Context, name string) {
		if name != nodes[0].Name {
			return
		}
		n := &corev1.Node{}
		if err := cl.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
			t.Errorf("reading node %s in the hook: %v", name, err)
			return
		}
		taintedAtCheck.Store(hasDeletingTaint(n))
		p := ut.MakePod("late-"+utilrand.String(5), "default").Workload(carvev1.WorkloadSession).
			Container("main", "1", "1Gi").NodeName(name).Obj()
		if err := cl.Create(ctx, p); err != nil {
			t.Errorf("binding a session to %s in the hook: %v", name, err)
			return
		}
		session.Store(p)
	}
	beforePodCheck.Store(&hook)
	t.Cleanup(func() { beforePodCheck.Store(nil) })

	wantCode(t, "deleting a node a session landed on during the delete", deleteNodes(ctx, pool, nodes[0]), codes.FailedPrecondition, "session")
	if !taintedAtCheck.Load() {
		t.Errorf("node %s was not tainted %s when its pods were checked", nodes[0].Name, carvev1.TaintDeleting)
	}
	n := &corev1.Node{}
	if err := cl.Get(ctx, client.ObjectKeyFromObject(&nodes[0]), n); err != nil {
		t.Fatalf("the node with the session: %v", err)
	}
	if hasDeletingTaint(n) {
		t.Errorf("node %s kept the %s taint after the delete was refused", n.Name, carvev1.TaintDeleting)
	}
	if p := session.Load(); p != nil {
		if err := cl.Delete(ctx, p, client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
	}

	// The other node goes; it was tainted on the way.
	beforePodCheck.Store(nil)
	tainted := func(ctx context.Context, name string) {
		n := &corev1.Node{}
		if err := cl.Get(ctx, client.ObjectKey{Name: name}, n); err == nil {
			taintedAtCheck.Store(hasDeletingTaint(n))
		}
	}
	taintedAtCheck.Store(false)
	beforePodCheck.Store(&tainted)
	if err := deleteNodes(ctx, pool, nodes[1]); err != nil {
		t.Fatalf("deleting %s: %v", nodes[1].Name, err)
	}
	if !taintedAtCheck.Load() {
		t.Errorf("node %s was deleted without the %s taint", nodes[1].Name, carvev1.TaintDeleting)
	}
	waitInstances(t, pool, nodes[:1])
}
