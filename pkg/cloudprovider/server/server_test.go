package server_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
	"github.com/carve-dev/carve/pkg/cloudprovider/kwok"
	"github.com/carve-dev/carve/pkg/cloudprovider/run"
	"github.com/carve-dev/carve/pkg/cloudprovider/server"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// newServer is a Server over the kwok platform and a fake API holding objs;
// the fake is both the cache and the live reader.
func newServer(t *testing.T, objs ...client.Object) (*server.Server, client.Client) {
	t.Helper()
	scheme, err := run.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithIndex(&corev1.Pod{}, "spec.nodeName", func(o client.Object) []string { return []string{o.(*corev1.Pod).Spec.NodeName} }).
		Build()
	return server.NewServer(c, c, map[carvev1.PlatformType]cloudprovider.Platform{carvev1.PlatformKwok: kwok.New(c, c)}), c
}

func codeOf(err error) codes.Code { return status.Code(err) }

// grow asks for n nodes of pool and returns the pool's nodes.
func grow(t *testing.T, s *server.Server, c client.Client, pool string, n int32) []corev1.Node {
	t.Helper()
	ctx := context.Background()
	if _, err := s.NodeGroupIncreaseSize(ctx, &externalgrpc.NodeGroupIncreaseSizeRequest{Id: pool, Delta: n}); err != nil {
		t.Fatalf("IncreaseSize(%s, %d): %v", pool, n, err)
	}
	nodes := &corev1.NodeList{}
	if err := c.List(ctx, nodes, client.MatchingLabels{carvev1.LabelNodePool: pool}); err != nil {
		t.Fatal(err)
	}
	return nodes.Items
}

func grpcNode(n corev1.Node) *externalgrpc.ExternalGrpcNode {
	return &externalgrpc.ExternalGrpcNode{ProviderID: n.Spec.ProviderID, Name: n.Name, Labels: n.Labels, Annotations: n.Annotations}
}

func TestDeleteNodesConcurrentKeepsMinSize(t *testing.T) {
	ctx := context.Background()
	s, c := newServer(t, ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 1, 10, "4", "16Gi").Obj())
	nodes := grow(t, s, c, "cpu", 4)
	if len(nodes) != 4 {
		t.Fatalf("got %d nodes, want 4", len(nodes))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Go(func() {
			_, errs[i] = s.NodeGroupDeleteNodes(ctx, &externalgrpc.NodeGroupDeleteNodesRequest{Id: "cpu", Nodes: []*externalgrpc.ExternalGrpcNode{grpcNode(n)}})
		})
	}
	wg.Wait()
	got := map[codes.Code]int{}
	for _, err := range errs {
		got[codeOf(err)]++
	}
	if diff := cmp.Diff(map[codes.Code]int{codes.OK: 3, codes.FailedPrecondition: 1}, got); diff != "" {
		t.Errorf("outcomes of 4 parallel deletes with minSize 1 (-want +got):\n%s", diff)
	}
	ts, err := s.NodeGroupTargetSize(ctx, &externalgrpc.NodeGroupTargetSizeRequest{Id: "cpu"})
	if err != nil || ts.TargetSize != 1 {
		t.Errorf("TargetSize = %v, %v; want 1", ts, err)
	}
}

func TestDeleteNodesIdempotentAndGuarded(t *testing.T) {
	ctx := context.Background()
	s, c := newServer(t,
		ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 10, "4", "16Gi").Obj(),
		ut.MakeNodePool("base", carvev1.NodePoolRoleBase, 1, 3, "4", "16Gi").Obj(),
	)
	nodes := grow(t, s, c, "cpu", 2)
	base := grow(t, s, c, "base", 1)
	del := func(pool string, n corev1.Node) error {
		_, err := s.NodeGroupDeleteNodes(ctx, &externalgrpc.NodeGroupDeleteNodesRequest{Id: pool, Nodes: []*externalgrpc.ExternalGrpcNode{grpcNode(n)}})
		return err
	}
	// A session on nodes[1] keeps it.
	session := ut.MakePod("s", "ns").Workload(carvev1.WorkloadSession).NodeName(nodes[1].Name).Obj()
	session.Status.Phase = corev1.PodRunning
	if err := c.Create(ctx, session); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pool string
		node corev1.Node
		want codes.Code
	}{
		{"delete", "cpu", nodes[0], codes.OK},
		{"again", "cpu", nodes[0], codes.OK},
		{"session", "cpu", nodes[1], codes.FailedPrecondition},
		{"base last node", "base", base[0], codes.FailedPrecondition},
		{"wrong group", "base", nodes[1], codes.InvalidArgument},
		{"unknown group", "nope", nodes[1], codes.NotFound},
	}
	for _, tc := range tests {
		if got := codeOf(del(tc.pool, tc.node)); got != tc.want {
			t.Errorf("%s: code %v, want %v (err %v)", tc.name, got, tc.want, del(tc.pool, tc.node))
		}
	}
}

