package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkspaceSpec says which profiles a workspace's pods may use and how much
// of the cluster its projects may hold at once.
//
// A namespace becomes a project of the workspace when it is labelled
// carve.dev/workspace=<workspace name>, and joins a team with carve.dev/team.
// +kubebuilder:validation:XValidation:rule="self.allowedProfiles.exists(p, p == self.defaultProfile)",message="defaultProfile must be one of allowedProfiles"
type WorkspaceSpec struct {
	// description tells users what the workspace is for.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Description string `json:"description,omitempty"`

	// allowedProfiles names the ResourceProfiles pods in this workspace may pick.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	AllowedProfiles []string `json:"allowedProfiles"`

	// defaultProfile is the profile of pods that do not pick one with the
	// carve.dev/profile label. It must be one of allowedProfiles.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	DefaultProfile string `json:"defaultProfile"`

	// quota caps what the whole workspace holds at once. Unset means no cap.
	// +optional
	Quota *Quota `json:"quota,omitempty"`

	// teamQuotas caps what each named team (namespaces labelled carve.dev/team)
	// holds at once.
	// +optional
	// +listType=map
	// +listMapKey=team
	// +kubebuilder:validation:MaxItems=256
	TeamQuotas []TeamQuota `json:"teamQuotas,omitempty"`

	// projectQuota caps what each project (namespace) holds at once.
	// +optional
	ProjectQuota *Quota `json:"projectQuota,omitempty"`

	// queueing says in which order pods that wait for quota start.
	// +optional
	// +kubebuilder:default={policy: FairShare}
	Queueing QueueingSpec `json:"queueing,omitzero"`

	// priorityClasses says which PriorityClasses the workspace's pods may
	// use. Unset: none may be named (pods get the cluster's globalDefault
	// class, if it has one).
	// +optional
	PriorityClasses *PriorityClassPolicy `json:"priorityClasses,omitempty"`
}

// PriorityClassPolicy is which PriorityClasses a workspace's pods may use. A
// priority decides the order of kube-scheduler's queue and which pods
// preemption evicts, so a class a tenant picks freely lets it jump every
// queue and evict other tenants' sessions.
// +kubebuilder:validation:XValidation:rule="!has(self.default) || (has(self.allowed) && self.default in self.allowed)",message="default must be one of allowed"
type PriorityClassPolicy struct {
	// allowed names the PriorityClasses pods may set in priorityClassName.
	// The cluster's globalDefault class, which the API server gives pods that
	// name none, is always allowed.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=253
	Allowed []string `json:"allowed,omitempty"`
	// default is the class of pods that name none (or name the cluster's
	// globalDefault). It must be one of allowed.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Default string `json:"default,omitempty"`
	// sessionPreemption says whether sessions may preempt other pods. Never
	// (the default) refuses a session whose class has preemptionPolicy
	// PreemptLowerPriority and a value above 0: a notebook must never evict
	// someone else's running work to start. PreemptLowerPriority allows it.
	// +optional
	// +kubebuilder:validation:Enum=Never;PreemptLowerPriority
	SessionPreemption corev1.PreemptionPolicy `json:"sessionPreemption,omitempty"`
}

// Quota is an amount of the cluster that a workspace, team or project may
// hold at once. An unset field means no cap on that resource.
type Quota struct {
	// cpu caps the CPU requested by running and admitted pods.
	// +optional
	CPU *resource.Quantity `json:"cpu,omitempty"`
	// memory caps the memory requested by running and admitted pods.
	// +optional
	Memory *resource.Quantity `json:"memory,omitempty"`
	// gpu caps the GPUs (of any GPU resource) requested by running and
	// admitted pods.
	// +optional
	GPU *resource.Quantity `json:"gpu,omitempty"`
	// pods caps the number of running and admitted pods.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Pods *int32 `json:"pods,omitempty"`
}

// TeamQuota is the quota of one team.
type TeamQuota struct {
	// team is the value of the carve.dev/team label on the team's namespaces.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Team string `json:"team"`
	// quota caps what the team holds at once.
	// +required
	Quota Quota `json:"quota"`
}

// QueueingPolicy is the order in which waiting pods start.
// +kubebuilder:validation:Enum=FairShare;FIFO
type QueueingPolicy string

const (
	// QueueingFairShare starts first the pods of the project and team holding
	// the smallest share of the workspace, then the oldest.
	QueueingFairShare QueueingPolicy = "FairShare"
	// QueueingFIFO starts pods in the order they were created.
	QueueingFIFO QueueingPolicy = "FIFO"
)

// QueueingSpec configures the workspace's queue.
type QueueingSpec struct {
	// policy is the order in which waiting pods start.
	// +optional
	// +kubebuilder:default=FairShare
	Policy QueueingPolicy `json:"policy,omitempty"`
}

// WorkspaceStatus is what the workspace holds and what waits.
type WorkspaceStatus struct {
	// used is what the workspace's admitted, unfinished pods request.
	// +optional
	Used corev1.ResourceList `json:"used,omitempty"`
	// admitted counts the workspace's admitted, unfinished pods.
	// +optional
	Admitted int32 `json:"admitted,omitempty"`
	// pending counts the workspace's pods waiting for quota.
	// +optional
	Pending int32 `json:"pending,omitempty"`
	// projects counts the namespaces labelled with this workspace.
	// +optional
	Projects int32 `json:"projects,omitempty"`
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions describe the workspace's state.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ws,categories=carve
// +kubebuilder:printcolumn:name="DEFAULT",type=string,JSONPath=`.spec.defaultProfile`
// +kubebuilder:printcolumn:name="CPU USED",type=string,JSONPath=`.status.used.cpu`
// +kubebuilder:printcolumn:name="CPU QUOTA",type=string,JSONPath=`.spec.quota.cpu`
// +kubebuilder:printcolumn:name="GPU USED",type=string,JSONPath=`.status.used.nvidia\.com/gpu`,priority=1
// +kubebuilder:printcolumn:name="GPU QUOTA",type=string,JSONPath=`.spec.quota.gpu`
// +kubebuilder:printcolumn:name="PODS",type=integer,JSONPath=`.status.admitted`
// +kubebuilder:printcolumn:name="PENDING",type=integer,JSONPath=`.status.pending`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`

// Workspace groups the projects (namespaces) of a data-science team: the
// profiles they may use, their quota, and the queue their extra work waits in.
type Workspace struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the admin decides.
	// +required
	Spec WorkspaceSpec `json:"spec"`
	// status is what carve observes.
	// +optional
	Status WorkspaceStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// WorkspaceList is a list of Workspaces.
type WorkspaceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Workspace `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Workspace{}, &WorkspaceList{})
}

// Allows reports whether pods of the workspace may pick the named profile.
func (w *Workspace) Allows(profile string) bool {
	for _, p := range w.Spec.AllowedProfiles {
		if p == profile {
			return true
		}
	}
	return false
}
