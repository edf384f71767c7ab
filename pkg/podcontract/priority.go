package podcontract

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// PriorityClasses finds PriorityClasses. A missing class is (nil, false).
type PriorityClasses interface {
	PriorityClass(name string) (*schedulingv1.PriorityClass, bool)
	// GlobalDefaultPriorityClass is the class the API server gives pods
	// that name none, if the cluster has one.
	GlobalDefaultPriorityClass() (*schedulingv1.PriorityClass, bool)
}

// priority resolves a pod's PriorityClass against its workspace's policy.
// The API server's Priority admission plugin runs before carve's webhooks:
// by then a pod that named no class carries the cluster's globalDefault (if
// any), with its value and preemptionPolicy. Such a pod, or one that names
// no class, gets the workspace's default class; any other class must be
// one the workspace allows. set is the class to write on the pod (nil: keep
// the pod's). Sessions may not use a class that preempts, unless the
// workspace says they may.
func priority(pod *corev1.Pod, t *Target, l PriorityClasses, vs *violations) (set *schedulingv1.PriorityClass) {
	policy := ptr.Deref(t.Workspace.Spec.PriorityClasses, carvev1.PriorityClassPolicy{})
	name := pod.Spec.PriorityClassName
	// A pod that names no class needs no lookup (and without a global
	// default, that is every pod that did not ask for one).
	defaulted := name == ""
	if !defaulted {
		global, ok := l.GlobalDefaultPriorityClass()
		defaulted = ok && name == global.Name
	}
	value, preemption := ptr.Deref(pod.Spec.Priority, 0), ptr.Deref(pod.Spec.PreemptionPolicy, corev1.PreemptLowerPriority)
	switch {
	case defaulted && policy.Default != "" && policy.Default != name:
		pc, ok := l.PriorityClass(policy.Default)
		if !ok {
			vs.add(RulePriorityClass, fmt.Sprintf(
				"workspace %q gives its pods priority class %q, which does not exist; ask an admin to create PriorityClass %q or fix the workspace's priorityClasses.default",
				t.Workspace.Name, policy.Default, policy.Default))
			return nil
		}
		set, name = pc, pc.Name
		value, preemption = pc.Value, ptr.Deref(pc.PreemptionPolicy, corev1.PreemptLowerPriority)
	case defaulted:
		// The cluster's default (or no class): every pod may have it.
		if name == "" {
			return nil
		}
	case !slices.Contains(policy.Allowed, name):
		vs.add(RulePriorityClass, notAllowedMessage(t.Workspace.Name, name, policy.Allowed))
		return nil
	}
	if t.Workload == carvev1.WorkloadSession && policy.SessionPreemption != corev1.PreemptLowerPriority &&
		!(defaulted && set == nil) && preemption != corev1.PreemptNever && value > 0 {
		vs.add(RuleSessionPreemption, fmt.Sprintf(
			"sessions in workspace %q may not preempt other pods, and priority class %q (value %d) has preemptionPolicy %s; use a class with preemptionPolicy: Never, or ask an admin to set the workspace's priorityClasses.sessionPreemption",
			t.Workspace.Name, name, value, preemption))
	}
	return set
}

func notAllowedMessage(ws, name string, allowed []string) string {
	if len(allowed) == 0 {
		return fmt.Sprintf("workspace %q allows no priority class, and the pod names %q; remove priorityClassName", ws, name)
	}
	return fmt.Sprintf("workspace %q does not allow priority class %q; remove priorityClassName or set it to one of: %s", ws, name, strings.Join(allowed, ", "))
}

// applyPriority gives the pod class pc, with the value and preemption
// policy the Priority admission plugin computes from it: the API server
// runs that plugin again after carve's webhook changed the pod, and refuses
// the pod if they differ.
func applyPriority(pod *corev1.Pod, pc *schedulingv1.PriorityClass) {
	if pc == nil {
		return
	}
	pod.Spec.PriorityClassName = pc.Name
	pod.Spec.Priority = ptr.To(pc.Value)
	pod.Spec.PreemptionPolicy = pc.PreemptionPolicy
}
