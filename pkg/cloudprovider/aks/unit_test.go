package aks

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/cloudcall"
)

const vm0 = "azure:///subscriptions/s1/resourceGroups/mc_rg_c_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/aks-gpu-12345678-vmss/virtualMachines/0"

func TestParseProviderID(t *testing.T) {
	good := map[string]vmID{
		vm0:                  {"s1", "mc_rg_c_eastus", "aks-gpu-12345678-vmss", "0"},
		strings.ToLower(vm0): {"s1", "mc_rg_c_eastus", "aks-gpu-12345678-vmss", "0"},
		strings.Replace(vm0, "mc_rg", "MC_rg", 1): {"s1", "MC_rg_c_eastus", "aks-gpu-12345678-vmss", "0"},
	}
	for id, want := range good {
		got, err := parseProviderID(id)
		if err != nil || got != want {
			t.Errorf("parseProviderID(%q) = %+v, %v; want %+v", id, got, err, want)
		}
	}
	if a, _ := parseProviderID(vm0); a.key() != func() vmID { v, _ := parseProviderID(strings.Replace(vm0, "mc_rg", "MC_RG", 1)); return v }().key() {
		t.Errorf("ids differing in the resource group's case have different keys")
	}
	for _, id := range []string{
		"", "azure:", "azure://", "azure:///", "kwok://p/n",
		strings.TrimPrefix(vm0, "azure://"),
		strings.Replace(vm0, "azure:///", "azure://x/", 1),
		strings.Replace(vm0, "/virtualMachines/0", "/virtualMachines/", 1),
		strings.Replace(vm0, "/virtualMachines/0", "", 1),
		strings.Replace(vm0, "Microsoft.Compute", "Microsoft.Network", 1),
		"azure:///subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/aks-gpu-12345678-vms0",
		vm0 + "/",
	} {
		if _, err := parseProviderID(id); err == nil {
			t.Errorf("parseProviderID(%q) accepted it", id)
		}
	}
}

func TestNodeProviderID(t *testing.T) {
	got, _, err := nodeProviderID("/subscriptions/s1/resourceGroups/MC_rg_c_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/aks-gpu-12345678-vmss/virtualMachines/0")
	if err != nil || got != vm0 {
		t.Errorf("nodeProviderID = %q, %v; want %q (resource group in lower case)", got, err, vm0)
	}
}

func TestScaleSetOfPool(t *testing.T) {
	for _, c := range []struct {
		scaleSet, pool string
		want           bool
	}{
		{"aks-gpu-12345678-vmss", "gpu", true},
		{"AKS-GPU-12345678-VMSS", "gpu", true},
		{"aks-gpu2-12345678-vmss", "gpu", false},
		{"aks-gpu-12345678-vmss", "cpu", false},
		{"my-own-vmss", "gpu", false},
	} {
		if got := scaleSetOfPool(c.scaleSet, c.pool); got != c.want {
			t.Errorf("scaleSetOfPool(%q, %q) = %v, want %v", c.scaleSet, c.pool, got, c.want)
		}
	}
}

// responseError is an ARM error as the SDK makes it from a response.
func responseError(status int, header http.Header, body string) error {
	if header == nil {
		header = http.Header{}
	}
	u, _ := url.Parse("https://management.azure.com/subscriptions/s/x")
	resp := &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader(body)), Request: &http.Request{Method: "PUT", URL: u}}
	return runtime.NewResponseError(resp)
}

func armBody(code, msg string, details ...string) string {
	ds := ""
	for i, d := range details {
		if i > 0 {
			ds += ","
		}
		ds += fmt.Sprintf(`{"code":%q,"message":"inner"}`, d)
	}
	return fmt.Sprintf(`{"error":{"code":%q,"message":%q,"details":[%s]}}`, code, msg, ds)
}