func TestIncreaseAndDecrease(t *testing.T) {
	ctx := context.Background()
	s, c := newServer(t, ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 3, "4", "16Gi").Obj())
	grow(t, s, c, "cpu", 2)
	for _, tc := range []struct {
		delta int32
		want  codes.Code
	}{{2, codes.FailedPrecondition}, {0, codes.InvalidArgument}, {-1, codes.InvalidArgument}, {1, codes.OK}} {
		_, err := s.NodeGroupIncreaseSize(ctx, &externalgrpc.NodeGroupIncreaseSizeRequest{Id: "cpu", Delta: tc.delta})
		if got := codeOf(err); got != tc.want {
			t.Errorf("IncreaseSize(%d): code %v, want %v (%v)", tc.delta, got, tc.want, err)
		}
	}
	// All three are registered: decreasing the target must not take them.
	_, err := s.NodeGroupDecreaseTargetSize(ctx, &externalgrpc.NodeGroupDecreaseTargetSizeRequest{Id: "cpu", Delta: -1})
	if got := codeOf(err); got != codes.FailedPrecondition {
		t.Errorf("DecreaseTargetSize(-1): code %v, want FailedPrecondition (%v)", got, err)
	}
	_, err = s.NodeGroupDecreaseTargetSize(ctx, &externalgrpc.NodeGroupDecreaseTargetSizeRequest{Id: "cpu", Delta: 1})
	if got := codeOf(err); got != codes.InvalidArgument {
		t.Errorf("DecreaseTargetSize(1): code %v, want InvalidArgument (%v)", got, err)
	}
	resp, err := s.NodeGroupNodes(ctx, &externalgrpc.NodeGroupNodesRequest{Id: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Instances) != 3 {
		t.Errorf("NodeGroupNodes: %d instances, want 3", len(resp.Instances))
	}
}

// The template the autoscaler gets and the nodes the pool gets must agree.
func TestTemplateMatchesCreatedNodes(t *testing.T) {
	ctx := context.Background()
	pool := ut.MakeNodePool("gpu", carvev1.NodePoolRoleGPU, 0, 3, "8", "64Gi").
		Capacity("nvidia.com/gpu", "2").TemplateLabel(cloudprovider.LabelGPUProduct, "A100").
		Taint("nvidia.com/gpu", "present", corev1.TaintEffectNoSchedule).Obj()
	s, c := newServer(t, pool)
	resp, err := s.NodeGroupTemplateNodeInfo(ctx, &externalgrpc.NodeGroupTemplateNodeInfoRequest{Id: "gpu"})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &corev1.Node{}
	if err := tmpl.Unmarshal(resp.NodeBytes); err != nil {
		t.Fatal(err)
	}
	node := grow(t, s, c, "gpu", 1)[0]
	if tmpl.Labels[cloudprovider.LabelAccelerator] != "A100" {
		t.Errorf("template label %s = %q, want A100", cloudprovider.LabelAccelerator, tmpl.Labels[cloudprovider.LabelAccelerator])
	}
	if drift := ut.TemplateDrift(tmpl, &node); drift != "" {
		t.Errorf("the template does not match the node the pool made:\n%s", drift)
	}
}

