package chart

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// fieldManager is the field manager of everything the tests apply.
const fieldManager = "helm-test"

// applier sends objects of any kind to the apiserver with server-side
// apply, finding each kind's resource through discovery.
type applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newApplier(t *testing.T, cfg *rest.Config) *applier {
	t.Helper()
	// A test sends many requests at once; client-go's default 5 per second
	// would make it wait.
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 100, 200
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

// resource returns the client for obj's kind and namespace. A namespaced
// object that names no namespace goes to namespace, as Helm puts it in the
// release namespace.
func (a *applier) resource(obj *unstructured.Unstructured, namespace string) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// A kind served since the last discovery (a new CRD).
		a.mapper.Reset()
		m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("finding the resource of %s: %w", gvk, err)
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return a.dyn.Resource(m.Resource), nil
	}
	if ns := obj.GetNamespace(); ns != "" {
		namespace = ns
	}
	return a.dyn.Resource(m.Resource).Namespace(namespace), nil
}

// apply applies obj as fieldManager. With dryRun the apiserver runs every
// stage of the request, admission and validation included (dryRun=All),
// and stores nothing.
func (a *applier) apply(ctx context.Context, obj *unstructured.Unstructured, namespace string, dryRun bool) error {
	r, err := a.resource(obj, namespace)
	if err != nil {
		return err
	}
	opts := metav1.ApplyOptions{FieldManager: fieldManager}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = r.Apply(ctx, obj.GetName(), obj, opts)
	return err
}

// get reads obj's live copy.
func (a *applier) get(ctx context.Context, obj *unstructured.Unstructured, namespace string) (*unstructured.Unstructured, error) {
	r, err := a.resource(obj, namespace)
	if err != nil {
		return nil, err
	}
	return r.Get(ctx, obj.GetName(), metav1.GetOptions{})
}

// unstructuredObjects decodes a multi-document YAML stream without a
// scheme, as the dynamic client sends it.
func unstructuredObjects(t *testing.T, manifests string) []*unstructured.Unstructured {
	t.Helper()
	docs, err := documents(manifests)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, doc := range docs {
		m := map[string]any{}
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatalf("decoding %s: %v", doc, err)
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs
}

// describe names an object in failure messages: "Deployment ns/name".
func describe(obj *unstructured.Unstructured) string {
	if obj.GetNamespace() == "" {
		return obj.GetKind() + " " + obj.GetName()
	}
	return obj.GetKind() + " " + obj.GetNamespace() + "/" + obj.GetName()
}
