package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodePoolRole says what a pool is for.
// +kubebuilder:validation:Enum=Base;CPU;GPU
type NodePoolRole string

const (
	// NodePoolRoleBase is the always-on pool that carries system and light
	// work; it never scales below one node.
	NodePoolRoleBase NodePoolRole = "Base"
	// NodePoolRoleCPU is a pool for CPU-only work that scales from zero.
	NodePoolRoleCPU NodePoolRole = "CPU"
	// NodePoolRoleGPU is a pool of GPU nodes that scales from zero.
	NodePoolRoleGPU NodePoolRole = "GPU"
)

// PlatformType names the infrastructure a pool's nodes come from.
// +kubebuilder:validation:Enum=Kwok;EKS;AKS;OpenShift;ClusterAPI
type PlatformType string

const (
	PlatformKwok       PlatformType = "Kwok"
	PlatformEKS        PlatformType = "EKS"
	PlatformAKS        PlatformType = "AKS"
	PlatformOpenShift  PlatformType = "OpenShift"
	PlatformClusterAPI PlatformType = "ClusterAPI"
)

// Platform says where a pool's nodes come from: exactly the member named by
// type is set.
// +union
// +kubebuilder:validation:XValidation:rule="self.type == 'Kwok' ? !has(self.eks) && !has(self.aks) && !has(self.openShift) && !has(self.clusterAPI) : true",message="a Kwok platform takes no cloud settings"
// +kubebuilder:validation:XValidation:rule="self.type == 'EKS' ? has(self.eks) && !has(self.aks) && !has(self.openShift) && !has(self.clusterAPI) : true",message="type EKS needs eks and no other platform"
// +kubebuilder:validation:XValidation:rule="self.type == 'AKS' ? has(self.aks) && !has(self.eks) && !has(self.openShift) && !has(self.clusterAPI) : true",message="type AKS needs aks and no other platform"
// +kubebuilder:validation:XValidation:rule="self.type == 'OpenShift' ? has(self.openShift) && !has(self.eks) && !has(self.aks) && !has(self.clusterAPI) : true",message="type OpenShift needs openShift and no other platform"
// +kubebuilder:validation:XValidation:rule="self.type == 'ClusterAPI' ? has(self.clusterAPI) && !has(self.eks) && !has(self.aks) && !has(self.openShift) : true",message="type ClusterAPI needs clusterAPI and no other platform"
type Platform struct {
	// type names the platform.
	// +required
	// +unionDiscriminator
	Type PlatformType `json:"type"`
	// eks is an EC2 Auto Scaling group of an EKS cluster.
	// +optional
	EKS *EKSPlatform `json:"eks,omitempty"`
	// aks is an agent pool of an AKS cluster.
	// +optional
	AKS *AKSPlatform `json:"aks,omitempty"`
	// openShift is a MachineSet of an OpenShift cluster.
	// +optional
	OpenShift *MachineSetRef `json:"openShift,omitempty"`
	// clusterAPI is a Cluster API MachineDeployment (on-premises clusters).
	// +optional
	ClusterAPI *MachineSetRef `json:"clusterAPI,omitempty"`
}

// EKSPlatform names an EC2 Auto Scaling group.
type EKSPlatform struct {
	// region is the AWS region of the group.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Region string `json:"region"`
	// autoScalingGroup is the name of the group.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	AutoScalingGroup string `json:"autoScalingGroup"`
}

// AKSPlatform names an agent pool of an AKS cluster.
type AKSPlatform struct {
	// subscriptionID is the Azure subscription of the cluster.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	SubscriptionID string `json:"subscriptionID"`
	// resourceGroup is the cluster's resource group.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=90
	ResourceGroup string `json:"resourceGroup"`
	// cluster is the name of the managed cluster.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Cluster string `json:"cluster"`
	// agentPool is the name of the agent pool.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=12
	AgentPool string `json:"agentPool"`
}

