package podcontract

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// AnnotationDefaultContainer is kubectl's way to name a pod's main container;
// carve puts per-container parts of a profile (GPUs, scratch space) there.
const AnnotationDefaultContainer = "kubectl.kubernetes.io/default-container"

// ProfileRequests is what a pod of profile p requests in all.
func ProfileRequests(p *carvev1.ResourceProfile) corev1.ResourceList {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    p.Spec.CPU.DeepCopy(),
		corev1.ResourceMemory: p.Spec.Memory.DeepCopy(),
	}
	if p.Spec.EphemeralStorage != nil {
		rl[corev1.ResourceEphemeralStorage] = p.Spec.EphemeralStorage.DeepCopy()
	}
	if g := p.GPUResourceName(); g != "" {
		rl[corev1.ResourceName(g)] = *resource.NewQuantity(int64(p.Spec.GPU.Count), resource.DecimalSI)
	}
	return rl
}

// limitsOf is what a pod of profile p is limited to, given its requests
// req = ProfileRequests(p): the requests, with CPU raised to the profile's
// burst limit when it has one. It shares no quantity with req
// (Quantity.Sub and Add may change the value a copy points to).
func limitsOf(p *carvev1.ResourceProfile, req corev1.ResourceList) corev1.ResourceList {
	rl := make(corev1.ResourceList, len(req))
	for n, q := range req {
		rl[n] = q.DeepCopy()
	}
	if p.Spec.CPULimit != nil {
		rl[corev1.ResourceCPU] = p.Spec.CPULimit.DeepCopy()
	}
	return rl
}

// profileResources is what Admit reads of a profile's resources, built
// once per pod: building the lists was a tenth of what a review cost when
// every step built its own.
type profileResources struct {
	req, lim corev1.ResourceList
	gpu      corev1.ResourceName
}

func resourcesOf(p *carvev1.ResourceProfile) profileResources {
	req := ProfileRequests(p)
	return profileResources{req: req, lim: limitsOf(p, req), gpu: corev1.ResourceName(p.GPUResourceName())}
}

// mainContainer is the index of the container that gets the per-container
// parts of a profile, or -1 for a pod without containers.
func mainContainer(pod *corev1.Pod) int {
	if len(pod.Spec.Containers) == 0 {
		return -1
	}
	if name := pod.Annotations[AnnotationDefaultContainer]; name != "" {
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == name {
				return i
			}
		}
	}
	return 0
}

// podLevel are the resources carve sets in pod-level spec.resources; the
// apiserver accepts no extended resources there, so GPUs and scratch space
// stay on the main container.
var podLevel = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}

