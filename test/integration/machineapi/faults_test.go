package machineapi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/cloudcall"
	"github.com/carve-dev/carve/pkg/cloudprovider/machineset"
	"github.com/carve-dev/carve/pkg/cloudprovider/openshift"
)

// fastRetries keeps the retry backoff of the tests short.
var fastRetries = machineset.WithPolicy(cloudcall.Policy{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond})

// TestScaleConflictIsRetried: the set changes between the platform's read
// of the scale and its write (a real write by another client, so the
// apiserver answers 409 Conflict); the platform reads again and writes the
// sum once, never twice.
func TestScaleConflictIsRetried(t *testing.T) {
	for _, f := range flavors() {
		t.Run(f.name, func(t *testing.T) {
			base, err := client.NewWithWatch(env.cfg, client.Options{Scheme: clientgoscheme.Scheme})
			if err != nil {
				t.Fatal(err)
			}
			var bumped atomic.Bool
			c := interceptor.NewClient(base, interceptor.Funcs{
				SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
					if sub == "scale" && !bumped.Swap(true) {
						// Someone else writes the set first: the scale read
						// just before is now stale.
						patch := []byte(`{"metadata":{"annotations":{"carve-test/touched":"yes"}}}`)
						u := f.setObj(obj.GetName())
						if err := env.cl.Patch(ctx, u, client.RawPatch(types.MergePatchType, patch)); err != nil {
							return err
						}
					}
					return c.SubResource(sub).Update(ctx, obj, opts...)
				},
			})
			var seen attempts
			p := f.newPlatform(c, fastRetries, machineset.WithObserve(seen.observe))
			pool := f.newSet(t, nil)
			if err := p.Create(ctxFor(t), pool, 2); err != nil {
				t.Fatalf("Create: %v", err)
			}
			if got := f.liveReplicas(t, pool); got != 2 {
				t.Errorf("spec.replicas = %d after Create(2) from 0, want 2", got)
			}
			scale := seen.of("scale ")
			if len(scale) != 2 || !apierrors.IsConflict(scale[0].err) || scale[1].err != nil || scale[1].n != 2 {
				t.Errorf("scale attempts %+v, want a Conflict, then success on attempt 2", scale)
			}
			if n, err := p.TargetSize(ctxFor(t), pool); err != nil || n != 2 {
				t.Errorf("TargetSize = %d, %v right after Create, want 2", n, err)
			}
		})
	}
}

// TestFailedScaleDownUndoesAnnotations: an admission policy refuses to
// lower the set's replicas (as a real policy of the cluster might); Delete
// has annotated the Machine by then and must take the annotation off again,
// so the set's controller never deletes a Machine the autoscaler was told
// is staying.
func TestFailedScaleDownUndoesAnnotations(t *testing.T) {
	for _, f := range flavors()[:2] {
		t.Run(f.name, func(t *testing.T) {
			var seen attempts
			p := f.newPlatform(env.cl, fastRetries, machineset.WithObserve(seen.observe))
			pool, ins := f.running(t, p, 2, nil)
			refuseScaleDown(t, f, f.kind.Ref(pool).Name)

			err := p.Delete(ctxFor(t), pool, []string{ins[0].ID})
			if !errors.Is(err, cloudprovider.ErrInvalid) || !strings.Contains(err.Error(), "scale-down refused by policy") {
				t.Fatalf("Delete with the scale-down refused = %v, want ErrInvalid with the policy's message", err)
			}
			if a := seen.of("annotate Machine "); len(a) != 1 || a[0].err != nil {
				t.Errorf("annotate attempts %+v, want one that succeeded", a)
			}
			if a := seen.of("unannotate Machine "); len(a) != 1 || a[0].err != nil {
				t.Errorf("unannotate attempts %+v, want one that succeeded", a)
			}
			for _, m := range f.liveMachines(t, pool) {
				if v, ok := m.GetAnnotations()[f.kind.DeleteAnnotation]; ok {
					t.Errorf("Machine %s still has %s=%q after the failed scale-down", m.GetName(), f.kind.DeleteAnnotation, v)
				}
			}
			if got := f.liveReplicas(t, pool); got != 2 {
				t.Errorf("spec.replicas = %d, want 2 (unchanged)", got)
			}
			eventually(t, "both instances still running", func(ctx context.Context) (bool, string, error) {
				got := sorted(t, p, pool)
				n, err := p.TargetSize(ctx, pool)
				return n == 2 && len(got) == 2 && got[0].State == cloudprovider.StateRunning && got[1].State == cloudprovider.StateRunning,
					fmt.Sprintf("target %d, %s", n, describe(got)), err
			})
		})
	}
}

