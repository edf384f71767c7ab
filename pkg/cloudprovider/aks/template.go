package aks

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	corev1 "k8s.io/api/core/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
)

const (
	// LabelAgentPool is the label AKS puts on every node: its agent pool.
	LabelAgentPool = "kubernetes.azure.com/agentpool"
	// LabelAccelerator is AKS's GPU label (value "nvidia" on GPU VM sizes).
	LabelAccelerator = "kubernetes.azure.com/accelerator"
	// LabelMode is the agent pool's mode, "user" or "system".
	LabelMode = "kubernetes.azure.com/mode"
	// LabelScaleSetPriority is "spot" on nodes of spot agent pools, which
	// AKS also taints with it (NoSchedule).
	LabelScaleSetPriority = "kubernetes.azure.com/scalesetpriority"

	labelBetaInstanceType = "beta.kubernetes.io/instance-type"
	resourceNvidiaGPU     = corev1.ResourceName("nvidia.com/gpu")
)

// kubeletLabels are set on every node by the kubelet or the cloud
// provider, never through the agent pool's nodeLabels.
var kubeletLabels = map[string]bool{
	corev1.LabelHostname: true, corev1.LabelArchStable: true, "beta.kubernetes.io/arch": true,
	corev1.LabelTopologyZone: true, corev1.LabelTopologyRegion: true,
	corev1.LabelFailureDomainBetaZone: true, corev1.LabelFailureDomainBetaRegion: true,
}

// gpuSize says whether an Azure VM size has GPUs: the N family (NC, ND,
// NV) is Azure's GPU line.
func gpuSize(vmSize string) bool {
	return strings.HasPrefix(strings.ToLower(vmSize), "standard_n")
}

// aksLabels are the labels AKS gives the agent pool's nodes besides its
// nodeLabels, as far as the agent pool says.
func aksLabels(ref poolRef, ap *armcontainerservice.AgentPool) map[string]string {
	l := map[string]string{LabelAgentPool: ref.agentPool}
	if ap == nil || ap.Properties == nil {
		return l
	}
	pr := ap.Properties
	if s := deref(pr.VMSize); s != "" {
		l[corev1.LabelInstanceTypeStable] = s
		l[labelBetaInstanceType] = s
		if gpuSize(s) {
			l[LabelAccelerator] = "nvidia"
		}
	}
	if m := deref(pr.Mode); m != "" {
		l[LabelMode] = strings.ToLower(string(m))
	}
	if os := deref(pr.OSType); os != "" {
		l[corev1.LabelOSStable] = strings.ToLower(string(os))
		l["beta.kubernetes.io/os"] = strings.ToLower(string(os))
	}
	if strings.EqualFold(string(deref(pr.ScaleSetPriority)), string(armcontainerservice.ScaleSetPrioritySpot)) {
		l[LabelScaleSetPriority] = "spot"
	}
	return l
}

// aksTaints are the taints the agent pool's nodes get: its nodeTaints, and
// the spot taint AKS adds to spot pools. Entries that do not parse are
// returned in bad.
func aksTaints(ap *armcontainerservice.AgentPool) (taints []corev1.Taint, bad []string) {
	if ap == nil || ap.Properties == nil {
		return nil, nil
	}
	for _, s := range ap.Properties.NodeTaints {
		if s == nil {
			continue
		}
		t, ok := parseTaint(*s)
		if !ok {
			bad = append(bad, *s)
			continue
		}
		taints = append(taints, t)
	}
	if strings.EqualFold(string(deref(ap.Properties.ScaleSetPriority)), string(armcontainerservice.ScaleSetPrioritySpot)) {
		taints = append(taints, corev1.Taint{Key: LabelScaleSetPriority, Value: "spot", Effect: corev1.TaintEffectNoSchedule})
	}
	return taints, bad
}

// parseTaint reads AKS's taint form, key=value:Effect or key:Effect.
func parseTaint(s string) (corev1.Taint, bool) {
	kv, effect, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || kv == "" {
		return corev1.Taint{}, false
	}
	key, value, _ := strings.Cut(kv, "=")
	switch e := corev1.TaintEffect(effect); e {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		return corev1.Taint{Key: key, Value: value, Effect: e}, key != ""
	}
	return corev1.Taint{}, false
}

