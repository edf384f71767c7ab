package server

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// ServerOption changes how NewServer builds a Server.
type ServerOption func(*Server)

// WithRecorder makes the Server record a Warning Event on the NodePool each
// time a guard refuses a request. Without it, refusals are only logged and
// returned to the autoscaler.
func WithRecorder(r events.EventRecorder) ServerOption {
	return func(s *Server) { s.recorder = r }
}

// WithBeforePodCheck runs f for each node DeleteNodes is about to remove,
// once the node carries TaintDeleting and before its pods are listed. It
// exists for tests that drive the race between a pod landing on a node and
// the node's deletion.
func WithBeforePodCheck(f func(ctx context.Context, node string)) ServerOption {
	return func(s *Server) { s.beforePodCheck = f }
}

// WithOutcomes makes the Server report the outcome of every size change to
// o, from which poolstatus.Writer writes the ScaleRefused condition.
func WithOutcomes(o *ScaleOutcomes) ServerOption {
	return func(s *Server) { s.outcomes = o }
}

// The action of each Event: the request that was refused.
const (
	ActionIncreaseSize       = "IncreaseSize"
	ActionDeleteNodes        = "DeleteNodes"
	ActionDecreaseTargetSize = "DecreaseTargetSize"
)

// maxNoteLength is the most an events.k8s.io Event's note may hold.
const maxNoteLength = 1024

// outcome reports how a size change of pool ended and returns err
// unchanged. A refusal is logged, recorded as a Warning Event on the pool
// (reason: the guard; related: the node, if any) and remembered for the
// pool's ScaleRefused condition; success (nil) is remembered too. Other
// errors (bad input, a failing platform) say nothing about the guards and
// change nothing.
//
// Events are not rate-limited here: client-go's events library counts
// repeats of an Event with the same type, reason, action, pool and node in
// one series and writes its count every 30 minutes and once the repeats
// stop, so an autoscaler retrying a refused deletion every loop causes a
// handful of writes, not one per loop.
func (s *Server) outcome(ctx context.Context, pool *carvev1.NodePool, action string, err error) error {
	if err == nil {
		s.outcomes.Record(pool.Name, nil)
		return nil
	}
	r := AsRefusal(err)
	if r == nil {
		return err
	}
	klog.FromContext(ctx).Info("Refused", "nodeGroup", pool.Name, "action", action, "reason", r.Reason, "node", r.Node, "message", r.Error())
	s.outcomes.Record(pool.Name, r)
	if s.recorder != nil {
		regarding := pool.DeepCopy()
		// The reference would carry the resourceVersion, which every
		// status write changes; the library would then start a new Event
		// instead of counting the repeat.
		regarding.ResourceVersion = ""
		var related runtime.Object
		if r.Node != "" {
			related = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: r.Node}}
		}
		s.recorder.Eventf(regarding, related, corev1.EventTypeWarning, r.Reason, action, "%s", cloudprovider.Truncate(r.Note(), maxNoteLength))
	}
	return err
}
