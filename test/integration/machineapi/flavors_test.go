package machineapi_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider/clusterapi"
	"github.com/carve-dev/carve/pkg/cloudprovider/machineset"
	"github.com/carve-dev/carve/pkg/cloudprovider/openshift"
)

const (
	openshiftNamespace = openshift.Namespace
	capiNamespace      = "capi-test"
	clusterName        = "test"
	// providerIDPrefix starts the providerIDs the machine controller gives
	// its Machines: fake://<namespace>/<machine>.
	providerIDPrefix = "fake://"
)

// flavor is one Machine API under test: its platform and how its objects
// look, for the machine controller and the tests.
type flavor struct {
	name      string
	kind      machineset.Kind
	namespace string
	// setLabel is the label whose value names the set on its Machines.
	setLabel string
	// finalizer is what the machine controller puts on its Machines, as the
	// real ones do, so that a deleted Machine lingers (deleting) until its
	// Node is gone.
	finalizer string
	// newPlatform builds the platform writing through c.
	newPlatform func(c client.Client, opts ...machineset.Option) *machineset.Platform
	// machineSpec and nodeAnnotations are what the controller writes.
	machineSpec     func(machine string) map[string]any
	nodeAnnotations func(namespace, machine string) map[string]string
	// failedStatus is the status of a Machine that failed.
	failedStatus func(reason, message string) map[string]any
	// ref sets the pool's platform reference.
	ref func(pool *carvev1.NodePool, ref *carvev1.MachineSetRef)
	// setSpec is the spec of a new set with 0 replicas, minus selector and
	// template, which are common.
	setSpec func() map[string]any
}

func flavors() []*flavor {
	return []*flavor{openShiftFlavor(), capiDeploymentFlavor(), capiMachineSetFlavor()}
}

func openShiftFlavor() *flavor {
	return &flavor{
		name: "OpenShift", kind: openshift.Kind(), namespace: openshiftNamespace,
		setLabel: "machine.openshift.io/cluster-api-machineset", finalizer: "carve.dev/test-machine-controller",
		newPlatform: func(c client.Client, opts ...machineset.Option) *machineset.Platform {
			return openshift.New(env.life, env.cfg, c, env.nodes, opts...)
		},
		machineSpec: func(string) map[string]any {
			return map[string]any{"providerSpec": map[string]any{"value": map[string]any{"instanceType": "m6i.xlarge"}}}
		},
		nodeAnnotations: func(ns, m string) map[string]string {
			return map[string]string{openshift.AnnotationMachine: ns + "/" + m}
		},
		failedStatus: func(reason, msg string) map[string]any {
			return map[string]any{"phase": "Failed", "errorReason": reason, "errorMessage": msg}
		},
		ref: func(p *carvev1.NodePool, r *carvev1.MachineSetRef) {
			p.Spec.Platform = carvev1.Platform{Type: carvev1.PlatformOpenShift, OpenShift: r}
		},
		setSpec: func() map[string]any { return map[string]any{"replicas": int64(0), "deletePolicy": "Random"} },
	}
}

func capi(name, setKind, setLabel string) *flavor {
	return &flavor{
		name: name, namespace: capiNamespace, setLabel: setLabel, finalizer: "carve.dev/test-machine-controller",
		machineSpec: func(m string) map[string]any {
			return map[string]any{
				"clusterName":       clusterName,
				"bootstrap":         map[string]any{"dataSecretName": m + "-bootstrap"},
				"infrastructureRef": map[string]any{"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "DockerMachine", "name": m},
			}
		},
		nodeAnnotations: func(ns, m string) map[string]string {
			return map[string]string{clusterapi.AnnotationMachine: m, clusterapi.AnnotationClusterNamespace: ns, "cluster.x-k8s.io/cluster-name": clusterName}
		},
		failedStatus: func(reason, msg string) map[string]any {
			return map[string]any{"phase": "Failed", "deprecated": map[string]any{"v1beta1": map[string]any{"failureReason": reason, "failureMessage": msg}}}
		},
		ref: func(p *carvev1.NodePool, r *carvev1.MachineSetRef) {
			p.Spec.Platform = carvev1.Platform{Type: carvev1.PlatformClusterAPI, ClusterAPI: r}
		},
		setSpec: func() map[string]any {
			return map[string]any{"clusterName": clusterName, "replicas": int64(0), "deletion": map[string]any{"order": "Random"}}
		},
	}
}

func capiDeploymentFlavor() *flavor {
	f := capi("ClusterAPI", "MachineDeployment", "cluster.x-k8s.io/deployment-name")
	f.kind = clusterapi.Kind()
	f.newPlatform = func(c client.Client, opts ...machineset.Option) *machineset.Platform {
		return clusterapi.New(env.life, env.cfg, c, env.nodes, opts...)
	}
	return f
}

func capiMachineSetFlavor() *flavor {
	f := capi("ClusterAPIMachineSet", "MachineSet", "cluster.x-k8s.io/set-name")
	f.kind = clusterapi.MachineSetKind()
	f.newPlatform = func(c client.Client, opts ...machineset.Option) *machineset.Platform {
		return machineset.New(env.life, clusterapi.MachineSetKind(), env.cfg, c, env.nodes, opts...)
	}
	return f
}

var names atomic.Int64

// uniqueName gives each set of the run a name of its own.
func uniqueName(prefix string) string { return fmt.Sprintf("%s-%d", prefix, names.Add(1)) }

func (f *flavor) obj(kind, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	gvk := f.kind.Set
	if kind == "Machine" {
		gvk = f.kind.Machine
	}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(f.namespace)
	u.SetName(name)
	return u
}

func (f *flavor) setObj(name string) *unstructured.Unstructured { return f.obj("Set", name) }

// machineLabels are the labels of the set's Machines, which its selector
// matches.
func (f *flavor) machineLabels(set string) map[string]any {
	return map[string]any{"carve-test/cluster": clusterName, f.setLabel: set}
}

// pool is a NodePool naming set name.
func (f *flavor) pool(name string) *carvev1.NodePool {
	p := &carvev1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: carvev1.NodePoolSpec{
			Role: carvev1.NodePoolRoleCPU, MinSize: 0, MaxSize: 10,
			Template: carvev1.NodeTemplate{Capacity: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110"),
			}},
		},
	}
	f.ref(p, &carvev1.MachineSetRef{Namespace: f.namespace, Name: name})
	return p
}

// newSet creates an empty set with the given annotations and returns a pool
// naming it.
func (f *flavor) newSet(t *testing.T, annotations map[string]string) *carvev1.NodePool {
	t.Helper()
	name := uniqueName(map[string]string{"OpenShift": "ms", "ClusterAPI": "md", "ClusterAPIMachineSet": "cms"}[f.name])
	u := f.setObj(name)
	u.SetAnnotations(annotations)
	spec := f.setSpec()
	labels := f.machineLabels(name)
	spec["selector"] = map[string]any{"matchLabels": labels}
	spec["template"] = map[string]any{"metadata": map[string]any{"labels": labels}, "spec": f.machineSpec(name + "-template")}
	u.Object["spec"] = spec
	if err := env.cl.Create(ctxFor(t), u); err != nil {
		t.Fatalf("creating %s %s: %v", f.kind.Set.Kind, name, err)
	}
	return f.pool(name)
}
