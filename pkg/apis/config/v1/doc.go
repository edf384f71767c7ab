// Package v1 is the versioned form of carve's scheduler plugin args, as
// written in a KubeSchedulerConfiguration (apiVersion
// kubescheduler.config.k8s.io/v1, kinds WorkspaceQueueArgs and BinPackArgs).
// Omitted fields are defaulted here and converted to package config.
//
// +kubebuilder:object:generate=true
package v1
