package cloudprovider_test

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// waitTimeout bounds every poll: kwok makes nodes Ready in well under a
// second; the rest is slack for a loaded machine.
const waitTimeout = 60 * time.Second

func poll(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, waitTimeout, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// newPool creates w's NodePool under a name unique to this run, waits until
// the provider serves it, and removes the pool and its nodes when the test
// ends, so tests share no state (and -count=N works).
func newPool(t *testing.T, w *ut.NodePoolWrapper) string {
	t.Helper()
	pool := w.Obj()
	pool.Name += "-" + utilrand.String(5)
	if err := cl.Create(t.Context(), pool); err != nil {
		t.Fatalf("creating NodePool %s: %v", pool.Name, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if err := cl.DeleteAllOf(ctx, &corev1.Node{}, client.MatchingLabels{carvev1.LabelNodePool: pool.Name}); err != nil {
			t.Errorf("deleting the nodes of %s: %v", pool.Name, err)
		}
		if err := cl.Delete(ctx, pool); err != nil {
			t.Errorf("deleting NodePool %s: %v", pool.Name, err)
		}
	})
	poll(t, "the provider to serve "+pool.Name, func(ctx context.Context) (bool, error) {
		_, err := cp.NodeGroupTargetSize(ctx, &externalgrpc.NodeGroupTargetSizeRequest{Id: pool.Name})
		return err == nil, nil
	})
	return pool.Name
}

func poolNodes(t *testing.T, pool string) []corev1.Node {
	t.Helper()
	nodes := &corev1.NodeList{}
	if err := cl.List(t.Context(), nodes, client.MatchingLabels{carvev1.LabelNodePool: pool}); err != nil {
		t.Fatal(err)
	}
	sort.Slice(nodes.Items, func(i, j int) bool { return nodes.Items[i].Name < nodes.Items[j].Name })
	return nodes.Items
}

// scaleUp asks for delta nodes of pool and waits until the pool has want
// Ready nodes and NodeGroupNodes reports each as running under its
// providerID.
func scaleUp(t *testing.T, pool string, delta int32, want int) []corev1.Node {
	t.Helper()
	if _, err := cp.NodeGroupIncreaseSize(t.Context(), &externalgrpc.NodeGroupIncreaseSizeRequest{Id: pool, Delta: delta}); err != nil {
		t.Fatalf("IncreaseSize(%s, %d): %v", pool, delta, err)
	}
	var nodes []corev1.Node
	poll(t, "nodes of "+pool, func(context.Context) (bool, error) {
		nodes = poolNodes(t, pool)
		return len(nodes) == want, nil
	})
	for i, n := range nodes {
		ready, err := cluster.WaitNodeReady(t.Context(), n.Name)
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = *ready
	}
	waitInstances(t, pool, nodes)
	return nodes
}

// waitInstances waits until NodeGroupNodes lists exactly nodes, running.
func waitInstances(t *testing.T, pool string, nodes []corev1.Node) {
	t.Helper()
	want := map[string]externalgrpc.InstanceStatus_InstanceState{}
	for _, n := range nodes {
		want[n.Spec.ProviderID] = externalgrpc.InstanceStatus_instanceRunning
	}
	var got map[string]externalgrpc.InstanceStatus_InstanceState
	poll(t, "instances of "+pool, func(ctx context.Context) (bool, error) {
		resp, err := cp.NodeGroupNodes(ctx, &externalgrpc.NodeGroupNodesRequest{Id: pool})
		if err != nil {
			return false, err
		}
		got = map[string]externalgrpc.InstanceStatus_InstanceState{}
		for _, in := range resp.Instances {
			got[in.Id] = in.GetStatus().GetInstanceState()
		}
		return cmp.Equal(want, got), nil
	})
}

func deleteNodes(ctx context.Context, pool string, nodes ...corev1.Node) error {
	req := &externalgrpc.NodeGroupDeleteNodesRequest{Id: pool}
	for _, n := range nodes {
		req.Nodes = append(req.Nodes, &externalgrpc.ExternalGrpcNode{ProviderID: n.Spec.ProviderID, Name: n.Name, Labels: n.Labels, Annotations: n.Annotations})
	}
	_, err := cp.NodeGroupDeleteNodes(ctx, req)
	return err
}

func wantCode(t *testing.T, what string, err error, want codes.Code, msgHas string) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: code %v, want %v (error: %v)", what, got, want, err)
		return
	}
	if msgHas != "" && !strings.Contains(status.Convert(err).Message(), msgHas) {
		t.Errorf("%s: message %q does not mention %q", what, status.Convert(err).Message(), msgHas)
	}
}

