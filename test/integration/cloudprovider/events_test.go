package cloudprovider_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
	"github.com/carve-dev/carve/pkg/cloudprovider/poolstatus"
	"github.com/carve-dev/carve/pkg/cloudprovider/run"
	"github.com/carve-dev/carve/pkg/cloudprovider/server"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// poolEvents lists the Events about NodePool pool, as `kubectl describe np`
// finds them (NodePools are cluster-scoped: their Events are in "default").
func poolEvents(ctx context.Context, pool string) ([]corev1.Event, error) {
	list, err := cluster.Client.CoreV1().Events(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.kind": "NodePool", "involvedObject.name": pool}.String(),
	})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// waitConditions waits until pool's conditions, as type=status/reason,
// are want (in any order; other types ignored).
func waitConditions(t *testing.T, pool string, want map[string]string) *carvev1.NodePool {
	t.Helper()
	np := &carvev1.NodePool{}
	var got map[string]string
	poll(t, "conditions of NodePool "+pool, func(ctx context.Context) (bool, error) {
		if err := cl.Get(ctx, client.ObjectKey{Name: pool}, np); err != nil {
			return false, err
		}
		got = map[string]string{}
		for typ := range want {
			if c := meta.FindStatusCondition(np.Status.Conditions, typ); c != nil {
				got[typ] = string(c.Status) + "/" + c.Reason
			}
		}
		return cmp.Equal(want, got), nil
	})
	return np
}

