package cloudprovider

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// TestNodeFromEmptyTemplate: a pool whose template has neither capacity nor
// allocatable (the CRD requires capacity, but Go callers may build one)
// gets a node with the kubelet's default pods and no panic.
func TestNodeFromEmptyTemplate(t *testing.T) {
	pool := &carvev1.NodePool{}
	pool.Name = "empty"
	node := NodeFromTemplate(pool, "empty-1")
	for name, rl := range map[string]corev1.ResourceList{"capacity": node.Status.Capacity, "allocatable": node.Status.Allocatable} {
		if got := rl[corev1.ResourcePods]; got.Value() != 110 {
			t.Errorf("%s pods = %v, want 110", name, got.String())
		}
	}
	if node.Labels[carvev1.LabelNodePool] != "empty" {
		t.Errorf("labels %v, want the pool label", node.Labels)
	}
}
