// Package config holds the arguments of carve's kube-scheduler plugins in
// their internal form: what WorkspaceQueue and BinPack receive once
// kube-scheduler has decoded, defaulted and converted the pluginConfig of a
// KubeSchedulerConfiguration. The versioned form users write is in package
// v1; package scheme registers both with kube-scheduler's config scheme.
//
// +kubebuilder:object:generate=true
package config
