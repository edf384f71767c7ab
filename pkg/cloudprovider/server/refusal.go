package server

import (
	"errors"

	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// Reasons a guard refuses a request. Each is the reason of the Warning Event
// recorded on the NodePool and of its ScaleRefused condition; users and
// alerts may rely on them (docs/autoscaling.md lists them).
const (
	// ReasonAboveMaxSize: IncreaseSize would take the target above maxSize.
	ReasonAboveMaxSize = "AboveMaxSize"
	// ReasonBelowMinSize: DeleteNodes would leave fewer nodes than minSize.
	ReasonBelowMinSize = "BelowMinSize"
	// ReasonBaseLastNode: DeleteNodes would take the Base pool's last node.
	ReasonBaseLastNode = "BaseLastNode"
	// ReasonSessionRunning: the node runs a session pod.
	ReasonSessionRunning = "SessionRunning"
	// ReasonPodNotEvictable: the node runs a pod annotated safe-to-evict
	// "false".
	ReasonPodNotEvictable = "PodNotEvictable"
	// ReasonScaleDownDisabled: the node is annotated scale-down-disabled.
	ReasonScaleDownDisabled = "ScaleDownDisabled"
	// ReasonNodesRegistered: DecreaseTargetSize would take nodes that have
	// registered, which only DeleteNodes may remove.
	ReasonNodesRegistered = "NodesRegistered"
)

// Refusal is the error a guard returns. It is an cloudprovider.ErrRefused (errors.Is, so
// the autoscaler sees FailedPrecondition with Error() as the message) that
// also names the guard and says what a person can do about it.
type Refusal struct {
	// Reason is one of the Reason constants.
	Reason string
	// Node is the node the refusal is about, if any.
	Node string
	// Hint says what to do instead, for events and conditions.
	Hint string

	err error
}

func (r *Refusal) Error() string { return r.err.Error() }
func (r *Refusal) Unwrap() error { return r.err }

// Note is the refusal as people read it: what was refused, and what to do.
func (r *Refusal) Note() string {
	if r.Hint == "" {
		return r.Error()
	}
	return r.Error() + "; " + r.Hint
}

// refuse makes a Refusal with an cloudprovider.ErrRefused message made from format.
func refuse(reason, node, hint, format string, args ...any) error {
	return &Refusal{Reason: reason, Node: node, Hint: hint, err: cloudprovider.Errorf(cloudprovider.ErrRefused, format, args...)}
}

// AsRefusal returns the Refusal in err's chain, or nil.
func AsRefusal(err error) *Refusal {
	var r *Refusal
	if errors.As(err, &r) {
		return r
	}
	return nil
}