// MachineSetRef names a namespaced object that owns machines (an OpenShift
// MachineSet or a Cluster API MachineDeployment).
type MachineSetRef struct {
	// namespace of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// NodeTemplate describes the nodes of a pool before any exists, so that the
// autoscaler can scale it up from zero; nodes the pool creates match it.
type NodeTemplate struct {
	// capacity of one node (cpu, memory, pods, GPUs as extended resources).
	// +required
	Capacity corev1.ResourceList `json:"capacity"`
	// allocatable of one node; defaults to capacity.
	// +optional
	Allocatable corev1.ResourceList `json:"allocatable,omitempty"`
	// labels every node of the pool carries (carve adds carve.dev/node-pool).
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Labels map[string]string `json:"labels,omitempty"`
	// taints every node of the pool carries; pods of profiles that run on
	// the pool get matching tolerations.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Taints []corev1.Taint `json:"taints,omitempty"`
}

// NodePoolSpec is a group of like nodes that scales as one.
// +kubebuilder:validation:XValidation:rule="self.minSize <= self.maxSize",message="minSize must not exceed maxSize"
// +kubebuilder:validation:XValidation:rule="self.role != 'Base' || self.minSize >= 1",message="a Base pool keeps at least one node: minSize must be 1 or more"
// +kubebuilder:validation:XValidation:rule="self.platform.type == oldSelf.platform.type",message="platform.type is immutable; create a new NodePool instead"
type NodePoolSpec struct {
	// role says what the pool is for.
	// +required
	Role NodePoolRole `json:"role"`
	// platform says where the pool's nodes come from.
	// +required
	Platform Platform `json:"platform"`
	// minSize is the fewest nodes the pool keeps.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	MinSize int32 `json:"minSize"`
	// maxSize is the most nodes the pool may grow to.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	MaxSize int32 `json:"maxSize"`
	// template describes the pool's nodes.
	// +required
	Template NodeTemplate `json:"template"`
	// pricePerHour is what one node costs an hour, in any currency, e.g.
	// "0.384"; it feeds the autoscaler's price expander.
	// +optional
	PricePerHour *resource.Quantity `json:"pricePerHour,omitempty"`
	// disruption says when carve retires the pool's nodes: chosen to empty
	// when the pool's work fits on fewer, drained by attrition (see
	// docs/consolidation.md).
	// +optional
	// +kubebuilder:default={consolidation: WhenUnderused, budget: 1}
	Disruption NodePoolDisruption `json:"disruption,omitzero"`
}

// ConsolidationPolicy says whether carve chooses nodes of a pool to retire.
// +kubebuilder:validation:Enum=WhenUnderused;Never
type ConsolidationPolicy string

const (
	// ConsolidateWhenUnderused: retire the node cheapest to empty when the
	// pool's work, and room for its expected arrivals, fit on fewer nodes.
	ConsolidateWhenUnderused ConsolidationPolicy = "WhenUnderused"
	// ConsolidateNever: retire only nodes an admin marks (annotation
	// carve.dev/retire) or that no longer match the pool's template.
	ConsolidateNever ConsolidationPolicy = "Never"
)

// NodePoolDisruption bounds how carve retires a pool's nodes.
type NodePoolDisruption struct {
	// consolidation: WhenUnderused (the default) or Never.
	// +optional
	// +kubebuilder:default=WhenUnderused
	Consolidation ConsolidationPolicy `json:"consolidation,omitempty"`
	// budget is the most nodes of the pool that may be retiring at once,
	// whatever the reason. 0 retires none. Default 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Budget *int32 `json:"budget,omitempty"`
}

// NodePoolStatus is what carve observes of a pool. The sizes have no
// omitempty, so that a pool at zero shows 0 in kubectl's columns.
type NodePoolStatus struct {
	// targetSize is the number of nodes the pool is asked to have.
	// +optional
	TargetSize int32 `json:"targetSize"`
	// currentSize is the number of nodes the pool has.
	// +optional
	CurrentSize int32 `json:"currentSize"`
	// readySize is the number of the pool's nodes that are Ready.
	// +optional
	ReadySize int32 `json:"readySize"`
	// costPerHour is what the pool's nodes cost an hour now: pricePerHour
	// times currentSize, in pricePerHour's currency, e.g. "1.152". Empty
	// when the pool has no price.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	CostPerHour string `json:"costPerHour,omitempty"`
	// drainingNodes is the number of the pool's nodes carve is retiring
	// (tainted carve.dev/draining), written by carve-controller.
	// +optional
	DrainingNodes int32 `json:"drainingNodes"`
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions describe the pool's state: Ready (carve-cloudprovider
	// serves the pool to the autoscaler), ScalingUp (nodes are asked for but
	// not Ready yet), ScaleRefused (a guard refused the latest size change
	// the autoscaler asked for) and TemplateMatches (the platform and the
	// pool's nodes agree with spec.template).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Condition types of a NodePool's status, written by carve-cloudprovider.
const (
	// NodePoolReady is True while carve-cloudprovider serves the pool to the
	// autoscaler: its platform is available and its target size readable.
	NodePoolReady = "Ready"
	// NodePoolScalingUp is True while the pool's target size exceeds its
	// Ready nodes.
	NodePoolScalingUp = "ScalingUp"
	// NodePoolScaleRefused is True when a guard refused the latest size
	// change the autoscaler asked for (reason: the guard), False once one
	// is carried out.
	NodePoolScaleRefused = "ScaleRefused"
	// NodePoolTemplateMatches is False when the platform (its group's
	// template hints) or the pool's first Ready node differs from
	// spec.template, with every difference in the message; Unknown while
	// there is nothing to compare.
	NodePoolTemplateMatches = "TemplateMatches"
)

// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=np,categories=carve
// +kubebuilder:printcolumn:name="ROLE",type=string,JSONPath=`.spec.role`
// +kubebuilder:printcolumn:name="PLATFORM",type=string,JSONPath=`.spec.platform.type`
// +kubebuilder:printcolumn:name="MIN",type=integer,JSONPath=`.spec.minSize`
// +kubebuilder:printcolumn:name="MAX",type=integer,JSONPath=`.spec.maxSize`
// +kubebuilder:printcolumn:name="TARGET",type=integer,JSONPath=`.status.targetSize`
// +kubebuilder:printcolumn:name="CURRENT",type=integer,JSONPath=`.status.currentSize`
// +kubebuilder:printcolumn:name="DRAINING",type=integer,JSONPath=`.status.drainingNodes`,priority=1,description="nodes carve is retiring"
// +kubebuilder:printcolumn:name="PRICE/H",type=string,JSONPath=`.spec.pricePerHour`,priority=1,description="what one node costs an hour"
// +kubebuilder:printcolumn:name="COST/H",type=string,JSONPath=`.status.costPerHour`,description="what the pool's nodes cost an hour now"
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`

// NodePool is a group of like nodes that carve's cloud provider scales for
// the cluster-autoscaler.
type NodePool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the admin decides.
	// +required
	Spec NodePoolSpec `json:"spec"`
	// status is what carve observes.
	// +optional
	Status NodePoolStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// NodePoolList is a list of NodePools.
type NodePoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodePool `json:"items"`
}

func init() {
	SchemeBuilder.Register(&NodePool{}, &NodePoolList{})
}
