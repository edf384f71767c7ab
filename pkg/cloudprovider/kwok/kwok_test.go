package kwok

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func TestParseProviderID(t *testing.T) {
	type parsed struct {
		Pool, Node string
		OK         bool
	}
	tests := map[string]parsed{
		"kwok://cpu/cpu-abcde": {"cpu", "cpu-abcde", true},
		"kwok://cpu/":          {},
		"kwok:///n":            {},
		"kwok://cpu":           {},
		"kwok://cpu/a/b":       {},
		"aws:///zone/i-1":      {},
		"":                     {},
	}
	for id, want := range tests {
		pool, node, ok := ParseProviderID(id)
		if diff := cmp.Diff(want, parsed{pool, node, ok}); diff != "" {
			t.Errorf("ParseProviderID(%q) (-want +got):\n%s", id, diff)
		}
	}
	if got := ProviderID("cpu", "cpu-x"); got != "kwok://cpu/cpu-x" {
		t.Errorf("ProviderID = %q", got)
	}
}

func newFake(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
}

type state struct {
	ID    string
	State cloudprovider.InstanceState
}

func states(t *testing.T, p *Platform, pool *carvev1.NodePool) ([]state, int32) {
	t.Helper()
	instances, err := p.Instances(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	var out []state
	for _, in := range instances {
		out = append(out, state{in.ID, in.State})
	}
	// Instances lists in no particular order.
	slices.SortFunc(out, func(a, b state) int { return strings.Compare(a.ID, b.ID) })
	n, err := p.TargetSize(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return out, n
}

func TestCreateListDelete(t *testing.T) {
	ctx := context.Background()
	pool := ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 5, "4", "16Gi").Obj()
	c := newFake(t)
	p := New(c, c)
	if err := p.Create(ctx, pool, 2); err != nil {
		t.Fatal(err)
	}
	nodes := &corev1.NodeList{}
	if err := c.List(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	var want []state
	for _, n := range nodes.Items {
		if n.Annotations[AnnotationNode] != AnnotationNodeValue || n.Labels[LabelType] != LabelTypeValue || n.Labels[carvev1.LabelNodePool] != "cpu" {
			t.Errorf("node %s lacks kwok's annotation or carve's labels: %v %v", n.Name, n.Annotations, n.Labels)
		}
		want = append(want, state{ProviderID("cpu", n.Name), cloudprovider.StateRunning})
	}
	got, target := states(t, p, pool)
	if diff := cmp.Diff(want, got); diff != "" || target != 2 {
		t.Errorf("after Create: target %d, instances (-want +got):\n%s", target, diff)
	}
	if err := p.Delete(ctx, pool, []string{want[0].ID}); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, pool, []string{want[0].ID}); err != nil {
		t.Errorf("deleting again: %v, want success", err)
	}
	got, target = states(t, p, pool)
	if diff := cmp.Diff(want[1:], got); diff != "" || target != 1 {
		t.Errorf("after Delete: target %d, instances (-want +got):\n%s", target, diff)
	}
	err := p.Delete(ctx, pool, []string{"kwok://other/other-1"})
	if cloudprovider.Code(err).String() != "InvalidArgument" {
		t.Errorf("deleting another pool's id: %v, want InvalidArgument", err)
	}
}

// The cache lags behind writes: created nodes it does not show yet count as
// creating, deleted nodes it still shows count as deleting.
func TestLaggingCache(t *testing.T) {
	ctx := context.Background()
	pool := ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 5, "4", "16Gi").Obj()
	stale := ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 5, "4", "16Gi").Obj()
	old := New(nil, nil).TemplateNode(stale, "cpu-old")
	writer, cache := newFake(t), newFake(t, old)
	p := New(writer, cache)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }

	if err := p.Create(ctx, pool, 1); err != nil {
		t.Fatal(err)
	}
	created := &corev1.NodeList{}
	if err := writer.List(ctx, created); err != nil || len(created.Items) != 1 {
		t.Fatalf("created %v, %v", created.Items, err)
	}
	newID := ProviderID("cpu", created.Items[0].Name)
	got, target := states(t, p, pool)
	want := []state{{newID, cloudprovider.StateCreating}, {"kwok://cpu/cpu-old", cloudprovider.StateRunning}}
	if newID > "kwok://cpu/cpu-old" {
		want[0], want[1] = want[1], want[0]
	}
	if diff := cmp.Diff(want, got); diff != "" || target != 2 {
		t.Errorf("after Create: target %d, instances (-want +got):\n%s", target, diff)
	}

	if err := p.Delete(ctx, pool, []string{"kwok://cpu/cpu-old"}); err != nil {
		t.Fatal(err)
	}
	got, target = states(t, p, pool)
	for i := range want {
		if want[i].ID == "kwok://cpu/cpu-old" {
			want[i].State = cloudprovider.StateDeleting
		}
	}
	if diff := cmp.Diff(want, got); diff != "" || target != 1 {
		t.Errorf("after Delete: target %d, instances (-want +got):\n%s", target, diff)
	}

	// A created node the cache never shows is forgotten after pendingTTL.
	now = now.Add(pendingTTL + time.Second)
	got, target = states(t, p, pool)
	if diff := cmp.Diff([]state{{"kwok://cpu/cpu-old", cloudprovider.StateDeleting}}, got); diff != "" || target != 0 {
		t.Errorf("after pendingTTL: target %d, instances (-want +got):\n%s", target, diff)
	}
}

