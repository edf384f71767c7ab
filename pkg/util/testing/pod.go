package testing

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// PodWrapper builds a pod.
type PodWrapper struct{ corev1.Pod }

// MakePod starts a pod with no containers.
func MakePod(name, namespace string) *PodWrapper {
	return &PodWrapper{corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
	}}
}

// Obj returns the built pod.
func (p *PodWrapper) Obj() *corev1.Pod { return &p.Pod }

// Label sets a label.
func (p *PodWrapper) Label(k, v string) *PodWrapper {
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[k] = v
	return p
}

// Annotation sets an annotation.
func (p *PodWrapper) Annotation(k, v string) *PodWrapper {
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[k] = v
	return p
}

// Profile picks a profile with the carve.dev/profile label.
func (p *PodWrapper) Profile(name string) *PodWrapper { return p.Label(carvev1.LabelProfile, name) }

// Workload sets the carve.dev/workload label.
func (p *PodWrapper) Workload(w carvev1.Workload) *PodWrapper {
	return p.Label(carvev1.LabelWorkload, string(w))
}

// Container adds a container requesting cpu and memory ("" for none).
func (p *PodWrapper) Container(name, cpu, memory string) *PodWrapper {
	p.Spec.Containers = append(p.Spec.Containers, container(name, cpu, memory))
	return p
}

// InitContainer adds an init container requesting cpu and memory.
func (p *PodWrapper) InitContainer(name, cpu, memory string) *PodWrapper {
	p.Spec.InitContainers = append(p.Spec.InitContainers, container(name, cpu, memory))
	return p
}

// Sidecar adds a restartable init container requesting cpu and memory.
func (p *PodWrapper) Sidecar(name, cpu, memory string) *PodWrapper {
	c := container(name, cpu, memory)
	c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	p.Spec.InitContainers = append(p.Spec.InitContainers, c)
	return p
}

// Limit sets a limit on the last added app container.
func (p *PodWrapper) Limit(name corev1.ResourceName, q string) *PodWrapper {
	c := &p.Spec.Containers[len(p.Spec.Containers)-1]
	if c.Resources.Limits == nil {
		c.Resources.Limits = corev1.ResourceList{}
	}
	c.Resources.Limits[name] = resource.MustParse(q)
	return p
}

// Request sets a request on the last added app container.
func (p *PodWrapper) Request(name corev1.ResourceName, q string) *PodWrapper {
	c := &p.Spec.Containers[len(p.Spec.Containers)-1]
	if c.Resources.Requests == nil {
		c.Resources.Requests = corev1.ResourceList{}
	}
	c.Resources.Requests[name] = resource.MustParse(q)
	return p
}

// GPU makes the last added app container request and be limited to n of a
// GPU resource.
func (p *PodWrapper) GPU(name string, n string) *PodWrapper {
	return p.Request(corev1.ResourceName(name), n).Limit(corev1.ResourceName(name), n)
}

// PodResources sets pod-level requests (cpu, memory).
func (p *PodWrapper) PodResources(cpu, memory string) *PodWrapper {
	p.Spec.Resources = &corev1.ResourceRequirements{Requests: list(cpu, memory)}
	return p
}

// Owner makes the pod controlled by an object of the given kind.
func (p *PodWrapper) Owner(apiVersion, kind, name string) *PodWrapper {
	p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{
		APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID("uid-" + name), Controller: ptr.To(true),
	})
	return p
}

// SchedulerName sets spec.schedulerName.
func (p *PodWrapper) SchedulerName(s string) *PodWrapper { p.Spec.SchedulerName = s; return p }

// NodeName sets spec.nodeName.
func (p *PodWrapper) NodeName(s string) *PodWrapper { p.Spec.NodeName = s; return p }

// NodeSelector sets a node selector entry.
func (p *PodWrapper) NodeSelector(k, v string) *PodWrapper {
	if p.Spec.NodeSelector == nil {
		p.Spec.NodeSelector = map[string]string{}
	}
	p.Spec.NodeSelector[k] = v
	return p
}

// Toleration adds a toleration.
func (p *PodWrapper) Toleration(t corev1.Toleration) *PodWrapper {
	p.Spec.Tolerations = append(p.Spec.Tolerations, t)
	return p
}

func container(name, cpu, memory string) corev1.Container {
	c := corev1.Container{Name: name, Image: "registry.invalid/" + name}
	if rl := list(cpu, memory); len(rl) > 0 {
		c.Resources.Requests = rl
	}
	return c
}

func list(cpu, memory string) corev1.ResourceList {
	rl := corev1.ResourceList{}
	if cpu != "" {
		rl[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if memory != "" {
		rl[corev1.ResourceMemory] = resource.MustParse(memory)
	}
	return rl
}

// UID sets metadata.uid.
func (p *PodWrapper) UID(uid string) *PodWrapper { p.Pod.UID = types.UID(uid); return p }

// Priority sets spec.priority.
func (p *PodWrapper) Priority(n int32) *PodWrapper { p.Spec.Priority = ptr.To(n); return p }

// Created sets metadata.creationTimestamp.
func (p *PodWrapper) Created(t time.Time) *PodWrapper {
	p.CreationTimestamp = metav1.NewTime(t)
	return p
}

// Workspace labels the pod as carve's webhook does: workspace, and team
// when not empty.
func (p *PodWrapper) Workspace(ws, team string) *PodWrapper {
	p.Label(carvev1.LabelWorkspace, ws)
	if team != "" {
		p.Label(carvev1.LabelTeam, team)
	}
	return p
}
