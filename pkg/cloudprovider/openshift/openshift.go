package openshift

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/machineset"
)

const (
	// Group and Version of OpenShift's Machine API.
	Group   = "machine.openshift.io"
	Version = "v1beta1"

	// Namespace is where OpenShift's MachineSets and Machines live.
	Namespace = "openshift-machine-api"

	// AnnotationDeleteMachine on a Machine makes its MachineSet delete it
	// first when scaled down.
	AnnotationDeleteMachine = "machine.openshift.io/delete-machine"
	// AnnotationMachine on a Node names its Machine, <namespace>/<name>.
	AnnotationMachine = "machine.openshift.io/machine"
	// AnnotationMachineAutoscaler on a MachineSet names the
	// MachineAutoscaler that scales it.
	AnnotationMachineAutoscaler = "autoscaling.openshift.io/machineautoscaler"

	// ReasonMachineAutoscaler is the reason of the refusal of a MachineSet a
	// MachineAutoscaler owns (machineset.RefusedError.Reason).
	ReasonMachineAutoscaler = "MachineAutoscaler"

	// reasonInsufficientResources is the Machine errorReason of a cloud
	// out of capacity (OpenShift's MachineStatusError values).
	reasonInsufficientResources = "InsufficientResources"
)

// Kind is OpenShift's Machine API as package machineset needs it.
func Kind() machineset.Kind {
	return machineset.Kind{
		API:              "OpenShift Machine API",
		Set:              schema.GroupVersionKind{Group: Group, Version: Version, Kind: "MachineSet"},
		Machine:          schema.GroupVersionKind{Group: Group, Version: Version, Kind: "Machine"},
		DirectOwner:      true,
		DeleteAnnotation: AnnotationDeleteMachine,
		Ref:              func(pool *carvev1.NodePool) *carvev1.MachineSetRef { return pool.Spec.Platform.OpenShift },
		NodeMachine:      NodeMachine,
		Failure:          Failure,
		Refuse:           Refuse,
	}
}

// New returns the OpenShift platform (machineset.New with Kind), watching
// MachineSets and Machines in Namespace only unless opts say otherwise
// (machineset.WithNamespaces): OpenShift's machine controllers reconcile
// no other namespace.
func New(ctx context.Context, cfg *rest.Config, c client.Client, nodes machineset.Informers, opts ...machineset.Option) *machineset.Platform {
	return machineset.New(ctx, Kind(), cfg, c, nodes, append([]machineset.Option{machineset.WithNamespaces(Namespace)}, opts...)...)
}

// NodeMachine reads a Node's machine.openshift.io/machine annotation.
func NodeMachine(annotations map[string]string) (namespace, name string, ok bool) {
	ns, name, found := strings.Cut(annotations[AnnotationMachine], "/")
	if !found || ns == "" || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	return ns, name, true
}

// Failure reads a Machine's status.errorReason and status.errorMessage (set
// by the machine controller for a terminal failure) or its Failed phase.
func Failure(obj map[string]any) *cloudprovider.InstanceError {
	reason, _, _ := unstructured.NestedString(obj, "status", "errorReason")
	msg, _, _ := unstructured.NestedString(obj, "status", "errorMessage")
	phase, _, _ := unstructured.NestedString(obj, "status", "phase")
	if reason == "" && msg == "" && phase != "Failed" {
		return nil
	}
	if reason == "" {
		reason = "MachineFailed"
	}
	if msg == "" {
		msg = "the Machine is in phase " + phase
	}
	return &cloudprovider.InstanceError{Code: reason, Message: msg, OutOfResources: reason == reasonInsufficientResources}
}

// Refuse refuses a MachineSet that a MachineAutoscaler owns.
func Refuse(annotations map[string]string) (reason, message string) {
	owner, ok := annotations[AnnotationMachineAutoscaler]
	if !ok {
		return "", ""
	}
	return ReasonMachineAutoscaler, fmt.Sprintf("MachineAutoscaler %s scales it (annotation %s), and two autoscalers must not share one set; "+
		"delete that MachineAutoscaler, or point the NodePool at a MachineSet of its own", owner, AnnotationMachineAutoscaler)
}
