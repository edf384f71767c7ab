package poolstatus

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func TestNodeDifferences(t *testing.T) {
	pool := ut.MakeNodePool("gpu", carvev1.NodePoolRoleGPU, 0, 4, "8", "32Gi").
		Capacity("nvidia.com/gpu", "1").TemplateLabel("nvidia.com/gpu.product", "A100").
		Taint("nvidia.com/gpu", "", corev1.TaintEffectNoSchedule).Obj()
	ready := func(n *corev1.Node) *corev1.Node {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		return n
	}
	// good is a node just as the template says.
	good := func(name string) *corev1.Node { return ready(cloudprovider.NodeFromTemplate(pool, name)) }
	tests := map[string]struct {
		nodes []*corev1.Node
		want  []string
	}{
		"no node":         {},
		"not ready yet":   {nodes: []*corev1.Node{cloudprovider.NodeFromTemplate(pool, "gpu-a")}},
		"as the template": {nodes: []*corev1.Node{good("gpu-a")}},
		"more is fine": {nodes: []*corev1.Node{func() *corev1.Node {
			n := good("gpu-a")
			n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("16")
			return n
		}()}},
		"lifecycle taints": {nodes: []*corev1.Node{func() *corev1.Node {
			n := good("gpu-a")
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoSchedule}, corev1.Taint{Key: "carve.dev/deleting", Effect: corev1.TaintEffectNoSchedule})
			return n
		}()}},
		"less and unlabelled": {
			nodes: []*corev1.Node{func() *corev1.Node {
				n := good("gpu-a")
				n.Status.Allocatable[corev1.ResourceMemory] = resource.MustParse("30Gi")
				delete(n.Status.Allocatable, "nvidia.com/gpu")
				n.Labels["nvidia.com/gpu.product"] = "T4"
				n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "ml", Effect: corev1.TaintEffectNoSchedule}}
				return n
			}()},
			want: []string{
				"node gpu-a has allocatable memory 30Gi; the template says 32Gi",
				"node gpu-a has no allocatable nvidia.com/gpu; the template says 1",
				`node gpu-a has label nvidia.com/gpu.product="T4"; the template says "A100"`,
				"node gpu-a lacks the template's taint nvidia.com/gpu:NoSchedule",
				"node gpu-a has taint dedicated=ml:NoSchedule, which the template does not name",
			},
		},
		// The first Ready node by name is compared; one being deleted is not.
		"first ready by name": {
			nodes: []*corev1.Node{
				func() *corev1.Node {
					n := good("gpu-a")
					n.DeletionTimestamp = &metav1.Time{}
					delete(n.Labels, "nvidia.com/gpu.product")
					return n
				}(),
				func() *corev1.Node { n := good("gpu-c"); delete(n.Labels, "nvidia.com/gpu.product"); return n }(),
				good("gpu-b"),
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var nodes []corev1.Node
			for _, n := range tc.nodes {
				nodes = append(nodes, *n)
			}
			if diff := cmp.Diff(tc.want, NodeDifferences(pool, nodes)); diff != "" {
				t.Errorf("NodeDifferences (-want +got):\n%s", diff)
			}
		})
	}
}
