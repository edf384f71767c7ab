package poolstatus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/server"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// sizedPlatform reports a fixed target size, or err.
type sizedPlatform struct {
	cloudprovider.Platform
	target int32
	err    error
}

func (p *sizedPlatform) TargetSize(context.Context, *carvev1.NodePool) (int32, error) {
	return p.target, p.err
}

func poolNode(name, pool string, ready bool) *corev1.Node {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{carvev1.LabelNodePool: pool}},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}},
	}
}

// conditionSummary is type=status/reason of each condition, in order.
func conditionSummary(conds []metav1.Condition) []string {
	var out []string
	for _, c := range conds {
		out = append(out, c.Type+"="+string(c.Status)+"/"+c.Reason)
	}
	return out
}

// The status writer's sync, on a fake API: sizes and conditions are
// written, a refusal shows in ScaleRefused, a failing platform in Ready, and
// nothing is written when nothing changed.
func TestStatusSyncWritesConditions(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := carvev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	eks := ut.MakeNodePool("eks", carvev1.NodePoolRoleCPU, 0, 3, "4", "16Gi").Obj()
	eks.Spec.Platform = carvev1.Platform{Type: carvev1.PlatformEKS, EKS: &carvev1.EKSPlatform{Region: "eu-west-1", AutoScalingGroup: "ml"}}
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 1, 5, "4", "16Gi").Obj(), eks,
			poolNode("cpu-a", "cpu", true), poolNode("cpu-b", "cpu", false)).
		WithStatusSubresource(&carvev1.NodePool{}).
		// Unused unless the writer lists a pool's nodes through the index.
		WithIndex(&corev1.Node{}, carvev1.LabelNodePool, func(o client.Object) []string { return []string{o.GetLabels()[carvev1.LabelNodePool]} }).
		Build()
	kwok := &sizedPlatform{target: 3}
	outcomes := server.NewScaleOutcomes()
	w := NewWriter(nil, c, c, map[carvev1.PlatformType]cloudprovider.Platform{carvev1.PlatformKwok: kwok}, outcomes)
	now := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	w.now = func() metav1.Time { return now }
	var notified []string
	outcomes.Notify(func(pool string) { notified = append(notified, pool) })

	get := func(name string) *carvev1.NodePool {
		t.Helper()
		np := &carvev1.NodePool{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, np); err != nil {
			t.Fatal(err)
		}
		return np
	}
	sync := func(name string, wantErr bool) *carvev1.NodePool {
		t.Helper()
		if err := w.sync(ctx, name); (err != nil) != wantErr {
			t.Fatalf("sync(%s): %v, want error %v", name, err, wantErr)
		}
		return get(name)
	}

	np := sync("cpu", false)
	if got, want := [3]int32{np.Status.TargetSize, np.Status.CurrentSize, np.Status.ReadySize}, [3]int32{3, 2, 1}; got != want {
		t.Errorf("target, current, ready = %v, want %v", got, want)
	}
	// The test's Nodes have no allocatable at all: they differ from the
	// template.
	want := []string{"Ready=True/Served", "ScalingUp=True/WaitingForNodes", "ScaleRefused=False/NoneRefused", "TemplateMatches=False/TemplateDiffers"}
	if diff := cmp.Diff(want, conditionSummary(np.Status.Conditions)); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}

	// Nothing changed: nothing written.
	if again := sync("cpu", false); again.ResourceVersion != np.ResourceVersion {
		t.Errorf("a sync without changes wrote the status (resourceVersion %s → %s)", np.ResourceVersion, again.ResourceVersion)
	}

	// A refusal, recorded twice (the autoscaler retrying), notifies once.
	refusal := server.AsRefusal(server.CheckDeleteSize(get("cpu"), 1, 1, "cpu-a"))
	outcomes.Record("cpu", refusal)
	outcomes.Record("cpu", server.AsRefusal(server.CheckDeleteSize(get("cpu"), 1, 1, "cpu-a")))
	if diff := cmp.Diff([]string{"cpu"}, notified); diff != "" {
		t.Errorf("pools enqueued by outcomes (-want +got):\n%s", diff)
	}
	np = sync("cpu", false)
	refused := meta.FindStatusCondition(np.Status.Conditions, carvev1.NodePoolScaleRefused)
	if refused == nil || refused.Status != metav1.ConditionTrue || refused.Reason != server.ReasonBelowMinSize || refused.Message != refusal.Note() {
		t.Errorf("ScaleRefused = %+v, want True/%s with %q", refused, server.ReasonBelowMinSize, refusal.Note())
	}

	// The platform fails: Ready turns False, the error is returned for a
	// retry, the last known target stays.
	kwok.err = errors.New("throttled")
	np = sync("cpu", true)
	want = []string{"Ready=False/PlatformError", "ScalingUp=Unknown/PlatformError", "ScaleRefused=True/BelowMinSize", "TemplateMatches=False/TemplateDiffers"}
	if diff := cmp.Diff(want, conditionSummary(np.Status.Conditions)); diff != "" {
		t.Errorf("conditions with a failing platform (-want +got):\n%s", diff)
	}
	if np.Status.TargetSize != 3 {
		t.Errorf("target size with a failing platform = %d, want the last known 3", np.Status.TargetSize)
	}

	// A platform this build lacks: not served.
	np = sync("eks", false)
	want = []string{"Ready=False/PlatformUnavailable", "ScalingUp=Unknown/PlatformUnavailable", "ScaleRefused=False/NoneRefused", "TemplateMatches=Unknown/NothingToCompare"}
	if diff := cmp.Diff(want, conditionSummary(np.Status.Conditions)); diff != "" {
		t.Errorf("conditions of an EKS pool (-want +got):\n%s", diff)
	}

	// A pool that is gone is forgotten.
	if err := c.Delete(ctx, get("cpu")); err != nil {
		t.Fatal(err)
	}
	err := w.sync(ctx, "cpu")
	if _, known := outcomes.Last("cpu"); err != nil || known {
		t.Errorf("sync of a deleted pool: %v, outcome still known %v", err, known)
	}
}

func TestNodeCounts(t *testing.T) {
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue}
	notReady := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse}
	gone := metav1.Now()
	nodes := []corev1.Node{
		{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{ready}}},
		{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{notReady}}},
		{},
		{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &gone}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{ready}}},
	}
	current, readyN := NodeCounts(nodes)
	if current != 3 || readyN != 1 {
		t.Errorf("NodeCounts = %d current, %d ready; want 3, 1", current, readyN)
	}
}

func TestCostPerHour(t *testing.T) {
	for _, tc := range []struct {
		price string
		nodes int32
		want  string
	}{
		{"0.384", 3, "1.152"},
		{"0.384", 0, "0"},
		{"10", 3, "30"},
		{"2.5", 4, "10"},
		{"0.0052", 7, "0.0364"},
		{"1200m", 2, "2.4"},
		{"", 3, ""},
	} {
		var price *resource.Quantity
		if tc.price != "" {
			q := resource.MustParse(tc.price)
			price = &q
		}
		if got := CostPerHour(price, tc.nodes); got != tc.want {
			t.Errorf("CostPerHour(%s, %d) = %q, want %q", tc.price, tc.nodes, got, tc.want)
		}
		if price != nil && price.Cmp(resource.MustParse(tc.price)) != 0 {
			t.Errorf("CostPerHour changed the price to %s", price)
		}
	}
}
