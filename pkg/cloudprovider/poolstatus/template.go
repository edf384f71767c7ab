package poolstatus

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// NodeDifferences compares pool's template with its first Ready node (by
// name; nodes being deleted are skipped) and lists, one sentence each, what
// the template promises and the node does not keep: allocatable the node
// lacks (the autoscaler simulates the template, so it would buy a node on
// which the pending pod still does not fit), template labels the node lacks
// or has otherwise (profiles select nodes by them), template taints the node
// lacks, and taints the node has that the template does not name (pods of the
// pool's profiles do not tolerate them). Taints that come and go with a
// node's life (node.kubernetes.io/*, the autoscaler's and carve's own) are
// not compared. nil when there is no Ready node or nothing differs.
func NodeDifferences(pool *carvev1.NodePool, nodes []corev1.Node) []string {
	node := firstReady(nodes)
	if node == nil {
		return nil
	}
	var out []string
	tmpl := cloudprovider.NodeFromTemplate(pool, node.Name)
	for _, name := range slices.Sorted(maps.Keys(tmpl.Status.Allocatable)) {
		want := tmpl.Status.Allocatable[name]
		got, ok := node.Status.Allocatable[name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("node %s has no allocatable %s; the template says %s", node.Name, name, want.String()))
		case got.Cmp(want) < 0:
			out = append(out, fmt.Sprintf("node %s has allocatable %s %s; the template says %s", node.Name, name, got.String(), want.String()))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(pool.Spec.Template.Labels)) {
		want := pool.Spec.Template.Labels[k]
		if got, ok := node.Labels[k]; !ok {
			out = append(out, fmt.Sprintf("node %s has no label %s; the template says %q", node.Name, k, want))
		} else if got != want {
			out = append(out, fmt.Sprintf("node %s has label %s=%q; the template says %q", node.Name, k, got, want))
		}
	}
	for _, t := range pool.Spec.Template.Taints {
		if !slices.ContainsFunc(node.Spec.Taints, func(n corev1.Taint) bool { return n.MatchTaint(&t) && n.Value == t.Value }) {
			out = append(out, fmt.Sprintf("node %s lacks the template's taint %s", node.Name, t.ToString()))
		}
	}
	for _, n := range node.Spec.Taints {
		if lifecycleTaint(n.Key) || n.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if !slices.ContainsFunc(pool.Spec.Template.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&n) }) {
			out = append(out, fmt.Sprintf("node %s has taint %s, which the template does not name", node.Name, n.ToString()))
		}
	}
	return out
}

func firstReady(nodes []corev1.Node) *corev1.Node {
	var best *corev1.Node
	for i := range nodes {
		n := &nodes[i]
		if n.DeletionTimestamp != nil || (best != nil && best.Name < n.Name) {
			continue
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				best = n
			}
		}
	}
	return best
}

// lifecycleTaint says a taint comes and goes with a node's life rather
// than describing the pool.
func lifecycleTaint(key string) bool {
	for _, prefix := range []string{"node.kubernetes.io/", "node.cloudprovider.kubernetes.io/", "carve.dev/", "ToBeDeletedByClusterAutoscaler", "DeletionCandidateOfClusterAutoscaler"} {
		if strings.HasPrefix(key, prefix) {
			return true
		}
	}
	return false
}
