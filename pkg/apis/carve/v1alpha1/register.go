package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

// GroupVersion is the API group and version of carve's objects.
var GroupVersion = schema.GroupVersion{Group: "carve.dev", Version: "v1alpha1"}

var (
	// SchemeBuilder registers carve's types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}
	// AddToScheme adds carve's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