// cachedAgentPool is the pool's agent pool as last read, nil if it was
// never read (no call is made).
func (p *Platform) cachedAgentPool(pool *carvev1.NodePool) (poolRef, *armcontainerservice.AgentPool, bool) {
	ref, err := refOf(pool)
	if err != nil {
		return poolRef{}, nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.pools[ref.key()]
	if !ok || !st.found || st.ap == nil {
		return ref, nil, true
	}
	return ref, st.ap, true
}

// TemplateNode is the pool's template node with what AKS adds to the
// pool's nodes: the agent pool label, and, once the agent pool was read,
// its VM size, mode, OS, GPU and spot labels, nodeLabels and nodeTaints.
// The template's own labels and taints win where they disagree (its status
// names the disagreement, TemplateDifferences).
func (p *Platform) TemplateNode(pool *carvev1.NodePool, name string) *corev1.Node {
	node := cloudprovider.NodeFromTemplate(pool, name)
	ref, ap, ok := p.cachedAgentPool(pool)
	if !ok {
		return node
	}
	add := aksLabels(ref, ap)
	if ap != nil && ap.Properties != nil {
		for k, v := range ap.Properties.NodeLabels {
			if v != nil {
				add[k] = *v
			}
		}
	}
	if pool.Spec.Role == carvev1.NodePoolRoleGPU {
		add[LabelAccelerator] = "nvidia"
	}
	for k, v := range add {
		if _, set := pool.Spec.Template.Labels[k]; !set {
			node.Labels[k] = v
		}
	}
	taints, _ := aksTaints(ap)
	for _, t := range taints {
		if !slices.ContainsFunc(node.Spec.Taints, func(x corev1.Taint) bool { return x.Key == t.Key && x.Effect == t.Effect }) {
			node.Spec.Taints = append(node.Spec.Taints, t)
		}
	}
	return node
}

// TemplateDifferences compares the cached agent pool with the NodePool's
// template: labels (nodeLabels and those AKS derives), taints (nodeTaints,
// the spot taint), and what the VM size says (instance type, GPUs). It
// makes no call; a pool not read yet has no differences to tell.
func (p *Platform) TemplateDifferences(_ context.Context, pool *carvev1.NodePool) ([]string, error) {
	ref, ap, ok := p.cachedAgentPool(pool)
	if !ok || ap == nil || ap.Properties == nil {
		return nil, nil
	}
	return templateDifferences(ref, pool, ap), nil
}

// ReasonAKSAutoscaler is the reason of Refusal for an agent pool that AKS's
// own cluster autoscaler scales.
const ReasonAKSAutoscaler = "AKSClusterAutoscaler"

// Refusal implements cloudprovider.Refuser from the cache: an agent pool
// with AKS's own cluster autoscaler on (enableAutoScaling) is refused, as
// Create and Delete refuse it.
func (p *Platform) Refusal(pool *carvev1.NodePool) (reason, message string) {
	ref, ap, ok := p.cachedAgentPool(pool)
	if !ok || ap == nil || ap.Properties == nil || !deref(ap.Properties.EnableAutoScaling) {
		return "", ""
	}
	return ReasonAKSAutoscaler, fmt.Sprintf("agent pool %s has AKS's own cluster autoscaler enabled (enableAutoScaling), and two autoscalers would fight over its count; disable it (az aks nodepool update --disable-cluster-autoscaler) or take the pool out of carve", ref)
}

// templateDifferences is TemplateDifferences' decision, one sentence per
// difference, sorted.
func templateDifferences(ref poolRef, pool *carvev1.NodePool, ap *armcontainerservice.AgentPool) []string {
	var out []string
	pr := ap.Properties
	// Labels: what the nodes must carry (the template's, carve's pool and
	// accelerator labels) against what AKS gives them.
	want := maps.Clone(pool.Spec.Template.Labels)
	if want == nil {
		want = map[string]string{}
	}
	want[carvev1.LabelNodePool] = pool.Name
	if pool.Spec.Role == carvev1.NodePoolRoleGPU {
		want[cloudprovider.LabelAccelerator] = cloudprovider.AcceleratorType(pool)
	}
	derived := aksLabels(ref, ap)
	nodeLabels := map[string]string{}
	for k, v := range pr.NodeLabels {
		if v != nil {
			nodeLabels[k] = *v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		v := want[k]
		if got, ok := nodeLabels[k]; ok {
			if got != v {
				out = append(out, fmt.Sprintf("label %s: the agent pool says %q, the template %q", k, got, v))
			}
			continue
		}
		if got, ok := derived[k]; ok {
			if !strings.EqualFold(got, v) {
				out = append(out, fmt.Sprintf("label %s: AKS sets %q on the agent pool's nodes, the template says %q", k, got, v))
			}
			continue
		}
		if kubeletLabels[k] || strings.HasPrefix(k, "kubernetes.azure.com/") {
			continue // set by the kubelet or AKS, not the agent pool
		}
		out = append(out, fmt.Sprintf("label %s: the template says %q, the agent pool does not set it (add it to the agent pool's nodeLabels)", k, v))
	}
	for _, k := range slices.Sorted(maps.Keys(nodeLabels)) {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("label %s: the agent pool sets %q, the template does not", k, nodeLabels[k]))
		}
	}

	// Taints.
	got, bad := aksTaints(ap)
	for _, s := range bad {
		out = append(out, fmt.Sprintf("taint %q of the agent pool does not read as key=value:Effect", s))
	}
	has := func(ts []corev1.Taint, t corev1.Taint) bool {
		return slices.ContainsFunc(ts, func(x corev1.Taint) bool { return x.Key == t.Key && x.Value == t.Value && x.Effect == t.Effect })
	}
	for _, t := range pool.Spec.Template.Taints {
		if !has(got, t) {
			out = append(out, fmt.Sprintf("taint %s: in the template, not on the agent pool's nodes", t.ToString()))
		}
	}
	for _, t := range got {
		if !has(pool.Spec.Template.Taints, t) {
			out = append(out, fmt.Sprintf("taint %s: on the agent pool's nodes, not in the template", t.ToString()))
		}
	}

	// What the VM size says of GPUs.
	size := deref(pr.VMSize)
	gpus, asked := pool.Spec.Template.Capacity[resourceNvidiaGPU]
	wantGPU := pool.Spec.Role == carvev1.NodePoolRoleGPU || (asked && !gpus.IsZero())
	switch {
	case size == "":
	case wantGPU && !gpuSize(size):
		out = append(out, fmt.Sprintf("VM size %s has no GPU, but the template is of a GPU pool", size))
	case !wantGPU && gpuSize(size):
		out = append(out, fmt.Sprintf("VM size %s has GPUs, but the template lists no %s capacity", size, resourceNvidiaGPU))
	}
	slices.Sort(out)
	return out
}
