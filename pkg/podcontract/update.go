package podcontract

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// Subresources of pods whose updates carve checks.
const (
	SubresourceEphemeralContainers = "ephemeralcontainers"
	SubresourceResize              = "resize"
)

// CheckUpdate is the decision of carve's validating webhook for an update of
// a pod (subresource is "" for the pod itself). An admitted pod keeps the
// labels and annotations carve gave it, and may not grow past what it was
// admitted with, neither by an in-place resize nor by ephemeral containers.
// Pods carve never admitted (created before their namespace joined a
// workspace) are left alone.
func CheckUpdate(oldPod, newPod *corev1.Pod, subresource string) error {
	applied, ok := AppliedOf(oldPod)
	if !ok {
		return nil
	}
	var vs violations
	fixedLabels := []string{carvev1.LabelWorkspace, carvev1.LabelTeam, carvev1.LabelProfile, carvev1.LabelWorkload}
	for _, k := range fixedLabels {
		if oldPod.Labels[k] != newPod.Labels[k] {
			vs.add(RuleImmutable, fmt.Sprintf(
				"label %s of a running pod is fixed when the pod is created (was %q, now %q); delete the pod and create it again with the new value",
				k, oldPod.Labels[k], newPod.Labels[k]))
		}
	}
	fixedAnnotations := []string{carvev1.AnnotationApplied}
	if applied.Workload == carvev1.WorkloadSession {
		fixedAnnotations = append(fixedAnnotations, carvev1.AnnotationSafeToEvict)
	}
	for _, k := range fixedAnnotations {
		if oldPod.Annotations[k] != newPod.Annotations[k] {
			vs.add(RuleImmutable, fmt.Sprintf(
				"annotation %s is set by carve and cannot be changed or removed (sessions are protected from scale-down); delete the pod and create it again instead",
				k))
		}
	}

	checkAddedTolerations(oldPod, newPod, applied.Profile, &vs)

	if subresource == SubresourceEphemeralContainers {
		for _, ec := range newPod.Spec.EphemeralContainers {
			if len(ec.Resources.Requests) > 0 || len(ec.Resources.Limits) > 0 {
				vs.add(RuleEphemeralResources, fmt.Sprintf(
					"ephemeral container %q declares resources; debug containers share the pod's profile %q and may declare none: remove its resources",
					ec.Name, applied.Profile))
			}
		}
	}

	// Whatever the subresource, the pod must stay within what it was
	// admitted with: an in-place resize is the usual way to try.
	bound := applied.Limits
	agg := resourcehelper.AggregateContainerRequests(newPod, resourcehelper.PodResourcesOptions{})
	above := func(what string, rl corev1.ResourceList, max corev1.ResourceList) {
		for _, n := range sortedNames(rl) {
			if m, ok := max[n]; ok {
				if q := rl[n]; q.Cmp(m) > 0 {
					vs.add(RuleAboveProfile, fmt.Sprintf(
						"%s %s %s, above profile %q's %s; a pod cannot outgrow its profile: create a new pod with a bigger profile",
						what, q.String(), n, applied.Profile, m.String()))
				}
			}
		}
	}
	above("containers would request", agg, applied.Requests)
	if pr := newPod.Spec.Resources; pr != nil {
		above("the pod would request", pr.Requests, applied.Requests)
		above("the pod would be limited to", pr.Limits, bound)
	}
	forEachContainer(newPod, func(c *corev1.Container) {
		above(fmt.Sprintf("container %q would be limited to", c.Name), c.Resources.Limits, bound)
	})
	return vs.err()
}