func TestClassify(t *testing.T) {
	for name, c := range map[string]struct {
		err  error
		want cloudcall.Verdict
	}{
		"429 Retry-After seconds": {responseError(429, http.Header{"Retry-After": {"7"}}, armBody("TooManyRequests", "slow down")),
			cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true, RetryAfter: 7 * time.Second}},
		"429 retry-after-ms": {responseError(429, http.Header{"Retry-After-Ms": {"1500"}}, armBody("TooManyRequests", "")),
			cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true, RetryAfter: 1500 * time.Millisecond}},
		"429 capped": {responseError(429, http.Header{"Retry-After": {"86400"}}, ""),
			cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true, RetryAfter: maxRetryAfter}},
		"503":          {responseError(503, nil, armBody("ServiceUnavailable", "")), cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true}},
		"404":          {responseError(404, nil, armBody("NotFound", "no pool")), cloudcall.Verdict{Kind: cloudprovider.ErrNotFound}},
		"412 retried":  {responseError(412, nil, armBody("PreconditionFailed", "")), cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true}},
		"409 busy":     {responseError(409, nil, armBody("OperationNotAllowed", "Another operation is in progress")), cloudcall.Verdict{Kind: cloudprovider.ErrTransient}},
		"400 quota":    {responseError(400, nil, armBody("QuotaExceeded", "cores")), cloudcall.Verdict{Kind: cloudprovider.ErrQuotaExceeded}},
		"nested quota": {responseError(400, nil, armBody("ReconcileVMSSAgentPoolFailed", "x", "AllocationFailed")), cloudcall.Verdict{Kind: cloudprovider.ErrQuotaExceeded}},
		"core quota as OperationNotAllowed": {responseError(409, nil, armBody("OperationNotAllowed", "results in exceeding approved standardDSv5Family Cores quota")),
			cloudcall.Verdict{Kind: cloudprovider.ErrQuotaExceeded}},
		"400 other":      {responseError(400, nil, armBody("InvalidParameter", "count")), cloudcall.Verdict{Kind: cloudprovider.ErrInvalid}},
		"403":            {responseError(403, nil, armBody("AuthorizationFailed", "no write")), cloudcall.Verdict{}},
		"network":        {&net.OpError{Op: "dial", Err: errors.New("connection refused")}, cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true}},
		"own ErrInvalid": {cloudprovider.Errorf(cloudprovider.ErrInvalid, "enableAutoScaling"), cloudcall.Verdict{Kind: cloudprovider.ErrInvalid}},
		"unknown":        {errors.New("credential unavailable"), cloudcall.Verdict{}},
	} {
		got := classify(c.err)
		if got.Kind != c.want.Kind || got.Retry != c.want.Retry || got.RetryAfter != c.want.RetryAfter {
			t.Errorf("%s: classify = %+v, want %+v", name, got, c.want)
		}
	}
}

func TestInstanceError(t *testing.T) {
	ie := instanceError(responseError(200, nil, armBody("ReconcileVMSSAgentPoolFailed", "failed", "ZonalAllocationFailed")), "raising")
	if ie.Code != "ReconcileVMSSAgentPoolFailed" || !ie.OutOfResources || !strings.Contains(ie.Message, "ZonalAllocationFailed") {
		t.Errorf("instanceError = %+v", ie)
	}
	ie = instanceError(responseError(200, nil, armBody("VMExtensionProvisioningError", "bootstrap failed")), "raising")
	if ie.OutOfResources {
		t.Errorf("a provisioning error counts as out of resources: %+v", ie)
	}
	// The one-line form names the call, not a dump of the response.
	if msg := tidy(responseError(409, nil, armBody("OperationNotAllowed", "busy"))).Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "OperationNotAllowed: busy") {
		t.Errorf("tidy: %q", msg)
	}
}