// refuseScaleDown installs a ValidatingAdmissionPolicy that denies lowering
// the replicas of set name through its scale subresource, and waits until
// the apiserver enforces it (a dry-run scale-down is refused).
func refuseScaleDown(t *testing.T, f *flavor, name string) {
	t.Helper()
	plural := strings.ToLower(f.kind.Set.Kind) + "s"
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "no-scale-down-" + name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: new(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				ResourceNames: []string{name},
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Update},
					Rule: admissionv1.Rule{APIGroups: []string{f.kind.Set.Group}, APIVersions: []string{"*"},
						Resources: []string{plural + "/scale"}, Scope: new(admissionv1.NamespacedScope)},
				},
			}}},
			Validations: []admissionv1.Validation{{
				Expression: "object.spec.replicas >= oldObject.spec.replicas",
				Message:    "scale-down refused by policy",
			}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
		Spec:       admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy.Name, ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny}},
	}
	for _, o := range []client.Object{policy, binding} {
		if err := env.cl.Create(ctxFor(t), o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.cl.Delete(context.Background(), o) })
	}
	eventually(t, "the policy refuses a dry-run scale-down", func(ctx context.Context) (bool, string, error) {
		set := f.setObj(name)
		sc := &unstructured.Unstructured{}
		sc.SetAPIVersion("autoscaling/v1")
		sc.SetKind("Scale")
		if err := env.cl.SubResource("scale").Get(ctx, set, sc); err != nil {
			return false, "", err
		}
		cur, _, _ := unstructured.NestedInt64(sc.Object, "spec", "replicas")
		_ = unstructured.SetNestedField(sc.Object, cur-1, "spec", "replicas")
		err := env.cl.SubResource("scale").Update(ctx, set, client.WithSubResourceBody(sc), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), "scale-down refused by policy"), fmt.Sprintf("dry run: %v", err), nil
	})
}

