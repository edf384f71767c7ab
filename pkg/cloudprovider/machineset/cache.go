package machineset

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// cacheOptions keep of sets and Machines only what the platform reads: a
// Machine's provider spec and status and a set's machine template are most
// of their bytes, and nothing here reads managedFields.
func (p *Platform) cacheOptions() cache.Options {
	o := cache.Options{DefaultTransform: p.trim, DefaultWatchErrorHandler: p.watchError}
	if len(p.namespaces) > 0 {
		o.DefaultNamespaces = map[string]cache.Config{}
		for _, n := range p.namespaces {
			o.DefaultNamespaces[n] = cache.Config{}
		}
	}
	return o
}

// trimmed are the fields dropped: no set has the Machine fields nor a
// Machine the set's, so one list serves both kinds.
var trimmed = [][]string{{"spec", "template"}, {"spec", "providerSpec"}, {"status", "providerStatus"}, {"status", "addresses"}}

func (p *Platform) trim(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil // a tombstone: its object was trimmed already
	}
	u.SetManagedFields(nil)
	for _, f := range trimmed {
		unstructured.RemoveNestedField(u.Object, f...)
	}
	return u, nil
}
