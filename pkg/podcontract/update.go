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
//
// In a workspace whose quotas cap CPU or memory (l finds the Workspace; a
// nil l skips this), an update may not raise the pod's requests of a capped
// resource at all: what a resize down gave back may already be held by pods
// that waited for it, and kubelet applies a resize without asking the
// queue, so growing in place would take quota no one granted.
func CheckUpdate(oldPod, newPod *corev1.Pod, subresource string, l Lookup) error {
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
	if l != nil {
		if ws, ok := l.Workspace(applied.Workspace); ok {
			checkGrowth(oldPod, newPod, ws, applied.Team, &vs)
		}
	}
	return vs.err()
}

// checkGrowth refuses an update that raises the pod's effective requests of
// a resource the workspace's quotas cap.
func checkGrowth(oldPod, newPod *corev1.Pod, ws *carvev1.Workspace, team string, vs *violations) {
	capped := cappedResources(ws, team)
	if len(capped) == 0 {
		return
	}
	before := resourcehelper.PodRequests(oldPod, resourcehelper.PodResourcesOptions{})
	after := resourcehelper.PodRequests(newPod, resourcehelper.PodResourcesOptions{})
	for _, n := range capped {
		b, a := before[n], after[n]
		if a.Cmp(b) > 0 {
			vs.add(RuleResizeAboveQuota, fmt.Sprintf(
				"the pod would request %s %s, up from %s; workspace %q caps %s by quota, and a running pod may only shrink: what it gives back goes to pods waiting for quota. To get more, create a new pod (it waits in the queue until the quota has room)",
				a.String(), n, b.String(), ws.Name, n))
		}
	}
}

// cappedResources lists the resources among CPU and memory (the ones an
// in-place resize changes) that a quota over a pod of team caps: the
// workspace's, the team's or the project's.
func cappedResources(ws *carvev1.Workspace, team string) []corev1.ResourceName {
	quotas := []*carvev1.Quota{ws.Spec.Quota, ws.Spec.ProjectQuota}
	for i := range ws.Spec.TeamQuotas {
		if team != "" && ws.Spec.TeamQuotas[i].Team == team {
			quotas = append(quotas, &ws.Spec.TeamQuotas[i].Quota)
		}
	}
	var cpu, mem bool
	for _, q := range quotas {
		if q != nil {
			cpu = cpu || q.CPU != nil
			mem = mem || q.Memory != nil
		}
	}
	var out []corev1.ResourceName
	if cpu {
		out = append(out, corev1.ResourceCPU)
	}
	if mem {
		out = append(out, corev1.ResourceMemory)
	}
	return out
}
