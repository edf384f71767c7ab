package v1alpha1

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// PodNodePools are the NodePools a pod may run on: its carve.dev/node-pool
// node selector, or the values of that key in its required node affinity
// (carve writes one or the other, from the profile's nodePools).
func PodNodePools(pod *corev1.Pod) []string {
	if p, ok := pod.Spec.NodeSelector[LabelNodePool]; ok {
		return []string{p}
	}
	aff := pod.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, term := range aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, e := range term.MatchExpressions {
			if e.Key != LabelNodePool || e.Operator != corev1.NodeSelectorOpIn {
				continue
			}
			for _, v := range e.Values {
				if !seen[v] {
					seen[v] = true
					out = append(out, v)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}