func TestNodeNameFitsHostnameLabel(t *testing.T) {
	long := "a-very-long-pool-name-that-goes-on-and-on-and-on-past-the-limit-of-63"
	if n := nodeName(long); len(n) > 63 {
		t.Errorf("nodeName(%d chars) has %d chars, want at most 63", len(long), len(n))
	}
}

// With a boot delay an instance is listed as creating until its Node
// appears, as a cloud VM is until it registers; one deleted while it boots
// never gets a Node.
func TestBootDelay(t *testing.T) {
	ctx := context.Background()
	pool := ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 5, "4", "16Gi").Obj()
	c := newFake(t)
	p := New(c, c, WithBootDelay(300*time.Millisecond))
	if err := p.Create(ctx, pool, 2); err != nil {
		t.Fatal(err)
	}
	nodes := &corev1.NodeList{}
	if err := c.List(ctx, nodes); err != nil || len(nodes.Items) != 0 {
		t.Fatalf("Nodes right after Create: %d, %v; want none while they boot", len(nodes.Items), err)
	}
	got, target := states(t, p, pool)
	if target != 2 || len(got) != 2 || got[0].State != cloudprovider.StateCreating || got[1].State != cloudprovider.StateCreating {
		t.Fatalf("while booting: target %d, instances %v; want 2 creating", target, got)
	}
	if err := p.Delete(ctx, pool, []string{got[0].ID}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := c.List(ctx, nodes); err != nil {
			t.Fatal(err)
		}
		if len(nodes.Items) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The deleted instance's timer was stopped, not left to fire.
	p.mu.Lock()
	stillBooting := len(p.booting[pool.Name])
	p.mu.Unlock()
	if stillBooting != 0 {
		t.Errorf("%d instances still booting after the boot delay; the deleted one's timer should have been stopped", stillBooting)
	}
	if err := c.List(ctx, nodes); err != nil || len(nodes.Items) != 1 {
		t.Fatalf("Nodes after the boot delay: %d, %v; want 1 (the other was deleted while booting)", len(nodes.Items), err)
	}
	if ProviderID("cpu", nodes.Items[0].Name) != got[1].ID {
		t.Errorf("the Node that appeared is %s, want the instance that was not deleted (%s)", nodes.Items[0].Name, got[1].ID)
	}
	got, target = states(t, p, pool)
	if target != 1 || len(got) != 1 || got[0].State != cloudprovider.StateRunning {
		t.Errorf("after booting: target %d, instances %v; want 1 running", target, got)
	}
}
