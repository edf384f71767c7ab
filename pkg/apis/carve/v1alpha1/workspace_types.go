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

	// budgets cap what the workspace, a team or a project may use per day,
	// week or month, in CPU-hours, GPU-hours or money (docs/metering.md).
	// Once a budget is spent, new pods of its scope wait (reason
	// OverBudget) until the period ends; running pods keep running.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Budgets []Budget `json:"budgets,omitempty"`

	// priorityClasses says which PriorityClasses the workspace's pods may
	// use. Unset: none may be named (pods get the cluster's globalDefault
	// class, if it has one).
	// +optional
	PriorityClasses *PriorityClassPolicy `json:"priorityClasses,omitempty"`

	// disruption says what carve may do to the workspace's pods when it
	// retires the node they run on (docs/consolidation.md). Unset: sessions
	// and jobs finish where they run; model replicas move.
	// +optional
	Disruption *WorkspaceDisruption `json:"disruption,omitempty"`
}

// JobDisruption says whether a job may be stopped to empty its node.
// +kubebuilder:validation:Enum=RunToCompletion;Restartable
type JobDisruption string

const (
	// JobsRunToCompletion: a job finishes on its node, which waits for it.
	JobsRunToCompletion JobDisruption = "RunToCompletion"
	// JobsRestartable: a job may be evicted from a retiring node, as model
	// replicas are, once its replacement has room elsewhere; its controller
	// (a Job, say) starts it again.
	JobsRestartable JobDisruption = "Restartable"
)

// WorkspaceDisruption is what carve may do to a workspace's pods on a node
// it retires.
// +kubebuilder:validation:XValidation:rule="!has(self.sessionNotice) || has(self.sessionDeadline)",message="sessionNotice needs a sessionDeadline"
// +kubebuilder:validation:XValidation:rule="!has(self.sessionDeadline) || duration(self.sessionDeadline) >= duration('0s')",message="sessionDeadline must not be negative"
// +kubebuilder:validation:XValidation:rule="!has(self.sessionNotice) || duration(self.sessionNotice) >= duration('0s')",message="sessionNotice must not be negative"
type WorkspaceDisruption struct {
	// jobs: RunToCompletion (the default) or Restartable.
	// +optional
	// +kubebuilder:default=RunToCompletion
	Jobs JobDisruption `json:"jobs,omitempty"`
	// sessionDeadline is how long a session may keep a retiring node, e.g.
	// "8h" for a maintenance window. Once it has passed — and at least
	// sessionNotice after its owner was told — the session is evicted.
	// Unset (the default): sessions are never evicted; the node waits for
	// them to end.
	// +optional
	SessionDeadline *metav1.Duration `json:"sessionDeadline,omitempty"`
	// sessionNotice is the least time between telling a session's owner
	// that it will be stopped and stopping it. Default 1h.
	// +optional
	SessionNotice *metav1.Duration `json:"sessionNotice,omitempty"`
}

// BudgetScope is what a budget caps.
// +kubebuilder:validation:Enum=Workspace;Team;Project
type BudgetScope string

const (
	BudgetWorkspace BudgetScope = "Workspace"
	BudgetTeam      BudgetScope = "Team"
	BudgetProject   BudgetScope = "Project"
)

// BudgetPeriod is how long a budget lasts before it starts again: a UTC
// day, a week from Monday 00:00 UTC, or a calendar month.
// +kubebuilder:validation:Enum=Day;Week;Month
type BudgetPeriod string

const (
	BudgetDay   BudgetPeriod = "Day"
	BudgetWeek  BudgetPeriod = "Week"
	BudgetMonth BudgetPeriod = "Month"
)