func TestNodeGroupForNode(t *testing.T) {
	ctx := context.Background()
	s, _ := newServer(t, ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 3, "4", "16Gi").Obj())
	tests := map[string]struct {
		node *externalgrpc.ExternalGrpcNode
		want string
	}{
		"kwok id":              {&externalgrpc.ExternalGrpcNode{ProviderID: "kwok://cpu/cpu-abcde", Name: "cpu-abcde"}, "cpu"},
		"kwok id, other pool":  {&externalgrpc.ExternalGrpcNode{ProviderID: "kwok://gone/gone-x", Name: "gone-x"}, ""},
		"foreign":              {&externalgrpc.ExternalGrpcNode{ProviderID: "aws:///us-east-1a/i-0123", Name: "ip-10-0-0-1"}, ""},
		"labelled, no id":      {&externalgrpc.ExternalGrpcNode{Name: "n", Labels: map[string]string{carvev1.LabelNodePool: "cpu"}}, ""},
		"labelled, foreign id": {&externalgrpc.ExternalGrpcNode{ProviderID: "aws:///x/i-1", Labels: map[string]string{carvev1.LabelNodePool: "cpu"}}, "cpu"},
		"malformed kwok id":    {&externalgrpc.ExternalGrpcNode{ProviderID: "kwok://", Name: "x"}, ""},
		"kwok id with slashes": {&externalgrpc.ExternalGrpcNode{ProviderID: "kwok://cpu/a/b", Name: "x"}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp, err := s.NodeGroupForNode(ctx, &externalgrpc.NodeGroupForNodeRequest{Node: tc.node})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.NodeGroup.GetId(); got != tc.want {
				t.Errorf("group = %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := s.NodeGroupForNode(ctx, &externalgrpc.NodeGroupForNodeRequest{}); codeOf(err) != codes.InvalidArgument {
		t.Errorf("no node: %v, want InvalidArgument", err)
	}
}

// TestGetOptionsLeavesTheAutoscalersOwn: a pool without options of its own
// answers with no options at all, so that the autoscaler keeps every one of
// its flags, also those the protocol cannot carry (max-node-startup-time);
// echoing the defaults would zero those.
func TestGetOptionsLeavesTheAutoscalersOwn(t *testing.T) {
	ctx := context.Background()
	s, _ := newServer(t, ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 3, "4", "16Gi").Obj())
	defaults := &externalgrpc.NodeGroupAutoscalingOptions{ScaleDownUtilizationThreshold: 0.5, ScaleDownUnneededDuration: durationpb.New(600e9)}
	resp, err := s.NodeGroupGetOptions(ctx, &externalgrpc.NodeGroupAutoscalingOptionsRequest{Id: "cpu", Defaults: defaults})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetNodeGroupAutoscalingOptions(); got != nil {
		t.Errorf("options = %v, want none (the autoscaler's own)", got)
	}
	if _, err := s.NodeGroupGetOptions(ctx, &externalgrpc.NodeGroupAutoscalingOptionsRequest{Id: "nope"}); codeOf(err) != codes.NotFound {
		t.Errorf("unknown group: %v, want NotFound", err)
	}
}

func TestPricingRPCs(t *testing.T) {
	ctx := context.Background()
	s, c := newServer(t,
		ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 3, "16", "64Gi").Price("0.8").Obj(),
		ut.MakeNodePool("big", carvev1.NodePoolRoleCPU, 0, 3, "64", "256Gi").Price("2.4").Obj(),
	)
	node := grow(t, s, c, "cpu", 1)[0]
	start, end := timestamppb.New(time.Unix(0, 0)), timestamppb.New(time.Unix(3*3600, 0))
	np, err := s.PricingNodePrice(ctx, &externalgrpc.PricingNodePriceRequest{Node: grpcNode(node), StartTimestamp: start, EndTimestamp: end})
	if err != nil || math.Abs(np.Price-2.4) > 1e-9 {
		t.Errorf("PricingNodePrice(3h of cpu) = %v, %v; want 2.4", np, err)
	}
	// Bound to the cpu node: a quarter of it, though big would be cheaper.
	bound, err := ut.MakePod("p", "ns").Container("c", "4", "8Gi").NodeName(node.Name).Obj().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	pp, err := s.PricingPodPrice(ctx, &externalgrpc.PricingPodPriceRequest{PodBytes: bound, StartTimestamp: start, EndTimestamp: end})
	if err != nil || math.Abs(pp.Price-0.6) > 1e-9 {
		t.Errorf("PricingPodPrice(bound to cpu, 3h) = %v, %v; want 0.6", pp, err)
	}
	unbound, err := ut.MakePod("p", "ns").Container("c", "4", "8Gi").Obj().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	pp, err = s.PricingPodPrice(ctx, &externalgrpc.PricingPodPriceRequest{PodBytes: unbound, StartTimestamp: start, EndTimestamp: end})
	if err != nil || math.Abs(pp.Price-0.45) > 1e-9 {
		t.Errorf("PricingPodPrice(unbound, 3h) = %v, %v; want 0.45 (cheapest: big)", pp, err)
	}
	if _, err := s.PricingPodPrice(ctx, &externalgrpc.PricingPodPriceRequest{PodBytes: unbound}); codeOf(err) != codes.InvalidArgument {
		t.Errorf("no window: %v, want InvalidArgument", err)
	}
	if _, err := s.PricingNodePrice(ctx, &externalgrpc.PricingNodePriceRequest{Node: &externalgrpc.ExternalGrpcNode{ProviderID: "aws:///z/i-1"}, StartTimestamp: start, EndTimestamp: end}); codeOf(err) != codes.NotFound {
		t.Errorf("foreign node: %v, want NotFound", err)
	}
}

