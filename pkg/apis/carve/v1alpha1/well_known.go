package v1alpha1

// Labels and annotations that make up carve's contract. Users and other tools
// may rely on them; see docs/pod-contract.md.
const (
	// LabelWorkspace on a namespace makes it a project of that Workspace; on a
	// pod, carve records the workspace the pod was admitted under.
	LabelWorkspace = "carve.dev/workspace"
	// LabelTeam on a namespace puts the project in a team of its workspace;
	// carve copies it onto the namespace's pods.
	LabelTeam = "carve.dev/team"
	// LabelProfile on a pod picks its ResourceProfile.
	LabelProfile = "carve.dev/profile"
	// LabelWorkload on a pod says what kind of work it is (session, job, model).
	LabelWorkload = "carve.dev/workload"
	// LabelNodePool on a node names the NodePool it belongs to; pods of a
	// profile are steered to their pools through it.
	LabelNodePool = "carve.dev/node-pool"

	// AnnotationApplied records, as JSON, what carve's pod webhook applied.
	AnnotationApplied = "carve.dev/applied"

	// AnnotationExpectedDuration on a pod is how long it is expected to run,
	// as a Go duration ("45m", "2h"): a tool that knows (a pipeline, say)
	// may set it; wait estimates and consolidation use it.
	AnnotationExpectedDuration = "carve.dev/expected-duration"

	// AnnotationScaleDownDisabled ("true") is cluster-autoscaler's per-node
	// scale-down opt-out; carve-cloudprovider refuses to delete such a node
	// and carve-controller never retires it.
	AnnotationScaleDownDisabled = "cluster-autoscaler.kubernetes.io/scale-down-disabled"

	// AnnotationSafeToEvict is cluster-autoscaler's per-pod scale-down opt-out.
	AnnotationSafeToEvict = "cluster-autoscaler.kubernetes.io/safe-to-evict"

	// TaintDraining (PreferNoSchedule) marks a node that carve-controller is
	// retiring: new workspace pods start elsewhere (BinPack ranks it below
	// every other node that fits), and only when no other node has room do
	// they start there — which takes the node back instead of buying one.
	TaintDraining = "carve.dev/draining"
	// AnnotationRetire on a node asks carve-controller to retire it (any
	// value but "false"): drained by attrition, as consolidation drains.
	AnnotationRetire = "carve.dev/retire"
	// AnnotationRetiring on a node says why carve-controller retires it
	// (Underused, Requested, Drifted) while it carries TaintDraining.
	AnnotationRetiring = "carve.dev/retiring"
	// AnnotationRetiringSince is when carve-controller began to retire the
	// node (RFC 3339).
	AnnotationRetiringSince = "carve.dev/retiring-since"
	// TaintDeleting (NoSchedule) is put on a node by carve-cloudprovider
	// before it checks the node's pods for a deletion, so that no pod lands
	// there between the check and the delete. No profile may tolerate it.
	TaintDeleting = "carve.dev/deleting"

	// SchedulerName is the scheduler that places every workspace pod.
	SchedulerName = "carve-scheduler"

	// DefaultGPUResource is the extended resource a GPU profile asks for when
	// it names none.
	DefaultGPUResource = "nvidia.com/gpu"

	// PodConditionAdmitted is carve-scheduler's condition on workspace pods
	// that had to wait for quota: False with reason WaitingForQuota while the
	// pod waits (the message names the quota and the pod's place in the
	// queue), True with reason Admitted once it may be scheduled. carve never
	// uses PodScheduled for quota: cluster-autoscaler reads that condition
	// and would buy nodes for pods that quota holds back.
	PodConditionAdmitted = "carve.dev/Admitted"
	// ReasonWaitingForQuota is the reason of a waiting pod's condition and
	// events.
	ReasonWaitingForQuota = "WaitingForQuota"
	// ReasonOverBudget is the reason of a pod's condition and events while
	// it waits because a budget of its scope is spent this period.
	ReasonOverBudget = "OverBudget"
	// ReasonAdmitted is the reason once a waiting pod is admitted.
	ReasonAdmitted = "Admitted"

	// PodConditionNodeRetiring is carve-controller's condition on sessions
	// (and other pods that stay) on a node it retires: True with reason
	// NodeRetiring while it does — the message says whether and when the
	// pod may be stopped — False with reason NodeKept once the node is no
	// longer retired.
	PodConditionNodeRetiring = "carve.dev/NodeRetiring"
	ReasonNodeRetiring       = "NodeRetiring"
	ReasonNodeKept           = "NodeKept"
)

// Workload is the kind of work a pod does; it tells carve how long the pod
// will likely live and whether it may be disturbed.
// +kubebuilder:validation:Enum=session;job;model
type Workload string

const (
	// WorkloadSession is an interactive session (notebook, IDE): hours long,
	// never evicted by scale-down.
	WorkloadSession Workload = "session"
	// WorkloadJob is a batch job: minutes long, runs to completion.
	WorkloadJob Workload = "job"
	// WorkloadModel is a model endpoint: long-running and replicated.
	WorkloadModel Workload = "model"
)

// Workloads lists the valid workload kinds in a stable order.
var Workloads = []Workload{WorkloadSession, WorkloadJob, WorkloadModel}

// WorkloadOther is how carve-scheduler's configuration names pods without a
// workload kind (pods outside workspaces). It is not a label value.
const WorkloadOther Workload = "other"

// SchedulingKinds are the kinds carve-scheduler's BinPack tells apart:
// every workload kind, then WorkloadOther.
var SchedulingKinds = append(append([]Workload(nil), Workloads...), WorkloadOther)
