package aks

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/cloudcall"
)

// maxRetryAfter caps the wait an Azure Retry-After header may ask for; the
// caller's deadline bounds it further (cloudcall does not start a wait
// that would end after it).
const maxRetryAfter = 30 * time.Second

// outOfResourcesCodes are the ARM error codes that mean Azure had no
// capacity or quota for the VMs asked for; the autoscaler backs a pool off
// for them rather than retrying it.
var outOfResourcesCodes = map[string]bool{
	"quotaexceeded":                         true,
	"skunotavailable":                       true,
	"allocationfailed":                      true,
	"overconstrainedallocationrequest":      true,
	"zonalallocationfailed":                 true,
	"overconstrainedzonalallocationrequest": true,
	"insufficientsubnetsize":                true,
	"subnetisfull":                          true,
	"publicipcountlimitreached":             true,
}

// busyCodes mean another operation on the agent pool or cluster is still
// running. Retrying within one RPC is useless (AKS operations take
// minutes); the autoscaler tries again in a later loop.
var busyCodes = map[string]bool{
	"operationnotallowed":        true,
	"anotheroperationinprogress": true,
	"conflict":                   true,
}

// classify is the cloudcall.Classifier for Azure Resource Manager: it reads
// an *azcore.ResponseError's status, code and Retry-After header.
func classify(err error) cloudcall.Verdict {
	// The backend's own refusals (made inside a call, after reading the
	// agent pool) keep their kind and are never retried.
	for _, kind := range []error{cloudprovider.ErrInvalid, cloudprovider.ErrNotFound, cloudprovider.ErrRefused} {
		if errors.Is(err, kind) {
			return cloudcall.Verdict{Kind: kind}
		}
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		codes := errorCodes(re)
		wait := retryAfter(re.RawResponse, time.Now())
		switch {
		case re.StatusCode == http.StatusTooManyRequests || re.StatusCode >= 500:
			return cloudcall.HTTPVerdict(re.StatusCode, wait)
		case outOfResources(codes, armMessage(re)):
			return cloudcall.Verdict{Kind: cloudprovider.ErrQuotaExceeded}
		case re.StatusCode == http.StatusPreconditionFailed:
			// The agent pool changed between our read and our write (If-Match):
			// read it again and redo the change.
			return cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true, RetryAfter: wait}
		case re.StatusCode == http.StatusConflict || anyCode(codes, busyCodes):
			return cloudcall.Verdict{Kind: cloudprovider.ErrTransient}
		}
		return cloudcall.HTTPVerdict(re.StatusCode, wait)
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) {
		return cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true}
	}
	// Credential failures (azidentity) and anything else: an admin must fix
	// it, and retrying will not help.
	return cloudcall.Verdict{}
}

// retryAfter reads the wait Azure asks for: retry-after-ms and
// x-ms-retry-after-ms (milliseconds) before Retry-After (seconds or a date).
func retryAfter(resp *http.Response, now time.Time) time.Duration {
	if resp == nil {
		return 0
	}
	for _, h := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if v := resp.Header.Get(h); v != "" {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
				return min(time.Duration(ms)*time.Millisecond, maxRetryAfter)
			}
		}
	}
	return cloudcall.ParseRetryAfter(resp.Header.Get("Retry-After"), now, maxRetryAfter)
}

// errorCodes are the ARM error code of re and those of its details, lower
// case: a failed agent pool operation often says
// ReconcileVMSSAgentPoolFailed on top and QuotaExceeded inside.
func errorCodes(re *azcore.ResponseError) []string {
	var codes []string
	if re.ErrorCode != "" {
		codes = append(codes, strings.ToLower(re.ErrorCode))
	}
	if re.RawResponse == nil {
		return codes
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil || len(body) == 0 {
		return codes
	}
	var doc struct {
		Error *armError `json:"error"`
	}
	if json.Unmarshal(body, &doc) != nil || doc.Error == nil {
		return codes
	}
	var walk func(e *armError, depth int)
	walk = func(e *armError, depth int) {
		if e == nil || depth > 8 {
			return
		}
		if e.Code != "" {
			codes = append(codes, strings.ToLower(e.Code))
		}
		for _, d := range e.Details {
			walk(d, depth+1)
		}
	}
	walk(doc.Error, 0)
	return codes
}

type armError struct {
	Code    string      `json:"code"`
	Message string      `json:"message"`
	Details []*armError `json:"details"`
}

func anyCode(codes []string, set map[string]bool) bool {
	for _, c := range codes {
		if set[c] {
			return true
		}
	}
	return false
}

// outOfResources says an error means Azure lacked capacity or quota. Core
// quota errors come as OperationNotAllowed with a message about quota, so
// the message counts too.
func outOfResources(codes []string, msg string) bool {
	if anyCode(codes, outOfResourcesCodes) {
		return true
	}
	return anyCode(codes, map[string]bool{"operationnotallowed": true}) && strings.Contains(strings.ToLower(msg), "quota")
}

// instanceError describes a failed agent pool operation for the instances
// it should have created (or deleted).
func instanceError(err error, what string) *cloudprovider.InstanceError {
	ie := &cloudprovider.InstanceError{Code: "OperationFailed", Message: what + ": " + tidy(err).Error()}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			ie.Code = re.ErrorCode
		}
		codes := errorCodes(re)
		ie.OutOfResources = outOfResources(codes, armMessage(re))
		if msg := armMessage(re); msg != "" {
			ie.Message = what + ": " + msg
		}
	}
	return ie
}

// armMessage is the error message of an ARM error body, without the
// request dump ResponseError.Error() adds.
func armMessage(re *azcore.ResponseError) string {
	if re.RawResponse == nil {
		return ""
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil {
		return ""
	}
	var doc struct {
		Error *armError `json:"error"`
	}
	if json.Unmarshal(body, &doc) != nil || doc.Error == nil {
		return ""
	}
	msg := doc.Error.Code + ": " + doc.Error.Message
	for _, d := range doc.Error.Details {
		if d != nil && d.Code != "" {
			msg += "; " + d.Code + ": " + d.Message
		}
	}
	return msg
}

// armResponseError keeps an *azcore.ResponseError reachable (errors.As)
// but says it in one line: the SDK's own message is a multi-line dump of
// the request and the response.
type armResponseError struct{ re *azcore.ResponseError }

func (e *armResponseError) Error() string {
	msg := armMessage(e.re)
	if msg == "" {
		msg = e.re.ErrorCode
	}
	req := ""
	if r := e.re.RawResponse; r != nil && r.Request != nil {
		req = r.Request.Method + " " + r.Request.URL.Path + ": "
	}
	return fmt.Sprintf("%sHTTP %d %s", req, e.re.StatusCode, msg)
}

func (e *armResponseError) Unwrap() error { return e.re }

// tidy gives an SDK error its one-line form.
func tidy(err error) error {
	var re *azcore.ResponseError
	if err == nil || !errors.As(err, &re) {
		return err
	}
	var already *armResponseError
	if errors.As(err, &already) {
		return err
	}
	return &armResponseError{re: re}
}