// checkResources finds the resources a pod declares above its profile, and
// GPUs that its profile does not give.
func checkResources(pod *corev1.Pod, p *carvev1.ResourceProfile, pr profileResources, opts Options, vs *violations) {
	req, lim, gpu := pr.req, pr.lim, pr.gpu
	bigger := "pick a bigger profile or lower the pod's resources"

	agg := resourcehelper.AggregateContainerRequests(pod, resourcehelper.PodResourcesOptions{})
	for _, n := range sortedNames(agg) {
		q := agg[n]
		if q.IsZero() {
			continue
		}
		if carvev1.IsGPUResource(n) && n != gpu {
			if gpu == "" {
				vs.add(RuleGPUWithoutProfile, fmt.Sprintf(
					"containers request %s %s but profile %q has no GPU; pick a GPU profile with label %s, or remove the GPU request",
					q.String(), n, p.Name, carvev1.LabelProfile))
			} else {
				vs.add(RuleGPUWithoutProfile, fmt.Sprintf(
					"containers request %s but profile %q gives its GPUs as %s; request %s or nothing (carve adds it)",
					n, p.Name, gpu, gpu))
			}
			continue
		}
		if max, ok := req[n]; ok && q.Cmp(max) > 0 {
			vs.add(RuleAboveProfile, fmt.Sprintf(
				"containers request %s %s in all, above profile %q's %s; %s",
				q.String(), n, p.Name, max.String(), bigger))
		}
	}
	checkLimits := func(what string, rl corev1.ResourceList) {
		for _, n := range sortedNames(rl) {
			if max, ok := lim[n]; ok {
				if q := rl[n]; q.Cmp(max) > 0 {
					vs.add(RuleAboveProfile, fmt.Sprintf(
						"%s has a %s limit of %s, above profile %q's %s; %s",
						what, n, q.String(), p.Name, max.String(), bigger))
				}
			}
		}
	}
	forEachContainer(pod, func(c *corev1.Container) {
		checkLimits(fmt.Sprintf("container %q", c.Name), c.Resources.Limits)
	})
	if podRes := pod.Spec.Resources; podRes != nil {
		for _, n := range sortedNames(podRes.Requests) {
			if max, ok := req[n]; ok {
				if q := podRes.Requests[n]; q.Cmp(max) > 0 {
					vs.add(RuleAboveProfile, fmt.Sprintf(
						"pod-level resources request %s %s, above profile %q's %s; %s",
						q.String(), n, p.Name, max.String(), bigger))
				}
			}
		}
		checkLimits("the pod", podRes.Limits)
	}

	if !opts.PodLevelResources {
		// Without pod-level resources every container is capped on its own:
		// the ones beside the main container by their requests (or their
		// own limits), the main one by what the profile leaves.
		main := mainContainer(pod)
		forEachBeside(pod, main, func(c *corev1.Container) {
			for _, n := range podLevel {
				_, hasReq := c.Resources.Requests[n]
				_, hasLim := c.Resources.Limits[n]
				if !hasReq && !hasLim {
					vs.add(RuleAboveProfile, fmt.Sprintf(
						"container %q runs beside the main container with no %s request or limit; this cluster has no pod-level resources, so carve caps each container to fit profile %q: give it a %s request (carve limits it to that) or remove it",
						c.Name, n, p.Name, n))
				}
			}
		})
		othersReq, othersLim := besideSums(pod, main)
		for _, n := range podLevel {
			if q := othersReq[n]; q.Cmp(req[n]) >= 0 {
				vs.add(RuleAboveProfile, fmt.Sprintf(
					"the containers beside the main one request %s %s, leaving nothing of profile %q's %s for the main container; %s",
					q.String(), n, p.Name, req.Name(n, resource.DecimalSI).String(), bigger))
			} else if q := othersLim[n]; q.Cmp(lim[n]) >= 0 {
				vs.add(RuleAboveProfile, fmt.Sprintf(
					"the containers beside the main one are limited to %s %s in all, leaving nothing of profile %q's %s limit for the main container; %s",
					q.String(), n, p.Name, lim.Name(n, resource.DecimalSI).String(), bigger))
			}
		}
	}
}

// forEachBeside calls f with each container that runs beside the main one
// for the pod's whole life: the other app containers and the sidecars.
func forEachBeside(pod *corev1.Pod, main int, f func(*corev1.Container)) {
	for i := range pod.Spec.Containers {
		if i != main {
			f(&pod.Spec.Containers[i])
		}
	}
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; isSidecar(c) {
			f(c)
		}
	}
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// besideSums sums, over the containers beside the main one, their requests
// and the limits each runs under in container mode: its own, or else its
// request.
func besideSums(pod *corev1.Pod, main int) (requests, limits corev1.ResourceList) {
	requests, limits = corev1.ResourceList{}, corev1.ResourceList{}
	add := func(sum corev1.ResourceList, n corev1.ResourceName, q resource.Quantity) {
		v := sum[n]
		v.Add(q)
		sum[n] = v
	}
	forEachBeside(pod, main, func(c *corev1.Container) {
		for n, q := range c.Resources.Requests {
			add(requests, n, q)
		}
		for _, n := range podLevel {
			q, ok := c.Resources.Limits[n]
			if !ok {
				q = c.Resources.Requests[n]
			}
			add(limits, n, q)
		}
	})
	return requests, limits
}

// applyResources writes the profile's resources onto a pod that passed
// checkResources.
func applyResources(pod *corev1.Pod, pr profileResources, opts Options) {
	req, lim := pr.req, pr.lim
	main := mainContainer(pod)

	if opts.PodLevelResources {
		pod.Spec.Resources = &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{},
			Limits:   corev1.ResourceList{},
		}
		for _, n := range podLevel {
			pod.Spec.Resources.Requests[n] = req[n]
			pod.Spec.Resources.Limits[n] = lim[n]
		}
	} else {
		pod.Spec.Resources = nil
		capContainers(pod, main, req, lim)
	}
	if main < 0 {
		return
	}
	// GPUs and scratch space are per container: give them to the main
	// container unless the pod already spread them over its containers.
	agg := resourcehelper.AggregateContainerRequests(pod, resourcehelper.PodResourcesOptions{})
	for _, n := range []corev1.ResourceName{pr.gpu, corev1.ResourceEphemeralStorage} {
		want, ok := req[n]
		if n == "" || !ok {
			continue
		}
		if have := agg[n]; have.IsZero() {
			setResource(&pod.Spec.Containers[main], n, want, lim[n])
		}
	}
}

