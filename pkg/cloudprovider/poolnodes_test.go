package cloudprovider_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/run"
)

// labelledNode is a Node of pool (none when empty) with a kwok provider id.
func labelledNode(name, pool string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}}}
	if pool != "" {
		n.Labels[carvev1.LabelNodePool] = pool
		n.Spec.ProviderID = "kwok://" + pool + "/" + name
	}
	return n
}

// byPool reads pools' entries through PoolNodesOf, sorted by name.
func byPool(t *testing.T, r *cloudprovider.PoolNodes, pools ...string) map[string][]cloudprovider.PoolNode {
	t.Helper()
	out := map[string][]cloudprovider.PoolNode{}
	for _, pool := range pools {
		got, err := cloudprovider.PoolNodesOf(context.Background(), r, pool)
		if err != nil {
			t.Fatal(err)
		}
		got = slices.Clone(got) // shared: sort a copy
		slices.SortFunc(got, func(a, b cloudprovider.PoolNode) int { return strings.Compare(a.Name, b.Name) })
		out[pool] = got
	}
	return out
}

// PoolNodes follows the Node informer's events: additions, deletions, a Node
// being deleted and a Node whose pool label changes.
func TestPoolNodesFollowsEvents(t *testing.T) {
	ctx := context.Background()
	informers := &informertest.FakeInformers{}
	p, err := cloudprovider.NewPoolNodes(ctx, informers)
	if err != nil {
		t.Fatal(err)
	}
	inf, err := informers.FakeInformerFor(ctx, &corev1.Node{})
	if err != nil {
		t.Fatal(err)
	}
	a1, a2, b1, other := labelledNode("a-1", "a"), labelledNode("a-2", "a"), labelledNode("b-1", "b"), labelledNode("other", "")
	for _, n := range []*corev1.Node{a1, a2, b1, other} {
		inf.Add(n)
	}
	want := map[string][]cloudprovider.PoolNode{
		"a": {{Name: "a-1", ProviderID: "kwok://a/a-1"}, {Name: "a-2", ProviderID: "kwok://a/a-2"}},
		"b": {{Name: "b-1", ProviderID: "kwok://b/b-1"}},
		"":  nil,
	}
	if diff := cmp.Diff(want, byPool(t, p, "a", "b", "")); diff != "" {
		t.Errorf("after adding (-want +got):\n%s", diff)
	}

	moved := a2.DeepCopy()
	moved.Labels[carvev1.LabelNodePool] = "b"
	inf.Update(a2, moved)
	inf.Delete(b1)
	going := a1.DeepCopy()
	going.DeletionTimestamp = &metav1.Time{}
	inf.Update(a1, going)
	want = map[string][]cloudprovider.PoolNode{
		"a": {{Name: "a-1", ProviderID: "kwok://a/a-1", Deleting: true}},
		"b": {{Name: "a-2", ProviderID: "kwok://a/a-2"}},
		"":  nil,
	}
	if diff := cmp.Diff(want, byPool(t, p, "a", "b", "")); diff != "" {
		t.Errorf("after moving a-2 to b, deleting b-1 and a-1 (-want +got):\n%s", diff)
	}
}

// Any other reader is listed by label.
func TestEachPoolNodeFromAReader(t *testing.T) {
	scheme, err := run.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(labelledNode("a-1", "a"), labelledNode("b-1", "b"), labelledNode("other", "")).Build()
	got, err := cloudprovider.PoolNodesOf(context.Background(), c, "a")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]cloudprovider.PoolNode{{Name: "a-1", ProviderID: "kwok://a/a-1"}}, got); diff != "" {
		t.Errorf("nodes of a (-want +got):\n%s", diff)
	}
}