// Budget is a limit on what one scope uses in one period.
// +kubebuilder:validation:XValidation:rule="(has(self.cpuHours) ? 1 : 0) + (has(self.gpuHours) ? 1 : 0) + (has(self.cost) ? 1 : 0) == 1",message="set exactly one of cpuHours, gpuHours and cost"
// +kubebuilder:validation:XValidation:rule="self.scope != 'Workspace' || !has(self.name)",message="a Workspace budget names no team or project"
// +kubebuilder:validation:XValidation:rule="self.scope != 'Team' || has(self.name)",message="a Team budget names the team"
type Budget struct {
	// scope is what the budget caps: the whole workspace, one team, or a
	// project (each project, when name is unset).
	// +required
	Scope BudgetScope `json:"scope"`
	// name is the team (carve.dev/team) or the project (namespace).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// period is how long the budget lasts before it starts again.
	// +required
	Period BudgetPeriod `json:"period"`
	// cpuHours caps CPU core-hours requested by the scope's pods.
	// +optional
	CPUHours *resource.Quantity `json:"cpuHours,omitempty"`
	// gpuHours caps GPU-hours.
	// +optional
	GPUHours *resource.Quantity `json:"gpuHours,omitempty"`
	// cost caps money, in the currency of the NodePools' prices.
	// +optional
	Cost *resource.Quantity `json:"cost,omitempty"`
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

// WorkspaceStatus is what the workspace's pods hold and what waits, as
// carve-scheduler's queue accounts it: the scheduler that decides admissions
// writes it from the same numbers it decides with, a few seconds behind at
// most.
type WorkspaceStatus struct {
	// admitted is what the workspace's admitted, unfinished pods request
	// (what its quota counts).
	// +optional
	Admitted ResourceUsage `json:"admitted,omitzero"`
	// waiting counts the workspace's pods waiting for quota.
	// +optional
	Waiting int32 `json:"waiting"`
	// summary is what kubectl get's columns show: used/quota of CPU, memory
	// and GPUs.
	// +optional
	Summary WorkspaceSummary `json:"summary,omitzero"`
	// teams are the teams with a quota in teamQuotas or a namespace in the
	// workspace, by name.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=512
	Teams []ScopeStatus `json:"teams,omitempty"`
	// projects are the workspace's namespaces, by name. A workspace with more
	// than 1024 lists those holding or waiting for most.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=1024
	Projects []ScopeStatus `json:"projects,omitempty"`
	// budgets say how much of each budget is used this period, one entry
	// per budget and, for a budget of each project, per project that used
	// any.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1024
	Budgets []BudgetStatus `json:"budgets,omitempty"`
	// spend is what the workspace's pods used and cost this period, metered
	// by carve-scheduler from bind to end.
	// +optional
	Spend *WorkspaceSpend `json:"spend,omitempty"`
	// projectCount counts the workspace's namespaces.
	// +optional
	ProjectCount int32 `json:"projectCount"`
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions describe the workspace's state: QuotaExhausted is True while
	// pods wait for quota.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ResourceUsage is an amount of what quotas cap.
type ResourceUsage struct {
	// cpu is CPU, in cores.
	// +optional
	CPU resource.Quantity `json:"cpu"`
	// memory is memory, in bytes.
	// +optional
	Memory resource.Quantity `json:"memory"`
	// gpu counts GPUs of any vendor (a MIG slice counts as one).
	// +optional
	GPU resource.Quantity `json:"gpu"`
	// pods counts pods.
	// +optional
	Pods int32 `json:"pods"`
}

// ScopeStatus is what one team or project of a workspace holds and what of
// it waits.
type ScopeStatus struct {
	// name is the team (carve.dev/team) or the namespace.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// team is a project's team, if its namespace names one.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Team string `json:"team,omitempty"`
	// quota is the quota that caps this team or project alone: its entry in
	// teamQuotas, or projectQuota. Unset when none does.
	// +optional
	Quota *Quota `json:"quota,omitempty"`
	// admitted is what its admitted, unfinished pods request.
	// +optional
	Admitted ResourceUsage `json:"admitted"`
	// waiting counts its pods waiting for quota.
	// +optional
	Waiting int32 `json:"waiting"`
	// exhausted names the resources (cpu, memory, gpu, pods) of this scope's
	// own quota that a waiting pod of it waits for.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	Exhausted []string `json:"exhausted,omitempty"`
}

// WorkspaceSummary is the status as kubectl's columns show it.
type WorkspaceSummary struct {
	// cpu is the CPU admitted and the workspace's CPU quota, e.g. "6/8";
	// without a quota, only what is admitted.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	CPU string `json:"cpu,omitempty"`
	// memory is the same for memory, e.g. "24Gi/64Gi".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Memory string `json:"memory,omitempty"`
	// gpu is the same for GPUs, e.g. "2/4".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	GPU string `json:"gpu,omitempty"`
	// spend is what the workspace's pods cost this period, e.g. "12.40".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Spend string `json:"spend,omitempty"`
}

// WorkspaceSpend is what a workspace's pods used and cost in one period:
// each pod's requests from the moment it is bound to a node until it ends,
// priced at its node's NodePool pricePerHour split over the node's
// allocatable (docs/metering.md).
type WorkspaceSpend struct {
	// period is the calendar month, in UTC, the totals are for, e.g.
	// "2026-12".
	// +required
	// +kubebuilder:validation:MaxLength=16
	Period string `json:"period"`
	// meteredUntil is the instant up to which the totals include every
	// running pod; a restarted scheduler meters them on from there.
	// +required
	MeteredUntil metav1.Time `json:"meteredUntil"`
	// total is the whole workspace's.
	// +required
	Total SpendAmounts `json:"total"`
	// teams, projects, profiles and kinds split the total by the pods'
	// team, namespace, ResourceProfile and workload kind (carve.dev/workload).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=512
	Teams []NamedSpend `json:"teams,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=1024
	Projects []NamedSpend `json:"projects,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Profiles []NamedSpend `json:"profiles,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Kinds []NamedSpend `json:"kinds,omitempty"`
	// days are the totals of each UTC day: the current one and the 35
	// before it, oldest first; days without use are left out. They are
	// complete up to meteredUntil, as the month's are.
	// +optional
	// +listType=map
	// +listMapKey=period
	// +kubebuilder:validation:MaxItems=36
	Days []PeriodSpend `json:"days,omitempty"`
	// months are the totals of each calendar month (UTC) before period, up
	// to 12, oldest first; months without use are left out.
	// +optional
	// +listType=map
	// +listMapKey=period
	// +kubebuilder:validation:MaxItems=12
	Months []PeriodSpend `json:"months,omitempty"`
}

// PeriodSpend is what a workspace's pods used and cost in one UTC day or
// calendar month of its history. Its splits list the names that cost most
// (then used most CPU, then by name); the rest are summed under "(other)",
// so that each split still adds up to the total and the history stays
// small.
type PeriodSpend struct {
	// period is the UTC day ("2026-12-03") or calendar month ("2026-11").
	// +required
	// +kubebuilder:validation:MaxLength=16
	Period string `json:"period"`
	// total is the whole workspace's.
	// +required
	Total SpendAmounts `json:"total"`
	// teams, projects, profiles and kinds split the total as in
	// WorkspaceSpend, at most 16 teams, 32 projects, 16 profiles and 8
	// kinds, "(other)" included.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Teams []NamedSpend `json:"teams,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Projects []NamedSpend `json:"projects,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Profiles []NamedSpend `json:"profiles,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	Kinds []NamedSpend `json:"kinds,omitempty"`
}

// OtherSpend is the name under which a history period's split sums the
// names it does not list.
const OtherSpend = "(other)"

// The history a Workspace's status.spend keeps (the MaxItems of days and
// months): the current UTC day and SpendHistoryDays before it, and
// SpendHistoryMonths calendar months before the current one.
const (
	SpendHistoryDays   = 35
	SpendHistoryMonths = 12
)

// SpendAmounts are resource-hours and their cost, as decimal strings.
type SpendAmounts struct {
	// cpuHours is CPU core-hours requested, e.g. "12.5".
	// +kubebuilder:validation:MaxLength=32
	CPUHours string `json:"cpuHours"`
	// memoryGiBHours is memory GiB-hours requested.
	// +kubebuilder:validation:MaxLength=32
	MemoryGiBHours string `json:"memoryGiBHours"`
	// gpuHours is GPU-hours requested.
	// +kubebuilder:validation:MaxLength=32
	GPUHours string `json:"gpuHours"`
	// cost is what they cost, in the currency of the NodePools' prices.
	// +kubebuilder:validation:MaxLength=32
	Cost string `json:"cost"`
}

// BudgetStatus is how much of one budget is used.
type BudgetStatus struct {
	// scope, name and period are the budget's; name is the project for a
	// budget of each project.
	Scope BudgetScope `json:"scope"`
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Name   string       `json:"name,omitempty"`
	Period BudgetPeriod `json:"period"`
	// unit is what the budget counts: cpuHours, gpuHours or cost.
	// +kubebuilder:validation:Enum=cpuHours;gpuHours;cost
	Unit string `json:"unit"`
	// used and limit are decimal strings in that unit.
	// +kubebuilder:validation:MaxLength=32
	Used string `json:"used"`
	// +kubebuilder:validation:MaxLength=32
	Limit string `json:"limit"`
	// periodStart is when this period began; resetsAt when it ends.
	PeriodStart metav1.Time `json:"periodStart"`
	ResetsAt    metav1.Time `json:"resetsAt"`
	// spent is true once used reaches limit: new pods of the scope wait.
	Spent bool `json:"spent"`
	// warned is the share, in percent, of the last warning Event (80 or
	// 100) this period; 0 before any.
	// +optional
	Warned int32 `json:"warned,omitempty"`
}

// NamedSpend is the spend of one team, project, profile or kind.
type NamedSpend struct {
	// name is the team, namespace, profile or kind ("" pods without one are
	// under "none").
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name         string `json:"name"`
	SpendAmounts `json:",inline"`
}

// Condition types and reasons of a Workspace's status, written by
// carve-scheduler.
const (
	// WorkspaceQuotaExhausted is True while some of the workspace's pods
	// wait for quota; the message names the scopes and resources.
	WorkspaceQuotaExhausted = "QuotaExhausted"
	// ReasonPodsWaiting: pods wait for quota.
	ReasonPodsWaiting = "PodsWaiting"
	// ReasonNoneWaiting: no pod waits for quota.
	ReasonNoneWaiting = "NoneWaiting"
	// WorkspaceOverBudget is True while a budget of the workspace, one of
	// its teams or one of its projects is spent.
	WorkspaceOverBudget = "OverBudget"
	// ReasonBudgetSpent: a budget is spent; ReasonWithinBudget: none is.
	ReasonBudgetSpent  = "BudgetSpent"
	ReasonWithinBudget = "WithinBudget"
)

// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ws,categories=carve
// +kubebuilder:printcolumn:name="CPU",type=string,JSONPath=`.status.summary.cpu`,description="CPU admitted / the workspace's CPU quota"
// +kubebuilder:printcolumn:name="MEMORY",type=string,JSONPath=`.status.summary.memory`,priority=1,description="memory admitted / quota"
// +kubebuilder:printcolumn:name="GPU",type=string,JSONPath=`.status.summary.gpu`,description="GPUs admitted / quota"
// +kubebuilder:printcolumn:name="PODS",type=integer,JSONPath=`.status.admitted.pods`,priority=1,description="admitted, unfinished pods"
// +kubebuilder:printcolumn:name="WAITING",type=integer,JSONPath=`.status.waiting`,description="pods waiting for quota"
// +kubebuilder:printcolumn:name="SPEND",type=string,JSONPath=`.status.summary.spend`,description="what the workspace's pods cost this month"
// +kubebuilder:printcolumn:name="PROJECTS",type=integer,JSONPath=`.status.projectCount`,priority=1
// +kubebuilder:printcolumn:name="DEFAULT",type=string,JSONPath=`.spec.defaultProfile`,priority=1
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
