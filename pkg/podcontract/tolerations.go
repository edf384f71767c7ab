package podcontract

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Taints the apiserver itself lets every pod tolerate for a while
// (DefaultTolerationSeconds): they only decide how long a pod stays on a
// node that stopped answering, never where it may start.
var defaultTolerated = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
}

// grantedTolerations are the tolerations a profile gives its pods: the
// taints of its node pools' templates, and the GPU resource's taint for a
// GPU profile. A pod may tolerate nothing else, or a toleration could land
// it on another pool's nodes (GPU, control plane) or on nodes that are
// cordoned or being removed.
func grantedTolerations(t *Target) []corev1.Toleration {
	var out []corev1.Toleration
	for _, pool := range t.Pools {
		for _, taint := range pool.Spec.Template.Taints {
			out = append(out, toleration(taint))
		}
	}
	if g := t.Profile.GPUResourceName(); g != "" {
		// GPU nodes are commonly tainted with their GPU resource name.
		out = append(out, corev1.Toleration{Key: g, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return out
}

// covers reports whether every taint that want tolerates is also tolerated
// by have.
func covers(have, want corev1.Toleration) bool {
	if have.Key == "" && have.Operator == corev1.TolerationOpExists {
		return have.Effect == "" || have.Effect == want.Effect
	}
	if want.Key != have.Key {
		return false
	}
	if have.Effect != "" && have.Effect != want.Effect {
		return false
	}
	if have.Operator == corev1.TolerationOpExists {
		return true
	}
	// have matches one value; so must want (Gt, Lt and the like match
	// ranges).
	equal := func(op corev1.TolerationOperator) bool { return op == "" || op == corev1.TolerationOpEqual }
	return equal(have.Operator) && equal(want.Operator) && want.Value == have.Value
}

func coveredBy(tol corev1.Toleration, by []corev1.Toleration) bool {
	for _, h := range by {
		if covers(h, tol) {
			return true
		}
	}
	return false
}

// checkTolerations refuses tolerations the profile does not grant.
func checkTolerations(pod *corev1.Pod, profile string, granted []corev1.Toleration, vs *violations) {
	for _, tol := range pod.Spec.Tolerations {
		if coveredBy(tol, granted) || coveredBy(tol, defaultTolerated) {
			continue
		}
		vs.add(RuleToleration, fmt.Sprintf(
			"toleration %s is not granted by profile %q, which tolerates only its node pools' taints; remove it, or pick a profile whose pool carries that taint",
			describeToleration(tol), profile))
	}
}

// checkAddedTolerations refuses tolerations added by an update: Admit gave
// the pod every toleration its profile grants, so a new one can only
// tolerate more.
func checkAddedTolerations(oldPod, newPod *corev1.Pod, profile string, vs *violations) {
	for _, tol := range newPod.Spec.Tolerations {
		if coveredBy(tol, oldPod.Spec.Tolerations) {
			continue
		}
		vs.add(RuleToleration, fmt.Sprintf(
			"toleration %s cannot be added: profile %q grants only the tolerations the pod was created with; delete the pod and create it with another profile instead",
			describeToleration(tol), profile))
	}
}

func describeToleration(t corev1.Toleration) string {
	op := t.Operator
	if op == "" {
		op = corev1.TolerationOpEqual
	}
	key, effect := t.Key, string(t.Effect)
	if key == "" {
		key = "(every key)"
	}
	if effect == "" {
		effect = "every effect"
	}
	s := fmt.Sprintf("{key %s, operator %s", key, op)
	if op == corev1.TolerationOpEqual {
		s += fmt.Sprintf(", value %q", t.Value)
	}
	return s + ", " + effect + "}"
}
