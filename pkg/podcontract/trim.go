package podcontract

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Trim returns the part of pod that Admit, Check and CheckUpdate read or
// write: each decides the same on Trim(pod) as on pod, and Admit changes
// nothing Trim drops (FuzzAdmit holds them to that). The pod webhooks
// decode only this much of each pod: the rest (env, volumes, probes,
// images, status) is most of a pod's bytes and none of the contract's
// business. The result shares maps, slices and pointers with pod except
// the container lists. A rule that reads another field must add it here
// and to the webhooks' decoder (pkg/webhooks, whose tests hold the decoder
// to Trim).
func Trim(pod *corev1.Pod) *corev1.Pod {
	s := &pod.Spec
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: pod.APIVersion, Kind: pod.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       pod.Namespace,
			Labels:          pod.Labels,
			Annotations:     pod.Annotations,
			OwnerReferences: pod.OwnerReferences,
		},
		Spec: corev1.PodSpec{
			InitContainers:      trimContainers(s.InitContainers),
			Containers:          trimContainers(s.Containers),
			EphemeralContainers: trimEphemeral(s.EphemeralContainers),
			NodeSelector:        s.NodeSelector,
			NodeName:            s.NodeName,
			Affinity:            s.Affinity,
			SchedulerName:       s.SchedulerName,
			Tolerations:         s.Tolerations,
			PriorityClassName:   s.PriorityClassName,
			Priority:            s.Priority,
			PreemptionPolicy:    s.PreemptionPolicy,
			Overhead:            s.Overhead,
			Resources:           s.Resources,
		},
	}
}

// trimContainer is the part of a container the contract reads.
func trimContainer(c *corev1.Container) corev1.Container {
	return corev1.Container{Name: c.Name, Resources: c.Resources, RestartPolicy: c.RestartPolicy}
}

func trimContainers(cs []corev1.Container) []corev1.Container {
	if cs == nil {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i := range cs {
		out[i] = trimContainer(&cs[i])
	}
	return out
}

func trimEphemeral(cs []corev1.EphemeralContainer) []corev1.EphemeralContainer {
	if cs == nil {
		return nil
	}
	out := make([]corev1.EphemeralContainer, len(cs))
	for i := range cs {
		c := &cs[i].EphemeralContainerCommon
		out[i].Name, out[i].Resources = c.Name, c.Resources
	}
	return out
}
