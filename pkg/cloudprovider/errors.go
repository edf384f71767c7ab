package cloudprovider

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kinds of failure. Platforms and the server return errors that wrap one of
// these (errors.Is), made with Errorf; anything else counts as internal.
var (
	// ErrNotFound: the node group, or a pool's backing object in the cloud
	// (ASG, agent pool, MachineSet, MachineDeployment), does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request can never succeed as asked (a non-positive
	// delta, an id that is not an instance of the group, a malformed pool).
	ErrInvalid = errors.New("invalid request")
	// ErrRefused: the request is well formed but a rule forbids it in the
	// current state (above maxSize, below minSize, the Base pool's last node,
	// a node running a session). Retrying will not help until the state
	// changes.
	ErrRefused = errors.New("refused")
	// ErrQuotaExceeded: the platform has no capacity or quota left for more
	// instances (account limits, insufficient capacity in the zone).
	ErrQuotaExceeded = errors.New("quota or capacity exceeded")
	// ErrTransient: the platform could not be reached or throttled the call;
	// the same call may succeed later.
	ErrTransient = errors.New("temporarily unavailable")
	// ErrUnsupported: the pool's platform is not served (not in this build, or
	// left out by carve-cloudprovider's --platforms flag).
	ErrUnsupported = errors.New("unsupported")
)

// kindError carries a full message and a kind; its message is the message,
// without the kind's text appended.
type kindError struct {
	kind error
	msg  string
	err  error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() []error {
	if e.err == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.err}
}

// Errorf formats an error of the given kind (one of the Err values). A %w
// verb in format keeps the wrapped error reachable as well.
func Errorf(kind error, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &kindError{kind: kind, msg: err.Error(), err: errors.Unwrap(err)}
}

// Code maps an error to the gRPC code the autoscaler sees.
func Code(err error) codes.Code {
	switch {
	case err == nil:
		return codes.OK
	case errors.Is(err, ErrNotFound):
		return codes.NotFound
	case errors.Is(err, ErrInvalid):
		return codes.InvalidArgument
	case errors.Is(err, ErrRefused):
		return codes.FailedPrecondition
	case errors.Is(err, ErrQuotaExceeded):
		return codes.ResourceExhausted
	case errors.Is(err, ErrTransient):
		return codes.Unavailable
	case errors.Is(err, ErrUnsupported):
		return codes.Unimplemented
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return codes.Internal
}

// Status turns an error into a gRPC status error with the same message.
func Status(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		return err
	}
	return status.Error(Code(err), err.Error())
}

// Truncate shortens s to at most n bytes (n > 3) for an API field with a
// length limit (an Event's note, a condition's message), ending it with
// "..." and never splitting a UTF-8 sequence.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n-3], "") + "..."
}