// capContainers applies a profile in container mode: every container is
// capped, and the sum stays within the profile. The containers beside the
// main one are limited to their requests unless they set limits of their
// own, the main one gets the rest, and an init container that runs before
// the app may use what the sidecars started before it leave.
func capContainers(pod *corev1.Pod, main int, req, lim corev1.ResourceList) {
	othersReq, othersLim := besideSums(pod, main)
	forEachBeside(pod, main, func(c *corev1.Container) {
		for _, n := range podLevel {
			if _, ok := c.Resources.Limits[n]; !ok {
				if q, ok := c.Resources.Requests[n]; ok {
					setLimit(c, n, q)
				}
			}
		}
	})
	if main >= 0 {
		c := &pod.Spec.Containers[main]
		for _, n := range podLevel {
			r, l := req[n].DeepCopy(), lim[n].DeepCopy() // Sub may change what req and lim point to
			r.Sub(othersReq[n])
			l.Sub(othersLim[n])
			setResource(c, n, r, l)
		}
	}
	sidecarLim := corev1.ResourceList{}
	for i := range pod.Spec.InitContainers {
		ic := &pod.Spec.InitContainers[i]
		if isSidecar(ic) {
			for _, n := range podLevel {
				v := sidecarLim[n]
				v.Add(ic.Resources.Limits[n])
				sidecarLim[n] = v
			}
			continue
		}
		for _, n := range podLevel {
			if _, ok := ic.Resources.Limits[n]; ok {
				continue
			}
			l := lim[n].DeepCopy()
			l.Sub(sidecarLim[n])
			if q, ok := ic.Resources.Requests[n]; ok && l.Cmp(q) < 0 {
				l = q
			}
			setLimit(ic, n, l)
		}
	}
}

func setLimit(c *corev1.Container, n corev1.ResourceName, lim resource.Quantity) {
	if c.Resources.Limits == nil {
		c.Resources.Limits = corev1.ResourceList{}
	}
	c.Resources.Limits[n] = lim
}

func setResource(c *corev1.Container, n corev1.ResourceName, req, lim resource.Quantity) {
	if c.Resources.Requests == nil {
		c.Resources.Requests = corev1.ResourceList{}
	}
	if c.Resources.Limits == nil {
		c.Resources.Limits = corev1.ResourceList{}
	}
	c.Resources.Requests[n] = req
	c.Resources.Limits[n] = lim
}

func forEachContainer(pod *corev1.Pod, f func(*corev1.Container)) {
	for i := range pod.Spec.InitContainers {
		f(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		f(&pod.Spec.Containers[i])
	}
}

func sortedNames(rl corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(rl))
	for n := range rl {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

// UnfitPools says, for each of the profile's pools whose node template is
// too small for one pod of the profile, which resource falls short. Such a
// profile's pods could never be scheduled there (and would hold quota while
// they wait), so the profile webhook warns about it.
func UnfitPools(p *carvev1.ResourceProfile, pools []*carvev1.NodePool) []string {
	var out []string
	want := ProfileRequests(p)
	for _, pool := range pools {
		capacity := pool.Spec.Template.Capacity
		for _, name := range sortedNames(want) {
			q := want[name]
			have, ok := capacity[name]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("profile %q requests %s %s, but nodes of NodePool %q have none in their template's capacity: add it to the pool's template or remove it from the profile",
					p.Name, q.String(), name, pool.Name))
			case have.Cmp(q) < 0:
				out = append(out, fmt.Sprintf("profile %q requests %s %s, but nodes of NodePool %q have only %s: its pods could never run there; shrink the profile or give the pool bigger nodes",
					p.Name, q.String(), name, pool.Name, have.String()))
			}
		}
	}
	return out
}
