package config

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkspaceQueueArgs configures the WorkspaceQueue plugin.
//
// +kubebuilder:object:root=true
type WorkspaceQueueArgs struct {
	metav1.TypeMeta

	// StatusUpdateInterval is the least time between two writes of a waiting
	// pod's queue position or of the amount of its quota in use. A change
	// of reason (another quota short, a cap raised or lowered) is written at
	// once.
	StatusUpdateInterval metav1.Duration
	// StatusUpdatesPerSecond caps the pod status writes of the plugin across
	// all pods, so a queue of thousands never floods the API server.
	StatusUpdatesPerSecond int32
	// StartupSyncTimeout bounds how long the plugin waits, at start, to
	// rebuild its accounting from the API before it gives up.
	StartupSyncTimeout metav1.Duration
	// MeteringInterval is how often running pods' use is added to the
	// Workspaces' spend.
	MeteringInterval metav1.Duration
}

// BinPackArgs configures the BinPack plugin.
//
// +kubebuilder:object:root=true
type BinPackArgs struct {
	metav1.TypeMeta

	// GPUResources, when set, are the only extended resources that make a
	// node a GPU node; empty means carvev1.IsGPUResource.
	GPUResources []corev1.ResourceName
	// LifetimeWeight is the share, in percent, of a node's score that comes
	// from how well the pod's expected lifetime matches the lifetimes of the
	// pods already on the node; the rest comes from how full the node gets.
	LifetimeWeight int32
	// Lifetimes is the expected lifetime of each workload kind (the
	// carve.dev/workload label: session, job, model) and of pods without
	// one (key "other").
	Lifetimes map[string]metav1.Duration
	// DrainingTaintKey is the taint that marks a node being emptied; such
	// nodes score below every other node.
	DrainingTaintKey string
}
