// Package semantic compares the pod fields carve's pod contract writes
// (labels, annotations, node selectors, tolerations, resources, priority)
// as equality.Semantic.DeepEqual compares them, without reflection: nil and
// empty maps and lists are equal, quantities are equal by value. The pod
// webhooks compare these fields on every review, where reflection was a
// sixth of a validating review's CPU. FuzzEqual holds each function to
// DeepEqual.
package semantic

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// StringMaps compares labels, annotations or node selectors.
func StringMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// ResourceLists compares two resource lists, quantities by value.
func ResourceLists(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for n, q := range a {
		r, ok := b[n]
		if !ok || q.Cmp(r) != 0 {
			return false
		}
	}
	return true
}

// Requirements compares resource requirements; nil is not equal to empty
// requirements (DeepEqual compares what pointers point to only when both
// are set).
func Requirements(a, b *corev1.ResourceRequirements) bool {
	if a == nil || b == nil {
		return a == b
	}
	if !ResourceLists(a.Limits, b.Limits) || !ResourceLists(a.Requests, b.Requests) || len(a.Claims) != len(b.Claims) {
		return false
	}
	for i := range a.Claims {
		if a.Claims[i] != b.Claims[i] {
			return false
		}
	}
	return true
}

// Tolerations compares toleration lists, in order.
func Tolerations(a, b []corev1.Toleration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Key != y.Key || x.Operator != y.Operator || x.Value != y.Value || x.Effect != y.Effect ||
			!Pointers(x.TolerationSeconds, y.TolerationSeconds) {
			return false
		}
	}
	return true
}

// Pointers compares two pointers to comparable values: both nil, or
// pointing to equal values.
func Pointers[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Affinity compares affinities. They are rare and deep, so a pair of them
// is left to DeepEqual.
func Affinity(a, b *corev1.Affinity) bool {
	if a == nil || b == nil {
		return a == b
	}
	return equality.Semantic.DeepEqual(a, b)
}