// TestMachineLifecycle follows one instance: a Machine without a
// providerID is creating under carve-machine://; with a providerID and no
// Node, creating under the providerID; with its Node, running under the
// same id. Then the Machine fails: it carries its failure as the
// InstanceError, and deleting it by its id deletes that Machine (the
// controller takes the annotated one) and scales the set to 0 explicitly.
func TestMachineLifecycle(t *testing.T) {
	for _, f := range flavors() {
		t.Run(f.name, func(t *testing.T) {
			p := f.newPlatform(env.cl, fastRetries)
			mc := &machineController{f: f, c: env.cl}
			pool := f.newSet(t, nil)
			if err := p.Create(ctxFor(t), pool, 1); err != nil {
				t.Fatal(err)
			}
			one := func(what string, ok func(cloudprovider.Instance) bool) cloudprovider.Instance {
				t.Helper()
				var in cloudprovider.Instance
				eventually(t, what, func(ctx context.Context) (bool, string, error) {
					ins := sorted(t, p, pool)
					if len(ins) != 1 {
						return false, describe(ins), nil
					}
					in = ins[0]
					return ok(in), describe(ins), nil
				})
				return in
			}
			mc.bring(t, pool, phaseCreate)
			name := f.liveMachines(t, pool)[0].GetName()
			wantID := machineset.MachineID(f.namespace, name)
			one("the Machine without a providerID is creating under "+wantID, func(in cloudprovider.Instance) bool {
				return in.ID == wantID && in.State == cloudprovider.StateCreating && in.Error == nil
			})
			mc.bring(t, pool, phaseProvision)
			providerID := providerIDPrefix + f.namespace + "/" + name
			one("the Machine with a providerID and no Node is creating under it", func(in cloudprovider.Instance) bool {
				return in.ID == providerID && in.State == cloudprovider.StateCreating
			})
			mc.bring(t, pool, phaseJoin)
			one("the Machine with its Node is running", func(in cloudprovider.Instance) bool {
				return in.ID == providerID && in.State == cloudprovider.StateRunning
			})
			if got, ok := p.PoolForProviderID(providerID); !ok || got != pool.Name {
				t.Errorf("PoolForProviderID(%s) = %q, %v; want %s", providerID, got, ok, pool.Name)
			}
			if got, ok := p.PoolForProviderID(providerIDPrefix + "nobody/x"); ok {
				t.Errorf("PoolForProviderID of an unknown id = %q, want none", got)
			}

			m := f.liveMachines(t, pool)[0]
			status, err := jsonPatch(map[string]any{"status": f.failedStatus("InsufficientResources", "no m6i.xlarge capacity in us-east-1a")})
			if err != nil {
				t.Fatal(err)
			}
			if err := env.cl.Status().Patch(ctxFor(t), &m, client.RawPatch(types.MergePatchType, status)); err != nil {
				t.Fatal(err)
			}
			failed := one("the failed Machine carries its failure", func(in cloudprovider.Instance) bool { return in.Error != nil })
			want := cloudprovider.InstanceError{Code: "InsufficientResources", Message: "no m6i.xlarge capacity in us-east-1a", OutOfResources: true}
			if *failed.Error != want || failed.State != cloudprovider.StateCreating {
				t.Errorf("failed instance = %s %+v, want creating with %+v", failed.State, *failed.Error, want)
			}

			if err := p.Delete(ctxFor(t), pool, []string{failed.ID}); err != nil {
				t.Fatalf("Delete(%s): %v", failed.ID, err)
			}
			if got := f.liveReplicas(t, pool); got != 0 {
				t.Errorf("spec.replicas = %d after deleting the only instance, want 0", got)
			}
			if _, ok := f.liveMachines(t, pool)[0].GetAnnotations()[f.kind.DeleteAnnotation]; !ok {
				t.Errorf("the deleted instance's Machine has no %s", f.kind.DeleteAnnotation)
			}
			mc.boot(t, pool)
			eventually(t, "the Machine and its Node are gone", func(ctx context.Context) (bool, string, error) {
				ins := sorted(t, p, pool)
				n, err := p.TargetSize(ctx, pool)
				node := &corev1.Node{}
				nodeErr := env.cl.Get(ctx, client.ObjectKey{Name: name}, node)
				return n == 0 && len(ins) == 0 && apierrors.IsNotFound(nodeErr), fmt.Sprintf("target %d, %s, node: %v", n, describe(ins), nodeErr), err
			})
		})
	}
}

