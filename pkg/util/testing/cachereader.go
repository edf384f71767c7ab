package testing

import (
	"context"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheReader is a client.Reader over fixed objects that reads like
// carve-controller's informer cache (DefaultUnsafeDisableDeepCopy): Get
// copies the stored struct shallowly, List returns the stored items, and
// nothing is encoded or deep-copied. The fake client encodes and decodes
// every object it returns, so it would dominate a benchmark of the webhooks.
// Callers must not modify what they read.
type CacheReader struct {
	objs map[reflect.Type]map[client.ObjectKey]client.Object
}

var _ client.Reader = &CacheReader{}

// NewCacheReader holds objs.
func NewCacheReader(objs ...client.Object) *CacheReader {
	r := &CacheReader{objs: map[reflect.Type]map[client.ObjectKey]client.Object{}}
	for _, o := range objs {
		t := reflect.TypeOf(o)
		if r.objs[t] == nil {
			r.objs[t] = map[client.ObjectKey]client.Object{}
		}
		r.objs[t][client.ObjectKeyFromObject(o)] = o
	}
	return r
}

func (r *CacheReader) Get(_ context.Context, key client.ObjectKey, out client.Object, _ ...client.GetOption) error {
	o, ok := r.objs[reflect.TypeOf(out)][key]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: reflect.TypeOf(out).Elem().Name()}, key.Name)
	}
	reflect.ValueOf(out).Elem().Set(reflect.ValueOf(o).Elem())
	return nil
}

func (r *CacheReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	items := reflect.ValueOf(list).Elem().FieldByName("Items")
	if !items.IsValid() || items.Kind() != reflect.Slice {
		return fmt.Errorf("%T has no Items", list)
	}
	var out []runtime.Object
	for _, o := range r.objs[reflect.PointerTo(items.Type().Elem())] {
		out = append(out, o)
	}
	return meta.SetList(list, out)
}