// A refused deletion is an Event on the NodePool and its ScaleRefused
// condition; the autoscaler retrying it adds no Event objects; a served pool
// is Ready, one whose platform is not in this build is not.
func TestRefusalEventsAndConditions(t *testing.T) {
	ctx := t.Context()
	pool := newPool(t, ut.MakeNodePool("refuse", carvev1.NodePoolRoleCPU, 1, 3, "4", "16Gi"))
	nodes := scaleUp(t, pool, 1, 1)
	waitConditions(t, pool, map[string]string{
		carvev1.NodePoolReady:        "True/" + poolstatus.ReasonServed,
		carvev1.NodePoolScalingUp:    "False/" + poolstatus.ReasonNodesReady,
		carvev1.NodePoolScaleRefused: "False/" + poolstatus.ReasonScaleAccepted,
		// kwok's nodes are the template's, read through the provider's
		// trimmed Node cache.
		carvev1.NodePoolTemplateMatches: "True/" + poolstatus.ReasonTemplateAgrees,
	})

	// The autoscaler retries a refused deletion every loop.
	for range 5 {
		wantCode(t, "deleting below minSize", deleteNodes(ctx, pool, nodes[0]), codes.FailedPrecondition, "below minSize 1")
	}
	np := waitConditions(t, pool, map[string]string{
		carvev1.NodePoolReady:        "True/" + poolstatus.ReasonServed,
		carvev1.NodePoolScaleRefused: "True/" + server.ReasonBelowMinSize,
	})
	wantNote := "deleting node " + nodes[0].Name + " from node group " + pool + ": 0 nodes would be left, below minSize 1; lower spec.minSize of NodePool " + pool + " to let the pool shrink further"
	if c := meta.FindStatusCondition(np.Status.Conditions, carvev1.NodePoolScaleRefused); c.Message != wantNote || c.ObservedGeneration != np.Generation {
		t.Errorf("ScaleRefused message %q (generation %d), want %q (generation %d)", c.Message, c.ObservedGeneration, wantNote, np.Generation)
	}
	// Then asks for more than maxSize: a second kind of refusal, recorded
	// after the five above.
	_, err := cp.NodeGroupIncreaseSize(ctx, &externalgrpc.NodeGroupIncreaseSizeRequest{Id: pool, Delta: 5})
	wantCode(t, "growing beyond maxSize", err, codes.FailedPrecondition, "maxSize 3")

	type summary struct {
		Type, Reason, Action, Controller, Message, Related string
		UID                                                bool
	}
	var evs []corev1.Event
	poll(t, "the Events of "+pool, func(ctx context.Context) (bool, error) {
		var err error
		if evs, err = poolEvents(ctx, pool); err != nil {
			return false, err
		}
		// The second BelowMinSize makes the first a series of 2; later
		// repeats are only counted in memory.
		seen := map[string]bool{}
		for _, e := range evs {
			seen[e.Reason] = e.Reason != server.ReasonBelowMinSize || (e.Series != nil && e.Series.Count >= 2)
		}
		return seen[server.ReasonBelowMinSize] && seen[server.ReasonAboveMaxSize], nil
	})
	got := map[string][]summary{}
	for _, e := range evs {
		related := ""
		if e.Related != nil {
			related = e.Related.Kind + "/" + e.Related.Name
		}
		got[e.Reason] = append(got[e.Reason], summary{e.Type, e.Reason, e.Action, e.ReportingController, e.Message, related, e.InvolvedObject.UID == np.UID})
	}
	want := map[string][]summary{
		server.ReasonBelowMinSize: {{corev1.EventTypeWarning, server.ReasonBelowMinSize, server.ActionDeleteNodes, run.ReportingController, wantNote, "Node/" + nodes[0].Name, true}},
		server.ReasonAboveMaxSize: {{corev1.EventTypeWarning, server.ReasonAboveMaxSize, server.ActionIncreaseSize, run.ReportingController,
			"increasing node group " + pool + " by 5: target size 1 would exceed maxSize 3; raise spec.maxSize of NodePool " + pool + " if it should grow further", "", true}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Events of NodePool %s (-want +got):\n%s", pool, diff)
	}

	// Growing within maxSize is carried out: ScaleRefused turns False.
	scaleUp(t, pool, 1, 2)
	waitConditions(t, pool, map[string]string{
		carvev1.NodePoolReady:        "True/" + poolstatus.ReasonServed,
		carvev1.NodePoolScalingUp:    "False/" + poolstatus.ReasonNodesReady,
		carvev1.NodePoolScaleRefused: "False/" + poolstatus.ReasonScaleAccepted,
	})
}

// A pool whose platform this carve-cloudprovider lacks is not Ready and is
// not offered to the autoscaler.
func TestUnservedPoolIsNotReady(t *testing.T) {
	pool := ut.MakeNodePool("eks-"+utilrand.String(5), carvev1.NodePoolRoleCPU, 0, 3, "4", "16Gi").Obj()
	pool.Spec.Platform = carvev1.Platform{Type: carvev1.PlatformEKS, EKS: &carvev1.EKSPlatform{Region: "eu-west-1", AutoScalingGroup: "ml-cpu"}}
	if err := cl.Create(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Delete(context.Background(), pool) })
	np := waitConditions(t, pool.Name, map[string]string{
		carvev1.NodePoolReady:        "False/" + poolstatus.ReasonPlatformUnavailable,
		carvev1.NodePoolScalingUp:    "Unknown/" + poolstatus.ReasonPlatformUnavailable,
		carvev1.NodePoolScaleRefused: "False/" + poolstatus.ReasonNoneRefused,
	})
	if c := meta.FindStatusCondition(np.Status.Conditions, carvev1.NodePoolReady); c.Message != "platform EKS is not served by this carve-cloudprovider (see its --platforms flag): the autoscaler is not offered this pool" {
		t.Errorf("Ready message = %q", c.Message)
	}
	_, err := cp.NodeGroupTargetSize(t.Context(), &externalgrpc.NodeGroupTargetSizeRequest{Id: pool.Name})
	wantCode(t, "TargetSize of an EKS pool", err, codes.Unimplemented, "platform EKS")
}

// A pool at zero says 0 in its status, not nothing, so that kubectl's
// TARGET and CURRENT columns show 0.
func TestPoolAtZeroShowsZero(t *testing.T) {
	// Created as from a manifest, without a status (a typed client would
	// send the zeros itself).
	obj := ut.MakeNodePool("zero-"+utilrand.String(5), carvev1.NodePoolRoleCPU, 0, 3, "4", "16Gi").Obj()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	delete(m, "status")
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(carvev1.GroupVersion.WithKind("NodePool"))
	if err := cl.Create(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Delete(context.Background(), u) })
	pool := obj.Name
	waitConditions(t, pool, map[string]string{carvev1.NodePoolReady: "True/" + poolstatus.ReasonServed})
	u = &unstructured.Unstructured{}
	u.SetGroupVersionKind(carvev1.GroupVersion.WithKind("NodePool"))
	if err := cl.Get(t.Context(), client.ObjectKey{Name: pool}, u); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"targetSize", "currentSize", "readySize"} {
		if v, found, err := unstructured.NestedInt64(u.Object, "status", f); !found || err != nil || v != 0 {
			t.Errorf("status.%s = %v (found %v, %v), want 0 written", f, v, found, err)
		}
	}
}
