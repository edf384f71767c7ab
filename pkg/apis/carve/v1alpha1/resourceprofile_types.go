package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ResourceProfileSpec is the size of a pod that picks this profile: what the
// pod gets, and what it may not exceed.
// +kubebuilder:validation:XValidation:rule="!has(self.cpuLimit) || quantity(string(self.cpuLimit)).compareTo(quantity(string(self.cpu))) >= 0",message="cpuLimit must not be below cpu"
type ResourceProfileSpec struct {
	// description tells users what the profile is for, shown by kubectl describe.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Description string `json:"description,omitempty"`

	// cpu is the CPU a pod of this profile requests, e.g. "1" or "500m".
	// +required
	CPU resource.Quantity `json:"cpu"`

	// memory is the memory a pod of this profile requests and is limited to.
	// +required
	Memory resource.Quantity `json:"memory"`

	// cpuLimit lets a pod burst above cpu up to this much CPU. Without it the
	// pod's CPU limit equals cpu.
	// +optional
	CPULimit *resource.Quantity `json:"cpuLimit,omitempty"`

	// ephemeralStorage is the local scratch space a pod of this profile
	// requests and is limited to.
	// +optional
	EphemeralStorage *resource.Quantity `json:"ephemeralStorage,omitempty"`

	// gpu, when set, makes this a GPU profile.
	// +optional
	GPU *GPUSpec `json:"gpu,omitempty"`

	// nodePools names the NodePools pods of this profile run on. Empty means
	// any node that the pod's tolerations allow.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	NodePools []string `json:"nodePools,omitempty"`
}

// GPUSpec is the GPU part of a profile.
type GPUSpec struct {
	// count is how many GPUs a pod of this profile gets.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	Count int32 `json:"count"`

	// resourceName is the extended resource the GPUs are requested as.
	// +optional
	// +kubebuilder:default="nvidia.com/gpu"
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	ResourceName string `json:"resourceName,omitempty"`

	// product, when set, restricts the pod to nodes whose
	// nvidia.com/gpu.product label has this value (e.g. "NVIDIA-A10G").
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Product string `json:"product,omitempty"`
}

// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=rp,categories=carve
// +kubebuilder:printcolumn:name="CPU",type=string,JSONPath=`.spec.cpu`
// +kubebuilder:printcolumn:name="MEMORY",type=string,JSONPath=`.spec.memory`
// +kubebuilder:printcolumn:name="GPU",type=integer,JSONPath=`.spec.gpu.count`
// +kubebuilder:printcolumn:name="POOL",type=string,JSONPath=`.spec.nodePools`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`

// ResourceProfile is a size that admins offer and data scientists pick for
// their pods, such as "small: 1 CPU / 2 GiB".
type ResourceProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the profile's size and placement.
	// +required
	Spec ResourceProfileSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// ResourceProfileList is a list of ResourceProfiles.
type ResourceProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ResourceProfile `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ResourceProfile{}, &ResourceProfileList{})
}

// GPUResourceName is the extended resource the profile's GPUs are requested
// as, or "" for a profile without GPUs.
func (p *ResourceProfile) GPUResourceName() string {
	if p.Spec.GPU == nil || p.Spec.GPU.Count == 0 {
		return ""
	}
	if p.Spec.GPU.ResourceName == "" {
		return DefaultGPUResource
	}
	return p.Spec.GPU.ResourceName
}
