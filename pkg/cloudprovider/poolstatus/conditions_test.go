package poolstatus

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider/server"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func TestConditions(t *testing.T) {
	before := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now := metav1.NewTime(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	cond := func(typ string, status metav1.ConditionStatus, reason, msg string, at metav1.Time) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: 3, LastTransitionTime: at}
	}
	served := cond(carvev1.NodePoolReady, metav1.ConditionTrue, ReasonServed, "offered to the autoscaler as node group cpu (platform Kwok)", now)
	noneRefused := cond(carvev1.NodePoolScaleRefused, metav1.ConditionFalse, ReasonNoneRefused, "no size change was refused since carve-cloudprovider started", now)
	idle := cond(carvev1.NodePoolScalingUp, metav1.ConditionFalse, ReasonNodesReady, "all 2 nodes asked for are Ready", now)
	belowMin := server.CheckDeleteSize(ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 2, 5, "4", "16Gi").Obj(), 2, 1, "cpu-a").(*server.Refusal)
	unchecked := cond(carvev1.NodePoolTemplateMatches, metav1.ConditionUnknown, ReasonNothingToCompare, "no Ready node yet, and platform Kwok says nothing of its nodes", now)
	foreign := metav1.Condition{Type: "Audited", Status: metav1.ConditionTrue, Reason: "ByTool", LastTransitionTime: before}

	tests := map[string]struct {
		existing []metav1.Condition
		obs      Observed
		want     []metav1.Condition
		// template is the TemplateMatches condition wanted (default:
		// unchecked), after want.
		template *metav1.Condition
	}{
		"new pool, nothing asked for": {
			obs: Observed{Served: true},
			want: []metav1.Condition{served,
				cond(carvev1.NodePoolScalingUp, metav1.ConditionFalse, ReasonNodesReady, "no nodes are asked for", now), noneRefused},
		},
		"scaling up": {
			obs: Observed{Served: true, TargetSize: 3, ReadySize: 1},
			want: []metav1.Condition{served,
				cond(carvev1.NodePoolScalingUp, metav1.ConditionTrue, ReasonWaitingForNodes, "2 of the 3 nodes asked for are not Ready yet", now), noneRefused},
		},
		"platform not in this build": {
			obs: Observed{Served: false},
			want: []metav1.Condition{
				cond(carvev1.NodePoolReady, metav1.ConditionFalse, ReasonPlatformUnavailable, "platform Kwok is not served by this carve-cloudprovider (see its --platforms flag): the autoscaler is not offered this pool", now),
				cond(carvev1.NodePoolScalingUp, metav1.ConditionUnknown, ReasonPlatformUnavailable, "the target size is not known", now), noneRefused},
		},
		"platform failing": {
			obs: Observed{Served: true, TargetErr: errors.New("throttled")},
			want: []metav1.Condition{
				cond(carvev1.NodePoolReady, metav1.ConditionFalse, ReasonPlatformError, "reading the target size from platform Kwok: throttled", now),
				cond(carvev1.NodePoolScalingUp, metav1.ConditionUnknown, ReasonPlatformError, "the target size is not known", now), noneRefused},
		},
		"refused": {
			obs: Observed{Served: true, TargetSize: 2, ReadySize: 2, OutcomeKnown: true, Refusal: belowMin},
			want: []metav1.Condition{served, idle,
				cond(carvev1.NodePoolScaleRefused, metav1.ConditionTrue, server.ReasonBelowMinSize,
					"deleting node cpu-a from node group cpu: 1 nodes would be left, below minSize 2; lower spec.minSize of NodePool cpu to let the pool shrink further", now)},
		},
		"accepted after a refusal": {
			existing: []metav1.Condition{cond(carvev1.NodePoolScaleRefused, metav1.ConditionTrue, server.ReasonBelowMinSize, "x", before)},
			obs:      Observed{Served: true, TargetSize: 2, ReadySize: 2, OutcomeKnown: true},
			want: []metav1.Condition{
				cond(carvev1.NodePoolScaleRefused, metav1.ConditionFalse, ReasonScaleAccepted, "the latest size change asked for was carried out", now),
				served, idle},
		},
		// After a restart the outcome is unknown: the written one stays.
		"outcome unknown keeps the written one": {
			existing: []metav1.Condition{cond(carvev1.NodePoolScaleRefused, metav1.ConditionTrue, server.ReasonBelowMinSize, "x", before)},
			obs:      Observed{Served: true, TargetSize: 2, ReadySize: 2},
			want:     []metav1.Condition{cond(carvev1.NodePoolScaleRefused, metav1.ConditionTrue, server.ReasonBelowMinSize, "x", before), served, idle},
		},
		"the template differs": {
			obs: Observed{Served: true, TargetSize: 2, ReadySize: 2, TemplateChecked: true,
				TemplateDiffs: []string{"node cpu-a has allocatable cpu 3; the template says 4", "node cpu-a has no label zone"}},
			want: []metav1.Condition{served, idle, noneRefused},
			template: &metav1.Condition{Type: carvev1.NodePoolTemplateMatches, Status: metav1.ConditionFalse, Reason: ReasonTemplateDiffers, ObservedGeneration: 3, LastTransitionTime: now,
				Message: "the pool's nodes differ from spec.template, on which the autoscaler scales the pool from zero: node cpu-a has allocatable cpu 3; the template says 4; node cpu-a has no label zone; correct the template or the platform's group"},
		},
		"the platform refuses": {
			obs: Observed{Served: true, TargetSize: 2, ReadySize: 2, RefusedReason: "MachineAutoscaler", RefusedMessage: "MachineAutoscaler openshift-machine-api/x scales it"},
			want: []metav1.Condition{
				cond(carvev1.NodePoolReady, metav1.ConditionFalse, "MachineAutoscaler", "offered to the autoscaler as node group cpu, but platform Kwok refuses to change its size: MachineAutoscaler openshift-machine-api/x scales it", now),
				idle, noneRefused},
		},
		"the template agrees": {
			obs:  Observed{Served: true, TargetSize: 2, ReadySize: 2, TemplateChecked: true},
			want: []metav1.Condition{served, idle, noneRefused},
			template: &metav1.Condition{Type: carvev1.NodePoolTemplateMatches, Status: metav1.ConditionTrue, Reason: ReasonTemplateAgrees, ObservedGeneration: 3, LastTransitionTime: now,
				Message: "the platform and the pool's nodes agree with spec.template"},
		},
		"unchanged status keeps its transition time, other types stay": {
			existing: []metav1.Condition{foreign,
				cond(carvev1.NodePoolReady, metav1.ConditionTrue, ReasonServed, "old message", before)},
			obs: Observed{Served: true, TargetSize: 2, ReadySize: 2},
			want: []metav1.Condition{foreign,
				cond(carvev1.NodePoolReady, metav1.ConditionTrue, ReasonServed, "offered to the autoscaler as node group cpu (platform Kwok)", before),
				idle, noneRefused},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pool := ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 2, 5, "4", "16Gi").Obj()
			pool.Generation = 3
			pool.Status.Conditions = tc.existing
			tc.obs.Now = now
			got := Conditions(pool, tc.obs)
			want := append(tc.want, unchecked)
			if tc.template != nil {
				want[len(want)-1] = *tc.template
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Conditions (-want +got):\n%s", diff)
			}
		})
	}
}
