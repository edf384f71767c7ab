package machineset

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheByObject are the provider cache's options for the kind's informers,
// to merge into cache.Options.ByObject before the cache is created. They
// keep of sets and Machines only what the platform reads (no managedFields,
// no machine template or provider spec/status, which are most of a
// Machine's bytes) and, with namespaces, watch only those namespaces, so
// that the platform needs a Role there rather than a ClusterRole. Without
// them the platform works the same, with whole objects, cluster-wide.
func (k Kind) CacheByObject(namespaces ...string) map[client.Object]cache.ByObject {
	var ns map[string]cache.Config
	if len(namespaces) > 0 {
		ns = map[string]cache.Config{}
		for _, n := range namespaces {
			ns[n] = cache.Config{}
		}
	}
	set, machine := &unstructured.Unstructured{}, &unstructured.Unstructured{}
	set.SetGroupVersionKind(k.Set)
	machine.SetGroupVersionKind(k.Machine)
	return map[client.Object]cache.ByObject{
		set:     {Namespaces: ns, Transform: trim([][]string{{"spec", "template"}})},
		machine: {Namespaces: ns, Transform: trim([][]string{{"spec", "providerSpec"}, {"status", "providerStatus"}, {"status", "addresses"}})},
	}
}

// trim returns a transform that drops managedFields and the given fields.
func trim(fields [][]string) func(any) (any, error) {
	return func(obj any) (any, error) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return obj, nil // a tombstone: its object was trimmed already
		}
		u.SetManagedFields(nil)
		for _, f := range fields {
			unstructured.RemoveNestedField(u.Object, f...)
		}
		return u, nil
	}
}
