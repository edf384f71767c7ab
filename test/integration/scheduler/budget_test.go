package scheduler_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// TestSpentBudgetHoldsNewPods: with its day's budget spent, a workspace's
// new pod waits with reason OverBudget and the reset time, never reaches
// the scheduling queue (no PodScheduled, so no node is bought for it), the
// Workspace gets a BudgetSpent event and the OverBudget condition; raising
// the budget starts it.
func TestSpentBudgetHoldsNewPods(t *testing.T) {
	ws := ut.MakeWorkspace("wsg", "small").Budget(carvev1.BudgetWorkspace, "", carvev1.BudgetDay, "cost", "0").Obj()
	pool := setup(t, ws, []string{"wsg-alice"}, 1, "16", "64Gi")
	create(t, workspacePod("wsg", "wsg-alice", "nb", pool, "1"))

	var pod *corev1.Pod
	waitFor(t, "pod nb waiting over budget", func(ctx context.Context) (bool, error) {
		p, err := getPod(ctx, "wsg-alice", "nb")
		if err != nil {
			return false, err
		}
		pod = p
		c := condition(p, carvev1.PodConditionAdmitted)
		return c != nil && c.Status == corev1.ConditionFalse && c.Reason == carvev1.ReasonOverBudget, nil
	})
	msg := condition(pod, carvev1.PodConditionAdmitted).Message
	if !strings.HasPrefix(msg, "waiting for the daily budget of workspace wsg: 0/0 cost used; it resets at ") || !strings.HasSuffix(msg, " 00:00 UTC; running pods keep running") {
		t.Errorf("message %q", msg)
	}
	if c := condition(pod, corev1.PodScheduled); c != nil {
		t.Errorf("a pod held by a budget has PodScheduled %s/%s: the autoscaler would act on it", c.Status, c.Reason)
	}
	waitFor(t, "the Workspace's OverBudget condition and BudgetSpent event", func(ctx context.Context) (bool, error) {
		w := &carvev1.Workspace{}
		if err := cl.Get(ctx, client.ObjectKey{Name: "wsg"}, w); err != nil {
			return false, err
		}
		over := false
		for _, c := range w.Status.Conditions {
			over = over || (c.Type == carvev1.WorkspaceOverBudget && c.Status == metav1.ConditionTrue && c.Reason == carvev1.ReasonBudgetSpent)
		}
		evs, err := k8s.EventsV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "regarding.name=wsg,reason=BudgetSpent"})
		return over && err == nil && len(evs.Items) > 0, nil
	})

	// The admin raises the budget: the pod starts.
	if err := cl.Get(t.Context(), client.ObjectKeyFromObject(ws), ws); err != nil {
		t.Fatal(err)
	}
	ws.Spec.Budgets[0].Cost = new(resource.MustParse("100"))
	if err := cl.Update(t.Context(), ws); err != nil {
		t.Fatal(err)
	}
	waitBound(t, "wsg-alice", "nb")
}