// Nodes asked for but not registered yet may be forgotten by
// DecreaseTargetSize; registered ones may not, even when the cache has not
// seen them register: "registered" is read from the API server.
func TestDecreaseTargetSizeForgetsOnlyUnregistered(t *testing.T) {
	ctx := context.Background()
	scheme, err := run.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	pool := ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 5, "4", "16Gi").Obj()
	// kwok creates its nodes in cloud, which stands for the cloud's API
	// here; the cluster's API (api) and the cache show no Node until one
	// registers.
	cloud := fake.NewClientBuilder().WithScheme(scheme).Build()
	api := fake.NewClientBuilder().WithScheme(scheme).Build()
	cache := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pool).Build()
	s := server.NewServer(cache, api, map[carvev1.PlatformType]cloudprovider.Platform{carvev1.PlatformKwok: kwok.New(cloud, cache)})
	if _, err := s.NodeGroupIncreaseSize(ctx, &externalgrpc.NodeGroupIncreaseSizeRequest{Id: "cpu", Delta: 3}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.NodeGroupNodes(ctx, &externalgrpc.NodeGroupNodesRequest{Id: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range resp.Instances {
		if in.Status.GetInstanceState() != externalgrpc.InstanceStatus_instanceCreating {
			t.Errorf("instance %s is %v, want instanceCreating", in.Id, in.Status.GetInstanceState())
		}
	}
	if _, err := s.NodeGroupDecreaseTargetSize(ctx, &externalgrpc.NodeGroupDecreaseTargetSizeRequest{Id: "cpu", Delta: -2}); err != nil {
		t.Fatalf("DecreaseTargetSize(-2) with 3 unregistered: %v", err)
	}
	ts, err := s.NodeGroupTargetSize(ctx, &externalgrpc.NodeGroupTargetSizeRequest{Id: "cpu"})
	if err != nil || ts.TargetSize != 1 {
		t.Errorf("TargetSize = %v, %v; want 1", ts, err)
	}
	left := &corev1.NodeList{}
	if err := cloud.List(ctx, left); err != nil || len(left.Items) != 1 {
		t.Fatalf("nodes left in the cloud: %d, %v; want 1", len(left.Items), err)
	}
	// The last one registers: the API server has its Node, the cache not
	// yet. It may not be forgotten.
	registered := left.Items[0].DeepCopy()
	registered.ResourceVersion = ""
	if err := api.Create(ctx, registered); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NodeGroupDecreaseTargetSize(ctx, &externalgrpc.NodeGroupDecreaseTargetSizeRequest{Id: "cpu", Delta: -1}); codeOf(err) != codes.FailedPrecondition {
		t.Errorf("DecreaseTargetSize(-1) of a node that registered before the cache saw it: %v, want FailedPrecondition", err)
	}
	if err := cloud.List(ctx, left); err != nil || len(left.Items) != 1 {
		t.Errorf("nodes left in the cloud: %d, %v; want the registered one kept", len(left.Items), err)
	}
}

// refreshing is a platform that caches: it records the pools each Refresh
// is given and fails when told to.
type refreshing struct {
	cloudprovider.Platform
	mu    sync.Mutex
	calls [][]string
	fail  error
}

func (r *refreshing) Refresh(_ context.Context, pools []*carvev1.NodePool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, p := range pools {
		names = append(names, p.Name)
	}
	r.calls = append(r.calls, names)
	return r.fail
}

// TestRefreshReadsEachCachingPlatformOnce: one Refresh RPC makes one
// Refresh call per caching platform, with all of that platform's pools and
// none of another's; a failed refresh reaches the autoscaler as an error.
func TestRefreshReadsEachCachingPlatformOnce(t *testing.T) {
	eks := func(name string) *carvev1.NodePool {
		p := ut.MakeNodePool(name, carvev1.NodePoolRoleCPU, 0, 10, "4", "16Gi").Obj()
		p.Spec.Platform = carvev1.Platform{Type: carvev1.PlatformEKS, EKS: &carvev1.EKSPlatform{Region: "eu-west-1", AutoScalingGroup: name}}
		return p
	}
	s, c := newServer(t, eks("gpu"), eks("cpu"), ut.MakeNodePool("kw", carvev1.NodePoolRoleCPU, 0, 10, "4", "16Gi").Obj())
	r := &refreshing{}
	s = server.NewServer(c, c, map[carvev1.PlatformType]cloudprovider.Platform{
		carvev1.PlatformKwok: kwok.New(c, c), carvev1.PlatformEKS: r,
	})
	if _, err := s.Refresh(context.Background(), &externalgrpc.RefreshRequest{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"cpu", "gpu"}}, r.calls); diff != "" {
		t.Errorf("Refresh calls (-want +got):\n%s", diff)
	}
	r.fail = cloudprovider.Errorf(cloudprovider.ErrTransient, "throttled")
	_, err := s.Refresh(context.Background(), &externalgrpc.RefreshRequest{})
	if codeOf(err) != codes.Unavailable {
		t.Errorf("Refresh after a failed platform refresh = %v, want Unavailable", err)
	}
}
