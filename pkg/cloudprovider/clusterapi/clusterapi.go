package clusterapi

import (
	"context"
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
	// Group and Version of Cluster API. Its CRDs serve v1beta1 and v1beta2
	// through a conversion webhook; v1beta2 is the stored version.
	Group   = "cluster.x-k8s.io"
	Version = "v1beta2"

	// AnnotationDeleteMachine on a Machine makes its MachineSet delete it
	// first when scaled down (every delete order honours it).
	AnnotationDeleteMachine = "cluster.x-k8s.io/delete-machine"
	// AnnotationMachine on a Node names its Machine; Cluster API writes the
	// name alone and the namespace in AnnotationClusterNamespace.
	AnnotationMachine = "cluster.x-k8s.io/machine"
	// AnnotationClusterNamespace on a Node is its Cluster's (and Machine's)
	// namespace.
	AnnotationClusterNamespace = "cluster.x-k8s.io/cluster-namespace"

	reasonInsufficientResources = "InsufficientResources"
)

func kind(set string, directOwner bool) machineset.Kind {
	return machineset.Kind{
		API:              "Cluster API",
		Set:              schema.GroupVersionKind{Group: Group, Version: Version, Kind: set},
		Machine:          schema.GroupVersionKind{Group: Group, Version: Version, Kind: "Machine"},
		DirectOwner:      directOwner,
		DeleteAnnotation: AnnotationDeleteMachine,
		Ref:              func(pool *carvev1.NodePool) *carvev1.MachineSetRef { return pool.Spec.Platform.ClusterAPI },
		NodeMachine:      NodeMachine,
		Failure:          Failure,
	}
}

// Kind scales MachineDeployments: their Machines are owned by the
// deployment's MachineSets, and found by the deployment's selector.
func Kind() machineset.Kind { return kind("MachineDeployment", false) }

// MachineSetKind scales MachineSets, which own their Machines.
func MachineSetKind() machineset.Kind { return kind("MachineSet", true) }

// New returns the Cluster API platform over MachineDeployments.
func New(ctx context.Context, cfg *rest.Config, c client.Client, nodes machineset.Informers, opts ...machineset.Option) *machineset.Platform {
	return machineset.New(ctx, Kind(), cfg, c, nodes, opts...)
}

// NodeMachine reads a Node's cluster.x-k8s.io/machine annotation: a name,
// with the namespace in cluster.x-k8s.io/cluster-namespace, or
// <namespace>/<name>.
func NodeMachine(annotations map[string]string) (namespace, name string, ok bool) {
	v := annotations[AnnotationMachine]
	if ns, n, found := strings.Cut(v, "/"); found {
		if ns == "" || n == "" || strings.Contains(n, "/") {
			return "", "", false
		}
		return ns, n, true
	}
	ns := annotations[AnnotationClusterNamespace]
	if v == "" || ns == "" {
		return "", "", false
	}
	return ns, v, true
}

// Failure reads a v1beta2 Machine's terminal failure: v1beta2 keeps the
// v1beta1 failureReason and failureMessage under status.deprecated.v1beta1
// (the fields the autoscaler's own provider reads, and what infrastructure
// providers still set); without them a Failed phase counts.
func Failure(obj map[string]any) *cloudprovider.InstanceError {
	reason, _, _ := unstructured.NestedString(obj, "status", "deprecated", "v1beta1", "failureReason")
	msg, _, _ := unstructured.NestedString(obj, "status", "deprecated", "v1beta1", "failureMessage")
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