func targetSize(t *testing.T, pool string) int32 {
	t.Helper()
	resp, err := cp.NodeGroupTargetSize(t.Context(), &externalgrpc.NodeGroupTargetSizeRequest{Id: pool})
	if err != nil {
		t.Fatalf("TargetSize(%s): %v", pool, err)
	}
	return resp.TargetSize
}

func TestNodeGroups(t *testing.T) {
	base := newPool(t, ut.MakeNodePool("base", carvev1.NodePoolRoleBase, 1, 3, "4", "16Gi"))
	cpu := newPool(t, ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 5, "16", "64Gi"))
	resp, err := cp.NodeGroups(t.Context(), &externalgrpc.NodeGroupsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	type group struct {
		ID       string
		Min, Max int32
	}
	got := map[string]group{}
	for _, g := range resp.NodeGroups {
		if g.Id == base || g.Id == cpu {
			got[g.Id] = group{g.Id, g.MinSize, g.MaxSize}
		}
	}
	want := map[string]group{base: {base, 1, 3}, cpu: {cpu, 0, 5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NodeGroups (-want +got):\n%s", diff)
	}
}

// A GPU pool with no node: its template carries the GPU label, the taint and
// GPU capacity, and the node it then gets matches the template.
func TestGPUTemplateFromZero(t *testing.T) {
	ctx := t.Context()
	gpu := newPool(t, ut.MakeNodePool("gpu", carvev1.NodePoolRoleGPU, 0, 2, "8", "64Gi").
		Capacity(carvev1.DefaultGPUResource, "2").
		TemplateLabel("nvidia.com/gpu.product", "A100-SXM4-80GB").
		Taint(carvev1.DefaultGPUResource, "present", corev1.TaintEffectNoSchedule).
		Price("3.06"))
	cpu := newPool(t, ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 5, "16", "64Gi"))
	label, err := cp.GPULabel(ctx, &externalgrpc.GPULabelRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if label.Label != cloudprovider.LabelAccelerator {
		t.Errorf("GPULabel = %q, want %q", label.Label, cloudprovider.LabelAccelerator)
	}
	types, err := cp.GetAvailableGPUTypes(ctx, &externalgrpc.GetAvailableGPUTypesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := types.GpuTypes["A100-SXM4-80GB"]; !ok {
		t.Errorf("GPU types = %v, want A100-SXM4-80GB among them", types.GpuTypes)
	}
	resp, err := cp.NodeGroupTemplateNodeInfo(ctx, &externalgrpc.NodeGroupTemplateNodeInfoRequest{Id: gpu})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &corev1.Node{}
	if err := tmpl.Unmarshal(resp.NodeBytes); err != nil {
		t.Fatalf("decoding the template node: %v", err)
	}
	if got := tmpl.Labels[label.Label]; got != "A100-SXM4-80GB" {
		t.Errorf("template label %s = %q, want A100-SXM4-80GB", label.Label, got)
	}
	if got := tmpl.Labels[carvev1.LabelNodePool]; got != gpu {
		t.Errorf("template label %s = %q, want %s", carvev1.LabelNodePool, got, gpu)
	}
	wantTaints := []corev1.Taint{{Key: carvev1.DefaultGPUResource, Value: "present", Effect: corev1.TaintEffectNoSchedule}}
	if diff := cmp.Diff(wantTaints, tmpl.Spec.Taints); diff != "" {
		t.Errorf("template taints (-want +got):\n%s", diff)
	}
	if got := tmpl.Status.Allocatable[carvev1.DefaultGPUResource]; got.Cmp(resource.MustParse("2")) != 0 {
		t.Errorf("template allocatable GPUs = %s, want 2", got.String())
	}

	// Only GPU nodes carry the GPU label.
	cpuResp, err := cp.NodeGroupTemplateNodeInfo(ctx, &externalgrpc.NodeGroupTemplateNodeInfoRequest{Id: cpu})
	if err != nil {
		t.Fatal(err)
	}
	cpuTmpl := &corev1.Node{}
	if err := cpuTmpl.Unmarshal(cpuResp.NodeBytes); err != nil {
		t.Fatal(err)
	}
	if v, ok := cpuTmpl.Labels[label.Label]; ok {
		t.Errorf("CPU template carries the GPU label %s=%s", label.Label, v)
	}

	node := scaleUp(t, gpu, 1, 1)[0]
	if drift := ut.TemplateDrift(tmpl, &node); drift != "" {
		t.Errorf("the template does not match the real node:\n%s", drift)
	}
	if err := deleteNodes(ctx, gpu, node); err != nil {
		t.Fatalf("deleting the GPU node: %v", err)
	}
	waitInstances(t, gpu, nil)
}

// Scale a CPU pool from zero, map its nodes, delete one specifically, keep
// the one running a session, then let it go when the session ends.
func TestScaleUpAndDown(t *testing.T) {
	ctx := t.Context()
	cpu := newPool(t, ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 5, "16", "64Gi").Price("0.68"))
	if got := targetSize(t, cpu); got != 0 {
		t.Fatalf("target size of cpu = %d, want 0", got)
	}
	nodes := scaleUp(t, cpu, 2, 2)
	if got := targetSize(t, cpu); got != 2 {
		t.Errorf("target size of cpu = %d, want 2", got)
	}
	// kubectl get np shows what the autoscaler sees.
	poll(t, "NodePool "+cpu+" status to show 2 ready nodes", func(ctx context.Context) (bool, error) {
		np := &carvev1.NodePool{}
		if err := cl.Get(ctx, client.ObjectKey{Name: cpu}, np); err != nil {
			return false, err
		}
		st := np.Status
		// Two nodes at 0.68 an hour.
		return st.TargetSize == 2 && st.CurrentSize == 2 && st.ReadySize == 2 && st.CostPerHour == "1.36" && st.ObservedGeneration == np.Generation, nil
	})
	for _, n := range nodes {
		if !strings.HasPrefix(n.Name, cpu+"-") || n.Spec.ProviderID != "kwok://"+cpu+"/"+n.Name {
			t.Errorf("node %s has providerID %q, want kwok://%s/%s", n.Name, n.Spec.ProviderID, cpu, n.Name)
		}
		resp, err := cp.NodeGroupForNode(ctx, &externalgrpc.NodeGroupForNodeRequest{Node: &externalgrpc.ExternalGrpcNode{ProviderID: n.Spec.ProviderID, Name: n.Name, Labels: n.Labels}})
		if err != nil || resp.NodeGroup.GetId() != cpu {
			t.Errorf("NodeGroupForNode(%s) = %v, %v; want cpu", n.Name, resp, err)
		}
	}
	foreign, err := cluster.AddNode(ctx, "foreign-"+utilrand.String(5), corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Delete(context.Background(), foreign) })
	resp, err := cp.NodeGroupForNode(ctx, &externalgrpc.NodeGroupForNodeRequest{Node: &externalgrpc.ExternalGrpcNode{ProviderID: "aws:///us-east-1a/i-0abc", Name: foreign.Name, Labels: foreign.Labels}})
	if err != nil || resp.NodeGroup.GetId() != "" {
		t.Errorf("NodeGroupForNode(foreign) = %v, %v; want an empty id", resp, err)
	}

	price, err := cp.PricingNodePrice(ctx, &externalgrpc.PricingNodePriceRequest{
		Node:           &externalgrpc.ExternalGrpcNode{ProviderID: nodes[0].Spec.ProviderID, Name: nodes[0].Name},
		StartTimestamp: timestamppb.New(time.Unix(0, 0)), EndTimestamp: timestamppb.New(time.Unix(2*3600, 0)),
	})
	if err != nil || !cmp.Equal(price.GetPrice(), 1.36, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })) {
		t.Errorf("PricingNodePrice(2h on cpu) = %v, %v; want 1.36", price, err)
	}

	// Delete exactly nodes[0], twice.
	if err := deleteNodes(ctx, cpu, nodes[0]); err != nil {
		t.Fatalf("deleting %s: %v", nodes[0].Name, err)
	}
	if err := deleteNodes(ctx, cpu, nodes[0]); err != nil {
		t.Errorf("deleting %s again: %v, want success", nodes[0].Name, err)
	}
	poll(t, "node "+nodes[0].Name+" to go", func(ctx context.Context) (bool, error) {
		err := cl.Get(ctx, client.ObjectKeyFromObject(&nodes[0]), &corev1.Node{})
		return apierrors.IsNotFound(err), nil
	})
	waitInstances(t, cpu, nodes[1:])

	// A session on nodes[1] keeps it.
	session := ut.MakePod("notebook-"+utilrand.String(5), "default").Workload(carvev1.WorkloadSession).Container("main", "1", "1Gi").NodeName(nodes[1].Name).Obj()
	poll(t, "the session pod to be created", func(ctx context.Context) (bool, error) {
		// The default ServiceAccount may not exist yet.
		return cl.Create(ctx, session) == nil, nil
	})
	wantCode(t, "deleting a node running a session", deleteNodes(ctx, cpu, nodes[1]), codes.FailedPrecondition, session.Name)
	if got := targetSize(t, cpu); got != 1 {
		t.Errorf("target size of cpu after a refused delete = %d, want 1", got)
	}
	if err := cl.Delete(ctx, session, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	poll(t, "the session pod to go", func(ctx context.Context) (bool, error) {
		return apierrors.IsNotFound(cl.Get(ctx, client.ObjectKeyFromObject(session), &corev1.Pod{})), nil
	})
	if err := deleteNodes(ctx, cpu, nodes[1]); err != nil {
		t.Fatalf("deleting %s after its session ended: %v", nodes[1].Name, err)
	}
	waitInstances(t, cpu, nil)
	if got := targetSize(t, cpu); got != 0 {
		t.Errorf("target size of cpu = %d, want 0", got)
	}
	poll(t, "NodePool "+cpu+" status to show no nodes", func(ctx context.Context) (bool, error) {
		np := &carvev1.NodePool{}
		if err := cl.Get(ctx, client.ObjectKey{Name: cpu}, np); err != nil {
			return false, err
		}
		return np.Status.TargetSize == 0 && np.Status.CurrentSize == 0 && np.Status.ReadySize == 0 && np.Status.CostPerHour == "0", nil
	})
}