func testPool(role carvev1.NodePoolRole, labels map[string]string, taints []corev1.Taint, capacity corev1.ResourceList) *carvev1.NodePool {
	return &carvev1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: "gpus"},
		Spec: carvev1.NodePoolSpec{Role: role, Platform: carvev1.Platform{Type: carvev1.PlatformAKS, AKS: &carvev1.AKSPlatform{SubscriptionID: "s1", ResourceGroup: "rg", Cluster: "c", AgentPool: "gpu"}},
			Template: carvev1.NodeTemplate{Labels: labels, Taints: taints, Capacity: capacity}},
	}
}

func testAgentPool(size string, labels map[string]string, taints ...string) *armcontainerservice.AgentPool {
	ap := &armcontainerservice.AgentPool{Name: to.Ptr("gpu"), Properties: &armcontainerservice.ManagedClusterAgentPoolProfileProperties{
		Count: to.Ptr[int32](1), VMSize: to.Ptr(size), OSType: to.Ptr(armcontainerservice.OSTypeLinux),
		Mode: to.Ptr(armcontainerservice.AgentPoolModeUser), NodeTaints: to.SliceOfPtrs(taints...), NodeLabels: map[string]*string{},
	}}
	for k, v := range labels {
		ap.Properties.NodeLabels[k] = to.Ptr(v)
	}
	return ap
}

func TestTemplateDifferences(t *testing.T) {
	ref := poolRef{clusterRef{"s1", "rg", "c"}, "gpu"}
	gpu := corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1"), corev1.ResourceCPU: resource.MustParse("6")}
	noSchedule := corev1.Taint{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}
	for name, c := range map[string]struct {
		pool *carvev1.NodePool
		ap   *armcontainerservice.AgentPool
		want []string
	}{
		"agree": {
			testPool(carvev1.NodePoolRoleGPU, map[string]string{"node.kubernetes.io/instance-type": "Standard_NC6s_v3", "kubernetes.azure.com/agentpool": "gpu"}, []corev1.Taint{noSchedule}, gpu),
			testAgentPool("Standard_NC6s_v3", map[string]string{carvev1.LabelNodePool: "gpus", cloudprovider.LabelAccelerator: "gpu"}, "nvidia.com/gpu=present:NoSchedule"),
			nil,
		},
		"everything differs": {
			testPool(carvev1.NodePoolRoleGPU, map[string]string{"team": "ml", "node.kubernetes.io/instance-type": "Standard_NC24ads_A100_v4", "kubernetes.azure.com/agentpool": "other"}, []corev1.Taint{noSchedule}, gpu),
			testAgentPool("Standard_D4s_v5", map[string]string{"team": "data", "extra": "yes"}, "dedicated=ml:NoExecute", "bad-taint"),
			[]string{
				`VM size Standard_D4s_v5 has no GPU, but the template is of a GPU pool`,
				`label carve.dev/accelerator: the template says "gpu", the agent pool does not set it (add it to the agent pool's nodeLabels)`,
				`label carve.dev/node-pool: the template says "gpus", the agent pool does not set it (add it to the agent pool's nodeLabels)`,
				`label extra: the agent pool sets "yes", the template does not`,
				`label kubernetes.azure.com/agentpool: AKS sets "gpu" on the agent pool's nodes, the template says "other"`,
				`label node.kubernetes.io/instance-type: AKS sets "Standard_D4s_v5" on the agent pool's nodes, the template says "Standard_NC24ads_A100_v4"`,
				`label team: the agent pool says "data", the template "ml"`,
				`taint "bad-taint" of the agent pool does not read as key=value:Effect`,
				`taint dedicated=ml:NoExecute: on the agent pool's nodes, not in the template`,
				`taint nvidia.com/gpu=present:NoSchedule: in the template, not on the agent pool's nodes`,
			},
		},
		"GPU size, CPU template": {
			testPool(carvev1.NodePoolRoleCPU, nil, nil, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("6")}),
			testAgentPool("Standard_NC6s_v3", map[string]string{carvev1.LabelNodePool: "gpus"}),
			[]string{`VM size Standard_NC6s_v3 has GPUs, but the template lists no nvidia.com/gpu capacity`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, templateDifferences(ref, c.pool, c.ap)); diff != "" {
				t.Errorf("templateDifferences (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlaceholders(t *testing.T) {
	st := newPoolState(poolRef{clusterRef{"s", "rg", "c"}, "p"})
	seq := 0
	newID := func() string { seq++; return fmt.Sprint("ph-", seq) }
	now := time.Now()
	st.count = 3
	st.reconcile(now, newID)
	if diff := cmp.Diff([]string{"ph-1", "ph-2", "ph-3"}, phIDs(st.placeholders)); diff != "" {
		t.Fatalf("placeholders (-want +got):\n%s", diff)
	}
	// One machine comes up: one placeholder goes, the others keep their ids.
	st.setMachines([]*armcontainerservice.Machine{{Name: to.Ptr("m0"), Properties: &armcontainerservice.MachineProperties{ResourceID: to.Ptr(strings.TrimPrefix(vm0, "azure://"))}}}, now)
	st.reconcile(now, newID)
	if diff := cmp.Diff([]string{"ph-1", "ph-2"}, phIDs(st.placeholders)); diff != "" {
		t.Fatalf("placeholders after a machine came up (-want +got):\n%s", diff)
	}
	// The creation failed and Azure took its count back: the failed
	// placeholders stay, as extras, so that the autoscaler sees the error.
	ie := &cloudprovider.InstanceError{Code: "QuotaExceeded", OutOfResources: true}
	for i := range st.placeholders {
		st.placeholders[i].err = ie
	}
	st.adoptCount(1)
	st.reconcile(now, newID)
	if len(st.placeholders) != 0 || len(st.extras) != 2 || st.target() != 3 {
		t.Fatalf("after the count went back: %d placeholders, %d extras, target %d; want 0, 2, 3", len(st.placeholders), len(st.extras), st.target())
	}
	st.reconcile(now.Add(extrasTTL+time.Second), newID)
	if len(st.extras) != 0 {
		t.Errorf("extras outlived extrasTTL")
	}
}

func phIDs(ps []placeholder) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.id)
	}
	return out
}

