package cloudprovider

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// Platform is where a NodePool's nodes come from. The server calls it with
// the pool's lock held, so a Platform sees at most one changing call per pool
// at a time, but calls for different pools, and Instances/TargetSize, may run
// concurrently.
//
// Every method returns errors made with Errorf and one of the Err kinds:
// ErrNotFound when the pool's backing object does not exist, ErrInvalid for
// a request that can never succeed, ErrQuotaExceeded when the platform has no
// capacity left, ErrTransient when a retry may succeed. Any other error is
// reported to the autoscaler as Internal.
type Platform interface {
	// Create asks for n (> 0) more instances. It returns once the platform
	// has accepted the request; the instances may appear later, listed by
	// Instances as creating. ErrQuotaExceeded means none (or not all) of the
	// n could be obtained; instances already obtained stay.
	Create(ctx context.Context, pool *carvev1.NodePool, n int) error
	// Delete removes exactly the given instances (ids as listed by
	// Instances) and lowers the target size by as many. Ids that no longer
	// exist or are already being deleted are not an error: Delete is
	// idempotent. ErrInvalid means an id does not belong to the pool.
	Delete(ctx context.Context, pool *carvev1.NodePool, ids []string) error
	// Instances lists the pool's instances, including those being created
	// (possibly under placeholder ids, see doc.go) and those being deleted.
	// An instance's id is the spec.providerID of its Node. The order is
	// the platform's: the autoscaler asks for it in every loop, and sorting
	// thousands of ids would cost more than listing them.
	Instances(ctx context.Context, pool *carvev1.NodePool) ([]Instance, error)
	// TargetSize is the number of instances the pool is asked to have:
	// running and creating ones, not those being deleted.
	TargetSize(ctx context.Context, pool *carvev1.NodePool) (int32, error)
}

// InstanceState is the lifecycle state of an instance.
type InstanceState int

const (
	// StateRunning: the machine exists (its Node may or may not be
	// registered yet).
	StateRunning InstanceState = iota + 1
	// StateCreating: asked for, not yet a machine.
	StateCreating
	// StateDeleting: being removed.
	StateDeleting
)

func (s InstanceState) String() string {
	switch s {
	case StateRunning:
		return "running"
	case StateCreating:
		return "creating"
	case StateDeleting:
		return "deleting"
	}
	return "unknown"
}

// Instance is one machine of a pool.
type Instance struct {
	// ID is the spec.providerID the instance's Node has (or will have).
	ID string
	// State is where the instance is in its life.
	State InstanceState
	// Error is set when creating or running the instance failed.
	Error *InstanceError
}

// InstanceError says why an instance failed.
type InstanceError struct {
	// Code is a short machine-readable reason, e.g. "QuotaExceeded".
	Code string
	// Message is for people.
	Message string
	// OutOfResources says the platform lacked capacity or quota (the
	// autoscaler then backs off the group) rather than another failure.
	OutOfResources bool
}

// NodeTemplater is implemented by platforms whose nodes carry more than
// NodeFromTemplate gives them (kwok's annotation, a provider id scheme). The
// server then builds a pool's template node through it, so the template and
// the real nodes come from the same function.
type NodeTemplater interface {
	// TemplateNode is the Node the platform would create for pool, named
	// name.
	TemplateNode(pool *carvev1.NodePool, name string) *corev1.Node
}

// ProviderIDMapper is implemented by platforms whose provider ids name the
// pool (kwok://<pool>/<node>), so a node can be mapped without its labels.
type ProviderIDMapper interface {
	// PoolForProviderID returns the pool a provider id belongs to, or false
	// if the id is not one of this platform's.
	PoolForProviderID(providerID string) (string, bool)
}

// Refresher is implemented by platforms that cache what their cloud says
// (Auto Scaling groups, agent pools), so that the autoscaler's per-loop
// NodeGroupNodes and TargetSize calls for every pool cost no cloud call. The
// server calls Refresh when the autoscaler sends Refresh, once per loop, with
// every pool of the platform; a Refresher reads all of them in as few calls
// as its cloud allows (DescribeAutoScalingGroups takes 100 names) and keeps
// its cache current itself after the changes it makes. Instances and
// TargetSize of a pool not refreshed yet read it from the cloud.
type Refresher interface {
	Refresh(ctx context.Context, pools []*carvev1.NodePool) error
}

// TemplateChecker is implemented by platforms that say what their nodes will
// be before one exists: an Auto Scaling group's
// k8s.io/cluster-autoscaler/node-template/* tags, an agent pool's labels and
// taints, a MachineSet's capacity.cluster-autoscaler.kubernetes.io/*
// annotations. The pool's status then names every difference from its
// NodePool template, so that an admin learns a GPU pool's template is wrong
// before anyone waits on it. It must answer from what the platform has
// cached (Refresher), never with a cloud call of its own.
type TemplateChecker interface {
	// TemplateDifferences lists, one sentence each for an admin, where the
	// platform's nodes differ from pool.spec.template, e.g. `label
	// nvidia.com/gpu.product: the group says "A100", the template "T4"`;
	// nil when they agree or the platform says nothing.
	TemplateDifferences(ctx context.Context, pool *carvev1.NodePool) ([]string, error)
}

// Refuser is implemented by platforms that refuse to change some pools in
// their current state, whatever the autoscaler asks: a MachineSet that an
// OpenShift MachineAutoscaler already scales. Create and Delete of such a
// pool return an ErrRefused error; Refusal says so ahead of any request, from
// the platform's cache, so that the pool's Ready condition can tell the admin.
type Refuser interface {
	// Refusal returns a CamelCase reason and a message saying who else
	// scales the pool and what to do, or "" when the pool may be changed.
	Refusal(pool *carvev1.NodePool) (reason, message string)
}
