package framework

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// nodeReadyTimeout bounds WaitNodeReady. kwok marks a node Ready in well
// under a second and kube-controller-manager lifts the not-ready taint right
// after; the rest is slack for a loaded machine.
const nodeReadyTimeout = 60 * time.Second

// AddNode creates a Node that kwok simulates (it must run: Options.Kwok). It
// carries the annotation kwok.x-k8s.io/node=fake and the label type=kwok, and
// the labels a kubelet would set (kubernetes.io/hostname, os, arch); labels
// overrides any of those. capacity is also the allocatable amount; "pods"
// defaults to 110 because the scheduler fits nothing on a node without it.
// The providerID is left empty: nothing here plays a cloud provider.
//
// The new Node is not Ready yet; see WaitNodeReady.
func (c *Cluster) AddNode(ctx context.Context, name string, capacity corev1.ResourceList, labels map[string]string, taints []corev1.Taint) (*corev1.Node, error) {
	capacity = capacity.DeepCopy()
	if capacity == nil {
		capacity = corev1.ResourceList{}
	}
	if _, ok := capacity[corev1.ResourcePods]; !ok {
		capacity[corev1.ResourcePods] = resource.MustParse("110")
	}
	nodeLabels := map[string]string{
		"type":                 "kwok",
		corev1.LabelHostname:   name,
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: "amd64",
	}
	maps.Copy(nodeLabels, labels)

	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      nodeLabels,
			Annotations: map[string]string{kwokNodeAnnotation: kwokNodeValue},
		},
		Spec: corev1.NodeSpec{Taints: taints},
		// Nodes accept status on create; kwok fills in conditions,
		// addresses and node info but keeps these amounts.
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	created, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating kwok node %s: %w", name, err)
	}
	return created, nil
}

// WaitNodeReady waits until the Node reports Ready and, when
// kube-controller-manager runs, no longer has the
// node.kubernetes.io/not-ready taint, i.e. until the scheduler would place
// pods on it. Without kube-controller-manager nothing removes that taint, so
// only the condition is waited for.
func (c *Cluster) WaitNodeReady(ctx context.Context, name string) (*corev1.Node, error) {
	var node *corev1.Node
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, nodeReadyTimeout, true, func(ctx context.Context) (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err
			return false, nil
		}
		node = n
		return nodeReady(n, c.opts.ControllerManager), nil
	})
	if err != nil {
		return node, fmt.Errorf("waiting for node %s to be ready: %w (last error: %v, last status: %v)", name, err, last, nodeStatusSummary(node))
	}
	return node, nil
}

func nodeReady(n *corev1.Node, wantUntainted bool) bool {
	ready := false
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			ready = cond.Status == corev1.ConditionTrue
		}
	}
	if !ready || !wantUntainted {
		return ready
	}
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady {
			return false
		}
	}
	return true
}

func nodeStatusSummary(n *corev1.Node) string {
	if n == nil {
		return "none"
	}
	return fmt.Sprintf("conditions %v, taints %v", n.Status.Conditions, n.Spec.Taints)
}