func TestTemplateNode(t *testing.T) {
	p := &Platform{pools: map[poolRef]*poolState{}}
	pool := testPool(carvev1.NodePoolRoleGPU, map[string]string{"team": "ml"}, nil, corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")})
	ref, _ := refOf(pool)
	node := p.TemplateNode(pool, "n1")
	if node.Labels[LabelAgentPool] != "gpu" || node.Labels[LabelAccelerator] != "nvidia" {
		t.Errorf("template node before the agent pool is read: labels %v", node.Labels)
	}
	st := newPoolState(ref)
	st.known, st.found = true, true
	st.ap = testAgentPool("Standard_NC6s_v3", map[string]string{"team": "data", "zone": "a"}, "sku=gpu:NoSchedule")
	st.ap.Properties.ScaleSetPriority = to.Ptr(armcontainerservice.ScaleSetPrioritySpot)
	p.pools[ref.key()] = st
	node = p.TemplateNode(pool, "n1")
	for k, v := range map[string]string{
		"team": "ml", "zone": "a", corev1.LabelInstanceTypeStable: "Standard_NC6s_v3", LabelScaleSetPriority: "spot",
		LabelMode: "user", carvev1.LabelNodePool: "gpus", corev1.LabelHostname: "n1",
	} {
		if node.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, node.Labels[k], v)
		}
	}
	want := []corev1.Taint{{Key: "sku", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}, {Key: LabelScaleSetPriority, Value: "spot", Effect: corev1.TaintEffectNoSchedule}}
	if diff := cmp.Diff(want, node.Spec.Taints); diff != "" {
		t.Errorf("taints (-want +got):\n%s", diff)
	}
}
