package machineset

import (
	"errors"

	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// RefusedError is returned by Create and Delete for a set that something
// else scales (Kind.Refuse). It is an ErrRefused (errors.Is), so the
// autoscaler sees FailedPrecondition, and it carries a reason for a NodePool
// condition.
type RefusedError struct {
	// Reason is a CamelCase reason, e.g. "MachineAutoscaler".
	Reason string
	// Message says who scales the set and what to do instead.
	Message string
}

func (e *RefusedError) Error() string { return e.Message }

// Is makes the error an ErrRefused.
func (e *RefusedError) Is(target error) bool { return target == cloudprovider.ErrRefused }

// AsRefused returns the RefusedError in err's chain, or nil.
func AsRefused(err error) *RefusedError {
	var r *RefusedError
	if errors.As(err, &r) {
		return r
	}
	return nil
}
