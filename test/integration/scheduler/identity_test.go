package scheduler_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// TestForeignPodTakesNoQuota: a pod in a namespace outside every workspace
// that carries carve's workspace label (as a pod made before carve's
// admission policy was installed could) and asks for the whole quota on a
// node that does not exist spends none of that workspace's quota: the
// workspace's own pods still start, and the foreign pod is scheduled (and
// found unschedulable) like any other pod.
func TestForeignPodTakesNoQuota(t *testing.T) {
	ws := ut.MakeWorkspace("wsx", "small").Quota("2", "", "", -1).Obj()
	pool := setup(t, ws, []string{"wsx-own"}, 1, "8", "32Gi")
	ctx := t.Context()
	outside := "wsx-outside"
	if _, err := k8s.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: outside}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.CoreV1().Namespaces().Delete(context.Background(), outside, metav1.DeleteOptions{}) })
	waitFor(t, "default ServiceAccount in "+outside, func(ctx context.Context) (bool, error) {
		_, err := k8s.CoreV1().ServiceAccounts(outside).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	squatter := workspacePod("wsx", outside, "squat", "no-such-pool", "2")
	create(t, squatter)
	waitFor(t, "the foreign pod marked Unschedulable", func(ctx context.Context) (bool, error) {
		p, err := getPod(ctx, outside, "squat")
		if err != nil {
			return false, err
		}
		c := condition(p, corev1.PodScheduled)
		return c != nil && c.Status == corev1.ConditionFalse, nil
	})

	create(t, workspacePod("wsx", "wsx-own", "mine", pool, "2"))
	waitBound(t, "wsx-own", "mine")
	p, err := getPod(ctx, outside, "squat")
	if err != nil {
		t.Fatal(err)
	}
	if c := condition(p, carvev1.PodConditionAdmitted); c != nil {
		t.Errorf("the foreign pod has carve's %s condition (%s): it was treated as a workspace pod", c.Type, c.Message)
	}
}
