package poolstatus

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/server"
)

// Reasons of the NodePool conditions other than ScaleRefused=True, whose
// reason is the guard's (the Reason constants of refusal.go).
const (
	// Ready=True: the pool is offered to the autoscaler.
	ReasonServed = "Served"
	// Ready=False, ScalingUp=Unknown: no platform of the pool's type in
	// this carve-cloudprovider.
	ReasonPlatformUnavailable = "PlatformUnavailable"
	// Ready=False, ScalingUp=Unknown: the platform failed to report the
	// target size.
	ReasonPlatformError = "PlatformError"
	// ScalingUp=True: fewer nodes are Ready than asked for.
	ReasonWaitingForNodes = "WaitingForNodes"
	// ScalingUp=False: every node asked for is Ready.
	ReasonNodesReady = "NodesReady"
	// ScaleRefused=False: the latest size change was carried out.
	ReasonScaleAccepted = "ScaleAccepted"
	// ScaleRefused=False: nothing was refused since carve-cloudprovider
	// started (written only when the pool has no ScaleRefused condition).
	ReasonNoneRefused = "NoneRefused"
	// TemplateMatches=True: the platform and the first Ready node agree
	// with the template.
	ReasonTemplateAgrees = "TemplateAgrees"
	// TemplateMatches=False: they differ; the message lists how.
	ReasonTemplateDiffers = "TemplateDiffers"
	// TemplateMatches=Unknown: no Ready node yet, and the platform says
	// nothing of its nodes.
	ReasonNothingToCompare = "NothingToCompare"
)

// maxConditionMessage is the most a metav1.Condition message may hold.
const maxConditionMessage = 32768

// Observed is what the status writer saw of a pool; Conditions decides
// the pool's conditions from it.
type Observed struct {
	// Served says the pool's platform is available in this build.
	Served bool
	// TargetErr is the platform's error reading the target size, if any.
	TargetErr error
	// TargetSize and ReadySize are the sizes written to the status.
	TargetSize, ReadySize int32
	// server.Refusal and OutcomeKnown are the latest size change
	// (server.ScaleOutcomes.Last): unknown since the start, carried out (nil), or
	// refused.
	Refusal      *server.Refusal
	OutcomeKnown bool
	// RefusedReason and RefusedMessage are the platform's refusal to
	// change the pool (cloudprovider.Refuser), "" when there is none.
	RefusedReason, RefusedMessage string
	// TemplateDiffs are the differences from the template the platform
	// (TemplateChecker) and the first Ready node (NodeDifferences) show;
	// TemplateChecked says either had something to compare.
	TemplateDiffs   []string
	TemplateChecked bool
	// Now stamps the conditions whose status changes.
	Now metav1.Time
}

// Conditions returns pool's status conditions updated with o: Ready,
// ScalingUp and ScaleRefused are set, other types are kept, and a
// condition's lastTransitionTime changes only when its status does.
func Conditions(pool *carvev1.NodePool, o Observed) []metav1.Condition {
	conds := slices.Clone(pool.Status.Conditions)
	set := func(typ string, status metav1.ConditionStatus, reason, format string, args ...any) {
		meta.SetStatusCondition(&conds, metav1.Condition{
			Type: typ, Status: status, Reason: reason,
			Message:            cloudprovider.Truncate(fmt.Sprintf(format, args...), maxConditionMessage),
			ObservedGeneration: pool.Generation, LastTransitionTime: o.Now,
		})
	}
	platform := pool.Spec.Platform.Type
	switch {
	case !o.Served:
		set(carvev1.NodePoolReady, metav1.ConditionFalse, ReasonPlatformUnavailable,
			"platform %s is not served by this carve-cloudprovider (see its --platforms flag): the autoscaler is not offered this pool", platform)
		set(carvev1.NodePoolScalingUp, metav1.ConditionUnknown, ReasonPlatformUnavailable, "the target size is not known")
	case o.TargetErr != nil:
		set(carvev1.NodePoolReady, metav1.ConditionFalse, ReasonPlatformError, "reading the target size from platform %s: %v", platform, o.TargetErr)
		set(carvev1.NodePoolScalingUp, metav1.ConditionUnknown, ReasonPlatformError, "the target size is not known")
	default:
		if o.RefusedReason != "" {
			set(carvev1.NodePoolReady, metav1.ConditionFalse, o.RefusedReason, "offered to the autoscaler as node group %s, but platform %s refuses to change its size: %s", pool.Name, platform, o.RefusedMessage)
		} else {
			set(carvev1.NodePoolReady, metav1.ConditionTrue, ReasonServed, "offered to the autoscaler as node group %s (platform %s)", pool.Name, platform)
		}
		switch {
		case o.TargetSize > o.ReadySize:
			set(carvev1.NodePoolScalingUp, metav1.ConditionTrue, ReasonWaitingForNodes, "%d of the %d nodes asked for are not Ready yet", o.TargetSize-o.ReadySize, o.TargetSize)
		case o.TargetSize == 0:
			set(carvev1.NodePoolScalingUp, metav1.ConditionFalse, ReasonNodesReady, "no nodes are asked for")
		default:
			set(carvev1.NodePoolScalingUp, metav1.ConditionFalse, ReasonNodesReady, "all %d nodes asked for are Ready", o.TargetSize)
		}
	}
	switch {
	case o.OutcomeKnown && o.Refusal != nil:
		set(carvev1.NodePoolScaleRefused, metav1.ConditionTrue, o.Refusal.Reason, "%s", o.Refusal.Note())
	case o.OutcomeKnown:
		set(carvev1.NodePoolScaleRefused, metav1.ConditionFalse, ReasonScaleAccepted, "the latest size change asked for was carried out")
	case meta.FindStatusCondition(conds, carvev1.NodePoolScaleRefused) == nil:
		set(carvev1.NodePoolScaleRefused, metav1.ConditionFalse, ReasonNoneRefused, "no size change was refused since carve-cloudprovider started")
	}
	switch {
	case len(o.TemplateDiffs) > 0:
		set(carvev1.NodePoolTemplateMatches, metav1.ConditionFalse, ReasonTemplateDiffers,
			"the pool's nodes differ from spec.template, on which the autoscaler scales the pool from zero: %s; correct the template or the platform's group",
			strings.Join(o.TemplateDiffs, "; "))
	case o.TemplateChecked:
		set(carvev1.NodePoolTemplateMatches, metav1.ConditionTrue, ReasonTemplateAgrees, "the platform and the pool's nodes agree with spec.template")
	default:
		set(carvev1.NodePoolTemplateMatches, metav1.ConditionUnknown, ReasonNothingToCompare, "no Ready node yet, and platform %s says nothing of its nodes", platform)
	}
	return conds
}