// TestMachineAutoscalerOwnedSetIsRefused: a MachineSet that an OpenShift
// MachineAutoscaler scales is refused with a typed error a NodePool
// condition can carry, and carve writes nothing to it.
func TestMachineAutoscalerOwnedSetIsRefused(t *testing.T) {
	f := openShiftFlavor()
	var calls atomic.Int64
	p := f.newPlatform(counted(t, &calls))
	pool := f.newSet(t, map[string]string{openshift.AnnotationMachineAutoscaler: "openshift-machine-api/gpu-autoscaler"})
	eventually(t, "the platform names the refusal", func(ctx context.Context) (bool, string, error) {
		// Refusal reads the cache, which the platform's first call starts.
		_, err := p.TargetSize(ctx, pool)
		reason, msg := p.Refusal(pool)
		return reason == openshift.ReasonMachineAutoscaler && strings.Contains(msg, "gpu-autoscaler"), reason + ": " + msg, err
	})
	calls.Store(0)
	for what, err := range map[string]error{
		"Create": p.Create(ctxFor(t), pool, 1),
		"Delete": p.Delete(ctxFor(t), pool, []string{machineset.PlaceholderID(f.namespace, pool.Name, 1)}),
	} {
		r := machineset.AsRefused(err)
		if !errors.Is(err, cloudprovider.ErrRefused) || r == nil || r.Reason != openshift.ReasonMachineAutoscaler {
			t.Errorf("%s of a MachineAutoscaler's MachineSet = %v, want a RefusedError with reason %s", what, err, openshift.ReasonMachineAutoscaler)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the refused calls made %d API requests, want 0", n)
	}
	if got := f.liveReplicas(t, pool); got != 0 {
		t.Errorf("spec.replicas = %d, want 0 (untouched)", got)
	}
	if n, err := p.TargetSize(ctxFor(t), pool); err != nil || n != 0 {
		t.Errorf("TargetSize = %d, %v; reads of a refused set still work", n, err)
	}
	other := f.newSet(t, nil)
	eventually(t, "a set without a MachineAutoscaler is not refused", func(context.Context) (bool, string, error) {
		_, err := p.TargetSize(ctxFor(t), other)
		reason, _ := p.Refusal(other)
		return reason == "", reason, err
	})
}

// TestMissingSetIsNotFound: every call for a pool whose set does not exist
// is ErrNotFound.
func TestMissingSetIsNotFound(t *testing.T) {
	for _, f := range flavors()[:2] {
		t.Run(f.name, func(t *testing.T) {
			p := f.newPlatform(env.cl)
			pool := f.pool(uniqueName("gone"))
			_, insErr := p.Instances(ctxFor(t), pool)
			_, sizeErr := p.TargetSize(ctxFor(t), pool)
			for what, err := range map[string]error{
				"Instances": insErr, "TargetSize": sizeErr,
				"Create": p.Create(ctxFor(t), pool, 1),
				"Delete": p.Delete(ctxFor(t), pool, []string{"fake://x/y"}),
			} {
				if !errors.Is(err, cloudprovider.ErrNotFound) || !strings.Contains(err.Error(), pool.Name) {
					t.Errorf("%s of a missing %s = %v, want ErrNotFound naming the pool", what, f.kind.Set.Kind, err)
				}
			}
		})
	}
}

// TestNodeOfAnotherSetIsInvalid: ids that are not the pool's are ErrInvalid
// and change nothing: another set's instance, a Node whose annotation names
// another set's Machine, a Node that is no Machine's, a placeholder of
// another set, and a string that is no providerID.
func TestNodeOfAnotherSetIsInvalid(t *testing.T) {
	for _, f := range flavors()[:2] {
		t.Run(f.name, func(t *testing.T) {
			p := f.newPlatform(env.cl)
			pool, _ := f.running(t, p, 1, nil)
			other, theirs := f.running(t, p, 1, nil)
			theirMachine := f.liveMachines(t, other)[0].GetName()
			// A Node whose providerID no Machine has, claimed by the other
			// set's Machine through the annotation alone.
			claimed := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("claimed"), Annotations: f.nodeAnnotations(f.namespace, theirMachine)},
				Spec: corev1.NodeSpec{ProviderID: providerIDPrefix + "elsewhere/" + uniqueName("vm")}}
			stray := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("stray")}, Spec: corev1.NodeSpec{ProviderID: providerIDPrefix + "stray/" + uniqueName("vm")}}
			for _, n := range []*corev1.Node{claimed, stray} {
				if err := env.cl.Create(ctxFor(t), n); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = env.cl.Delete(context.Background(), n) })
			}
			ids := []string{theirs[0].ID, claimed.Spec.ProviderID, stray.Spec.ProviderID,
				machineset.PlaceholderID(f.namespace, other.Name, 1), machineset.MachineID(f.namespace, theirMachine), "i-0abc"}
			for _, id := range ids {
				eventually(t, "Delete("+id+") from "+pool.Name+" is ErrInvalid", func(ctx context.Context) (bool, string, error) {
					err := p.Delete(ctx, pool, []string{id})
					return errors.Is(err, cloudprovider.ErrInvalid), fmt.Sprint(err), nil
				})
			}
			for _, pl := range []*carvev1.NodePool{pool, other} {
				if got := f.liveReplicas(t, pl); got != 1 {
					t.Errorf("%s: spec.replicas = %d, want 1 (unchanged)", pl.Name, got)
				}
				for _, m := range f.liveMachines(t, pl) {
					if _, ok := m.GetAnnotations()[f.kind.DeleteAnnotation]; ok {
						t.Errorf("Machine %s was annotated for deletion", m.GetName())
					}
				}
			}
		})
	}
}

func jsonPatch(v map[string]any) ([]byte, error) {
	u := unstructured.Unstructured{Object: v}
	return u.MarshalJSON()
}
