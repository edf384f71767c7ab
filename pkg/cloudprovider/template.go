package cloudprovider

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

const (
	// LabelAccelerator is the GPU label carve reports to the autoscaler
	// (GPULabel): only nodes of GPU pools carry it. Its value is the GPU
	// type, the pool's nvidia.com/gpu.product template label when set, else
	// DefaultAcceleratorType. On cloud platforms the node group must put the
	// labels of NodeLabels on its nodes, this one included.
	LabelAccelerator = "carve.dev/accelerator"
	// LabelGPUProduct is the GPU product label NVIDIA's feature discovery
	// sets; a pool may name it in its template labels.
	LabelGPUProduct = "nvidia.com/gpu.product"
	labelBetaOS     = "beta.kubernetes.io/os"
	labelBetaArch   = "beta.kubernetes.io/arch"

	// DefaultAcceleratorType is the GPU type of a GPU pool that names none.
	DefaultAcceleratorType = "gpu"
)

// NodeLabels are the labels every node of pool carries: the defaults a
// kubelet sets (os, arch, their beta twins, hostname), the template's labels, carve's pool
// label and, for GPU pools, LabelAccelerator. Carve's labels win over the
// template's.
func NodeLabels(pool *carvev1.NodePool, nodeName string) map[string]string {
	labels := map[string]string{
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: "amd64",
	}
	maps.Copy(labels, pool.Spec.Template.Labels)
	// Kubelets (and kwok) still set the beta twins of os and arch; the
	// template must carry every label real nodes get.
	for beta, stable := range map[string]string{labelBetaOS: corev1.LabelOSStable, labelBetaArch: corev1.LabelArchStable} {
		if _, ok := labels[beta]; !ok {
			labels[beta] = labels[stable]
		}
	}
	labels[corev1.LabelHostname] = nodeName
	labels[carvev1.LabelNodePool] = pool.Name
	if pool.Spec.Role == carvev1.NodePoolRoleGPU {
		labels[LabelAccelerator] = AcceleratorType(pool)
	}
	return labels
}

// AcceleratorType is the GPU type of a GPU pool's nodes.
func AcceleratorType(pool *carvev1.NodePool) string {
	if p := pool.Spec.Template.Labels[LabelGPUProduct]; p != "" {
		return p
	}
	return DefaultAcceleratorType
}

// Allocatable is a pool's per-node allocatable: the template's, else its
// capacity.
func Allocatable(pool *carvev1.NodePool) corev1.ResourceList {
	if len(pool.Spec.Template.Allocatable) > 0 {
		return pool.Spec.Template.Allocatable.DeepCopy()
	}
	return pool.Spec.Template.Capacity.DeepCopy()
}

// NodeFromTemplate is the Node a pool's template describes, named name: its
// labels (NodeLabels), taints, capacity and allocatable ("pods" defaults to
// 110, as a kubelet's). Platforms that create Node objects build them with
// it, and the server's NodeGroupTemplateNodeInfo answers with it, so the
// autoscaler's picture of a pool before its first node and the nodes it gets
// cannot drift apart.
func NodeFromTemplate(pool *carvev1.NodePool, name string) *corev1.Node {
	capacity := pool.Spec.Template.Capacity.DeepCopy()
	if capacity == nil {
		capacity = corev1.ResourceList{}
	}
	allocatable := Allocatable(pool)
	if allocatable == nil {
		allocatable = corev1.ResourceList{}
	}
	for _, rl := range []corev1.ResourceList{capacity, allocatable} {
		if _, ok := rl[corev1.ResourcePods]; !ok {
			rl[corev1.ResourcePods] = resource.MustParse("110")
		}
	}
	var taints []corev1.Taint
	for _, t := range pool.Spec.Template.Taints {
		t.TimeAdded = nil
		taints = append(taints, t)
	}
	return &corev1.Node{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: NodeLabels(pool, name)},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status:     corev1.NodeStatus{Capacity: capacity, Allocatable: allocatable},
	}
}

// TemplateNode is the node a pool would get: through the platform when it
// builds its own nodes (NodeTemplater), else NodeFromTemplate. It is marked
// Ready, as the autoscaler simulates scheduling on a running node.
func TemplateNode(pool *carvev1.NodePool, p Platform) *corev1.Node {
	name := pool.Name + "-template"
	var node *corev1.Node
	if t, ok := p.(NodeTemplater); ok {
		node = t.TemplateNode(pool, name)
	} else {
		node = NodeFromTemplate(pool, name)
	}
	node.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "Template",
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
	}}
	node.Status.Phase = corev1.NodeRunning
	return node
}
