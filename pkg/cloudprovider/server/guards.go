package server

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// AnnotationScaleDownDisabled is cluster-autoscaler's per-node scale-down
// opt-out; carve honours it too.
const AnnotationScaleDownDisabled = carvev1.AnnotationScaleDownDisabled

// CheckIncrease decides whether pool, now at target size, may grow by delta.
func CheckIncrease(pool *carvev1.NodePool, target, delta int32) error {
	if delta <= 0 {
		return cloudprovider.Errorf(cloudprovider.ErrInvalid, "increasing node group %s: delta must be positive, got %d", pool.Name, delta)
	}
	if int64(target)+int64(delta) > int64(pool.Spec.MaxSize) {
		return refuse(ReasonAboveMaxSize, "", fmt.Sprintf("raise spec.maxSize of NodePool %s if it should grow further", pool.Name),
			"increasing node group %s by %d: target size %d would exceed maxSize %d", pool.Name, delta, target, pool.Spec.MaxSize)
	}
	return nil
}

// CheckDeleteSize decides whether pool, with remaining instances left that
// are not being deleted, may lose n more. It keeps the Base pool's last node
// and minSize.
func CheckDeleteSize(pool *carvev1.NodePool, remaining, n int, firstNode string) error {
	after := remaining - n
	if pool.Spec.Role == carvev1.NodePoolRoleBase && after < 1 {
		return refuse(ReasonBaseLastNode, firstNode, "a Base pool always keeps one node; to replace this one, let the pool grow first",
			"deleting node %s from node group %s: the Base pool keeps its last node", firstNode, pool.Name)
	}
	if after < int(pool.Spec.MinSize) {
		return refuse(ReasonBelowMinSize, firstNode, fmt.Sprintf("lower spec.minSize of NodePool %s to let the pool shrink further", pool.Name),
			"deleting node %s from node group %s: %d nodes would be left, below minSize %d", firstNode, pool.Name, after, pool.Spec.MinSize)
	}
	return nil
}

// CheckNodeRemovable decides whether node, running pods, may be removed: not
// when it is annotated scale-down-disabled, nor while it runs a pod that has
// not terminated and is a session (label carve.dev/workload=session) or is
// annotated safe-to-evict "false".
func CheckNodeRemovable(node *corev1.Node, pods []corev1.Pod) error {
	if node != nil && node.Annotations[AnnotationScaleDownDisabled] == "true" {
		return refuse(ReasonScaleDownDisabled, node.Name, fmt.Sprintf("remove the annotation from node %s to let it go", node.Name),
			"deleting node %s: it is annotated %s=true", node.Name, AnnotationScaleDownDisabled)
	}
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if p.Labels[carvev1.LabelWorkload] == string(carvev1.WorkloadSession) {
			return refuse(ReasonSessionRunning, p.Spec.NodeName, fmt.Sprintf("the node can go once the session ends (delete pod %s/%s to end it now)", p.Namespace, p.Name),
				"deleting node %s: it runs session %s/%s (carve never removes a node under a session)", p.Spec.NodeName, p.Namespace, p.Name)
		}
		if p.Annotations[carvev1.AnnotationSafeToEvict] == "false" {
			return refuse(ReasonPodNotEvictable, p.Spec.NodeName, fmt.Sprintf("the node can go once pod %s/%s ends or loses the annotation", p.Namespace, p.Name),
				"deleting node %s: it runs pod %s/%s annotated %s=false", p.Spec.NodeName, p.Namespace, p.Name, carvev1.AnnotationSafeToEvict)
		}
	}
	return nil
}