func TestSizeGuards(t *testing.T) {
	ctx := t.Context()
	keepOne := newPool(t, ut.MakeNodePool("keep-one", carvev1.NodePoolRoleCPU, 1, 3, "4", "16Gi"))
	basePool := newPool(t, ut.MakeNodePool("base", carvev1.NodePoolRoleBase, 1, 3, "4", "16Gi"))
	keep := scaleUp(t, keepOne, 1, 1)
	wantCode(t, "deleting below minSize", deleteNodes(ctx, keepOne, keep[0]), codes.FailedPrecondition, "minSize 1")
	base := scaleUp(t, basePool, 1, 1)
	wantCode(t, "deleting the Base pool's last node", deleteNodes(ctx, basePool, base[0]), codes.FailedPrecondition, "Base pool keeps its last node")
	wantCode(t, "growing base beyond maxSize", func() error {
		_, err := cp.NodeGroupIncreaseSize(ctx, &externalgrpc.NodeGroupIncreaseSizeRequest{Id: basePool, Delta: 3})
		return err
	}(), codes.FailedPrecondition, "maxSize 3")
	// Nodes registered at once: DecreaseTargetSize may not take them.
	wantCode(t, "decreasing the target size below registered nodes", func() error {
		_, err := cp.NodeGroupDecreaseTargetSize(ctx, &externalgrpc.NodeGroupDecreaseTargetSizeRequest{Id: basePool, Delta: -1})
		return err
	}(), codes.FailedPrecondition, "registered")
	waitInstances(t, keepOne, keep)
	waitInstances(t, basePool, base)
}

