package run

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The cached Node keeps what the server and the status writer read.
func TestTrimNode(t *testing.T) {
	ready := []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	meta := metav1.ObjectMeta{
		Name: "cpu-1", Labels: map[string]string{"carve.dev/node-pool": "cpu"},
		Annotations: map[string]string{"cluster-autoscaler.kubernetes.io/scale-down-disabled": "true"},
	}
	spec := corev1.NodeSpec{ProviderID: "kwok://cpu/cpu-1", Taints: []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}}
	full := &corev1.Node{ObjectMeta: *meta.DeepCopy(), Spec: *spec.DeepCopy(), Status: corev1.NodeStatus{
		Conditions:  ready,
		Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16")},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("15")},
		Images:      []corev1.ContainerImage{{Names: []string{"registry.invalid/ml/runtime:1"}, SizeBytes: 1 << 30}},
		NodeInfo:    corev1.NodeSystemInfo{KubeletVersion: "v1.37.2"},
	}}
	full.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
	got, err := trimNode(full)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Node{ObjectMeta: meta, Spec: spec, Status: corev1.NodeStatus{Conditions: ready,
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("15")}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("trimNode (-want +got):\n%s", diff)
	}
}
