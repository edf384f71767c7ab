package eks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/cloudcall"
)

// Classify reads an error of the Auto Scaling API for cloudcall:
//
//   - throttling (Throttling, RequestLimitExceeded), server faults (5xx,
//     ServiceUnavailable, InternalFailure), a scaling activity in progress
//     and resource contention are ErrTransient and retried;
//   - a ValidationError saying the group or instance is not found is
//     ErrNotFound, any other ValidationError ErrInvalid;
//   - LimitExceeded (an account limit of Auto Scaling) is ErrQuotaExceeded;
//   - a request that never reached AWS (connection refused, reset) is
//     ErrTransient and retried;
//   - everything else, access denied included, is internal: an admin has to
//     act (call wraps a permission error with the IAM action it needs).
func Classify(err error) cloudcall.Verdict {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestThrottled",
			"ServiceUnavailable", "InternalFailure", "InternalError",
			"ScalingActivityInProgress", "ResourceContention":
			return cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true}
		case "ValidationError":
			if notFound(ae.ErrorMessage()) {
				return cloudcall.Verdict{Kind: cloudprovider.ErrNotFound}
			}
			return cloudcall.Verdict{Kind: cloudprovider.ErrInvalid}
		case "LimitExceeded":
			return cloudcall.Verdict{Kind: cloudprovider.ErrQuotaExceeded}
		}
		if isAuth(ae.ErrorCode()) {
			return cloudcall.Verdict{}
		}
		if ae.ErrorFault() == smithy.FaultServer {
			return cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true}
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && (re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == 429) {
		return cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true}
	}
	var se *smithyhttp.RequestSendError
	if errors.As(err, &se) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true}
	}
	return cloudcall.Verdict{}
}

// notFound says whether a ValidationError's message is AWS's for a group
// ("AutoScalingGroup name not found - ...") or an instance ("Instance Id
// not found - No managed instance found for instance ID: i-...") that does
// not exist.
func notFound(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "not found") || strings.Contains(m, "no managed instance found")
}

// instanceNotFound says whether err says the instance is not (or no
// longer) in any group: what terminating an instance gone already answers.
func instanceNotFound(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
		return false
	}
	m := strings.ToLower(ae.ErrorMessage())
	return strings.Contains(m, "instance id not found") || strings.Contains(m, "no managed instance found")
}

func isAuth(code string) bool {
	switch code {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure",
		"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
		"IncompleteSignature", "MissingAuthenticationToken", "ExpiredToken", "ExpiredTokenException":
		return true
	}
	return false
}

// permissionError says which IAM permission a denied call needs.
type permissionError struct {
	action string
	err    error
}

func (e *permissionError) Error() string {
	return fmt.Sprintf("AWS refused the call (is IAM permission autoscaling:%s granted to carve-cloudprovider's role, and are its credentials valid?): %v", e.action, e.err)
}

func (e *permissionError) Unwrap() error { return e.err }

// call runs one Auto Scaling call under cloudcall's policy. action is the
// API action (and IAM permission), what names its object for errors.
func (p *Platform) call(ctx context.Context, action, what string, fn func(ctx context.Context) error) error {
	return p.caller.Do(ctx, action+" "+what, func(ctx context.Context) error {
		err := fn(ctx)
		var ae smithy.APIError
		if err != nil && errors.As(err, &ae) && isAuth(ae.ErrorCode()) {
			return &permissionError{action: action, err: err}
		}
		return err
	})
}
