package machineset

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// Kind describes one Machine API to the platform.
type Kind struct {
	// API names it in messages ("OpenShift Machine API", "Cluster API").
	API string
	// Set is the kind a NodePool names: it has a scale subresource whose
	// spec.replicas is the pool's target size, and a spec.selector over
	// its Machines.
	Set schema.GroupVersionKind
	// Machine is the Machine kind.
	Machine schema.GroupVersionKind
	// DirectOwner says the set owns its Machines itself (a MachineSet), so a
	// Machine whose controller ownerReference names another object is not
	// the set's even when its labels match. A MachineDeployment's Machines
	// are owned by its MachineSets; only the selector counts.
	DirectOwner bool
	// DeleteAnnotation, on a Machine, makes the set's controller delete it
	// before the others when the set has more Machines than replicas.
	DeleteAnnotation string
	// Ref is the pool's reference to its set, nil if the pool has none.
	Ref func(pool *carvev1.NodePool) *carvev1.MachineSetRef
	// NodeMachine says which Machine a Node belongs to from the Node's
	// annotations, ok false if they do not say.
	NodeMachine func(annotations map[string]string) (namespace, name string, ok bool)
	// Failure reads a Machine's terminal failure from its unstructured
	// content, nil when it has not failed.
	Failure func(machine map[string]any) *cloudprovider.InstanceError
	// Refuse says why carve must not scale a set, from its annotations: a
	// reason for conditions and a message, or "" when carve may. Nil means
	// never.
	Refuse func(setAnnotations map[string]string) (reason, message string)
}