// The autoscaler deletes one node per call, several calls at once: with
// minSize 1, four parallel deletes of four nodes let exactly three through.
func TestParallelDeletesKeepMinSize(t *testing.T) {
	ctx := t.Context()
	parallel := newPool(t, ut.MakeNodePool("parallel", carvev1.NodePoolRoleCPU, 1, 4, "2", "8Gi"))
	nodes := scaleUp(t, parallel, 4, 4)
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = deleteNodes(ctx, parallel, n) })
	}
	wg.Wait()
	got := map[codes.Code]int{}
	var kept []corev1.Node
	for i, err := range errs {
		got[status.Code(err)]++
		if err != nil {
			kept = append(kept, nodes[i])
			wantCode(t, "the refused parallel delete", err, codes.FailedPrecondition, "below minSize 1")
		}
	}
	if diff := cmp.Diff(map[codes.Code]int{codes.OK: 3, codes.FailedPrecondition: 1}, got); diff != "" {
		t.Fatalf("outcomes of 4 parallel deletes (-want +got):\n%s", diff)
	}
	waitInstances(t, parallel, kept)
	if got := targetSize(t, parallel); got != 1 {
		t.Errorf("target size of %s = %d, want 1", parallel, got)
	}
}

func TestBadInput(t *testing.T) {
	ctx := t.Context()
	cpu := newPool(t, ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 5, "16", "64Gi"))
	other := newPool(t, ut.MakeNodePool("other", carvev1.NodePoolRoleCPU, 0, 5, "16", "64Gi"))
	_, err := cp.NodeGroupTargetSize(ctx, &externalgrpc.NodeGroupTargetSizeRequest{Id: "nope"})
	wantCode(t, "TargetSize of an unknown group", err, codes.NotFound, "nope")
	_, err = cp.NodeGroupIncreaseSize(ctx, &externalgrpc.NodeGroupIncreaseSizeRequest{Id: "nope", Delta: 1})
	wantCode(t, "IncreaseSize of an unknown group", err, codes.NotFound, "nope")
	_, err = cp.NodeGroupNodes(ctx, &externalgrpc.NodeGroupNodesRequest{Id: "nope"})
	wantCode(t, "Nodes of an unknown group", err, codes.NotFound, "nope")
	_, err = cp.NodeGroupTemplateNodeInfo(ctx, &externalgrpc.NodeGroupTemplateNodeInfoRequest{Id: "nope"})
	wantCode(t, "Template of an unknown group", err, codes.NotFound, "nope")
	_, err = cp.NodeGroupTargetSize(ctx, &externalgrpc.NodeGroupTargetSizeRequest{})
	wantCode(t, "TargetSize without an id", err, codes.InvalidArgument, "empty")
	_, err = cp.NodeGroupIncreaseSize(ctx, &externalgrpc.NodeGroupIncreaseSizeRequest{Id: cpu, Delta: -2})
	wantCode(t, "negative delta", err, codes.InvalidArgument, "delta must be positive")
	_, err = cp.NodeGroupDecreaseTargetSize(ctx, &externalgrpc.NodeGroupDecreaseTargetSizeRequest{Id: cpu, Delta: 2})
	wantCode(t, "positive decrease", err, codes.InvalidArgument, "delta must be negative")
	_, err = cp.NodeGroupDeleteNodes(ctx, &externalgrpc.NodeGroupDeleteNodesRequest{Id: cpu, Nodes: []*externalgrpc.ExternalGrpcNode{{}}})
	wantCode(t, "deleting a node without providerID or name", err, codes.InvalidArgument, "no providerID")
	_, err = cp.NodeGroupDeleteNodes(ctx, &externalgrpc.NodeGroupDeleteNodesRequest{Id: cpu, Nodes: []*externalgrpc.ExternalGrpcNode{{ProviderID: "kwok://" + other + "/" + other + "-zzzzz", Name: other + "-zzzzz"}}})
	wantCode(t, "deleting another group's node", err, codes.InvalidArgument, "belongs to node group "+other)

	for _, id := range []string{"", "kwok://", "kwok://" + cpu, "kwok://" + cpu + "/", "kwok://" + cpu + "/a/b", "kwok://nope/nope-1", "aws:///zone/i-1", "%%%"} {
		resp, err := cp.NodeGroupForNode(ctx, &externalgrpc.NodeGroupForNodeRequest{Node: &externalgrpc.ExternalGrpcNode{ProviderID: id, Name: "odd"}})
		if err != nil || resp.NodeGroup.GetId() != "" {
			t.Errorf("NodeGroupForNode(providerID %q) = %v, %v; want an empty id", id, resp, err)
		}
	}
	_, err = cp.PricingPodPrice(ctx, &externalgrpc.PricingPodPriceRequest{PodBytes: []byte("not a pod"), StartTimestamp: timestamppb.Now(), EndTimestamp: timestamppb.Now()})
	wantCode(t, "pricing a garbled pod", err, codes.InvalidArgument, "pod_bytes")
}
