package machineapi_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// phase is how far the machine controller brings a set's Machines.
type phase int

const (
	// phaseCreate: Machines exist for the replicas, without providerIDs.
	phaseCreate phase = iota + 1
	// phaseProvision: they have providerIDs (the cloud made the VMs).
	phaseProvision
	// phaseJoin: their Nodes exist (the VMs joined the cluster).
	phaseJoin
)

// machineController is the test's stand-in for OpenShift's MachineSet and
// Machine controllers and Cluster API's: one pass (reconcile) over a set
// deletes what is being deleted (the Node, then the finalizer), deletes
// Machines above the replicas — annotated ones first, as every delete
// policy does, then by name — and creates Machines up to the replicas
// (labels matching the selector, a controller ownerReference to the set),
// then, as far as the phase asks, gives them providerIDs and Nodes.
type machineController struct {
	f *flavor
	c client.Client
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// machines lists the set's Machines: its namespace, its labels, its
// controller.
func (mc *machineController) machines(ctx context.Context, set *unstructured.Unstructured) ([]unstructured.Unstructured, error) {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(mc.f.kind.Machine.GroupVersion().WithKind("MachineList"))
	if err := mc.c.List(ctx, l, client.InNamespace(set.GetNamespace()), client.MatchingLabels{mc.f.setLabel: set.GetName()}); err != nil {
		return nil, err
	}
	var out []unstructured.Unstructured
	for _, m := range l.Items {
		if ref := metav1.GetControllerOfNoCopy(&m); ref != nil && ref.UID == set.GetUID() {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b unstructured.Unstructured) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out, nil
}

// reconcile makes one pass over set name and says whether the set is where
// upTo asks: as many Machines as replicas, none being deleted, with
// providerIDs and Nodes as the phase wants.
func (mc *machineController) reconcile(ctx context.Context, name string, upTo phase) (bool, error) {
	set := mc.f.setObj(name)
	if err := mc.c.Get(ctx, client.ObjectKeyFromObject(set), set); err != nil {
		return false, err
	}
	replicas, _, _ := unstructured.NestedInt64(set.Object, "spec", "replicas")
	machines, err := mc.machines(ctx, set)
	if err != nil {
		return false, err
	}
	var alive, annotated, others []unstructured.Unstructured
	deleting := 0
	for _, m := range machines {
		if m.GetDeletionTimestamp() != nil {
			deleting++
			if err := mc.finishDeletion(ctx, &m); err != nil {
				return false, err
			}
			continue
		}
		alive = append(alive, m)
		if _, ok := m.GetAnnotations()[mc.f.kind.DeleteAnnotation]; ok {
			annotated = append(annotated, m)
		} else {
			others = append(others, m)
		}
	}
	if excess := len(alive) - int(replicas); excess > 0 {
		victims := append(annotated, others...)[:excess]
		for i := range victims {
			if err := mc.c.Delete(ctx, &victims[i]); client.IgnoreNotFound(err) != nil {
				return false, err
			}
		}
		return false, nil // the next pass finishes their deletion
	}
	for range int(replicas) - len(alive) {
		if err := mc.createMachine(ctx, set); err != nil {
			return false, err
		}
	}
	if int(replicas) > len(alive) {
		return false, nil
	}
	done := deleting == 0
	for i := range alive {
		m := &alive[i]
		if phase, _, _ := unstructured.NestedString(m.Object, "status", "phase"); phase == "Failed" {
			continue // a failed Machine stays as it is, as a real one does
		}
		providerID, _, _ := unstructured.NestedString(m.Object, "spec", "providerID")
		if upTo >= phaseProvision && providerID == "" {
			providerID = providerIDPrefix + m.GetNamespace() + "/" + m.GetName()
			patch := fmt.Sprintf(`{"spec":{"providerID":%q}}`, providerID)
			if err := mc.c.Patch(ctx, m, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
				return false, err
			}
		}
		if upTo >= phaseJoin && providerID != "" {
			if err := mc.join(ctx, m, providerID); err != nil {
				return false, err
			}
		}
	}
	status := fmt.Sprintf(`{"status":{"replicas":%d}}`, len(alive))
	if err := mc.c.Status().Patch(ctx, set, client.RawPatch(types.MergePatchType, []byte(status))); err != nil {
		return false, err
	}
	return done, nil
}

func (mc *machineController) createMachine(ctx context.Context, set *unstructured.Unstructured) error {
	m := &unstructured.Unstructured{}
	m.SetGroupVersionKind(mc.f.kind.Machine)
	m.SetNamespace(set.GetNamespace())
	m.SetGenerateName(set.GetName() + "-")
	labels := map[string]string{}
	for k, v := range mc.f.machineLabels(set.GetName()) {
		labels[k] = v.(string)
	}
	m.SetLabels(labels)
	m.SetFinalizers([]string{mc.f.finalizer})
	m.SetOwnerReferences([]metav1.OwnerReference{{
		APIVersion: set.GetAPIVersion(), Kind: set.GetKind(), Name: set.GetName(), UID: set.GetUID(),
		Controller: new(true), BlockOwnerDeletion: new(true),
	}})
	m.Object["spec"] = mc.f.machineSpec(set.GetName() + "-machine")
	return mc.c.Create(ctx, m)
}

// join creates the Machine's Node, named as the Machine, as a kubelet and
// the machine controller would: the providerID and the machine annotation.
func (mc *machineController) join(ctx context.Context, m *unstructured.Unstructured, providerID string) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: m.GetName(), Annotations: mc.f.nodeAnnotations(m.GetNamespace(), m.GetName())},
		Spec:       corev1.NodeSpec{ProviderID: providerID},
	}
	if err := mc.c.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// finishDeletion deletes a deleted Machine's Node, then lets the Machine go.
func (mc *machineController) finishDeletion(ctx context.Context, m *unstructured.Unstructured) error {
	if err := mc.c.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: m.GetName()}}); client.IgnoreNotFound(err) != nil {
		return err
	}
	return client.IgnoreNotFound(mc.c.Patch(ctx, m, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))))
}

// bring reconciles pool's set until it is where upTo asks, or fails t.
func (mc *machineController) bring(t *testing.T, pool *carvev1.NodePool, upTo phase) {
	t.Helper()
	ref := mc.f.kind.Ref(pool)
	var last error
	err := wait.PollUntilContextTimeout(ctxFor(t), 20*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		done, err := mc.reconcile(ctx, ref.Name, upTo)
		last = err
		return done, nil
	})
	if err != nil {
		t.Fatalf("the machine controller did not bring %s %s to phase %d: %v (last error: %v)", mc.f.kind.Set.Kind, ref.Name, upTo, err, last)
	}
}

// boot is conformance's Boot: the Machines and their Nodes come up.
func (mc *machineController) boot(t *testing.T, pool *carvev1.NodePool) { mc.bring(t, pool, phaseJoin) }
