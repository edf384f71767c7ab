// Package v1alpha1 holds carve's API: ResourceProfile, Workspace and NodePool,
// all cluster-scoped, in the carve.dev group. It also names the labels and
// annotations that make up carve's contract on namespaces, pods and nodes.
//
// +kubebuilder:object:generate=true
// +groupName=carve.dev
package v1alpha1
