package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkspaceQueueArgs configures the WorkspaceQueue plugin.
//
// +kubebuilder:object:root=true
type WorkspaceQueueArgs struct {
	metav1.TypeMeta `json:",inline"`

	// statusUpdateInterval is the least time between two writes of a waiting
	// pod's queue position or of the amount of its quota in use; a change
	// of reason (another quota short, a cap raised or lowered) is written at
	// once.
	// Default 10s.
	// +optional
	StatusUpdateInterval *metav1.Duration `json:"statusUpdateInterval,omitempty"`
	// statusUpdatesPerSecond caps the plugin's pod status writes across all
	// pods. Default 20.
	// +optional
	StatusUpdatesPerSecond *int32 `json:"statusUpdatesPerSecond,omitempty"`
	// startupSyncTimeout bounds how long the plugin waits, at start, to
	// rebuild its accounting from the API. Default 2m.
	// +optional
	StartupSyncTimeout *metav1.Duration `json:"startupSyncTimeout,omitempty"`
	// meteringInterval is how often running workspace pods' use is added to
	// the Workspace's spend, and so the most of a pod's use that a restart
	// can lose when the pod ends just before it. Default 30s.
	// +optional
	MeteringInterval *metav1.Duration `json:"meteringInterval,omitempty"`
}

// BinPackArgs configures the BinPack plugin.
//
// +kubebuilder:object:root=true
type BinPackArgs struct {
	metav1.TypeMeta `json:",inline"`

	// gpuResources, when set, are the only extended resources that make a
	// node a GPU node. Unset: every GPU resource by carve's one definition
	// (carvev1.IsGPUResource: nvidia.com/gpu, amd.com/gpu,
	// gpu.intel.com/i915, MIG slices such as nvidia.com/mig-1g.5gb), the
	// same the pod contract and workspace quotas use.
	// +optional
	GPUResources []corev1.ResourceName `json:"gpuResources,omitempty"`
	// lifetimeWeight is the share, in percent (0-100), of a node's score
	// that comes from how well the pod's expected lifetime matches those of
	// the pods already on the node. Default 20.
	// +optional
	LifetimeWeight *int32 `json:"lifetimeWeight,omitempty"`
	// lifetimes is the expected lifetime of each workload kind (session,
	// job, model) and of pods without a carve.dev/workload label ("other").
	// Kinds left out keep their defaults: session 4h, job 30m, model 168h,
	// other 168h.
	// +optional
	Lifetimes map[string]metav1.Duration `json:"lifetimes,omitempty"`
	// drainingTaintKey marks nodes being emptied. Default carve.dev/draining.
	// +optional
	DrainingTaintKey *string `json:"drainingTaintKey,omitempty"`
}
