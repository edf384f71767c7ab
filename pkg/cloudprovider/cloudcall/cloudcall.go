// Package cloudcall is how carve's cloud backends call their cloud, written
// once for all of them: every call runs under a deadline that ends before
// the autoscaler's gRPC timeout does, is retried with jittered exponential
// backoff while the cloud throttles it or fails on its side (honouring a
// Retry-After the cloud sends), and comes back as one of the Platform's typed
// errors (cloudprovider.ErrNotFound, ErrInvalid, ErrQuotaExceeded,
// ErrTransient) so the server can give the autoscaler the right gRPC code.
//
// A backend supplies only a Classifier, which reads its SDK's error type
// (an AWS API error code, an Azure response status) into a Verdict. The SDKs'
// own retry policies are turned off by the backends, so that this is the one
// place that decides how often and how long a call is tried.
package cloudcall

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// Verdict is what a backend's Classifier says about an error from its cloud.
type Verdict struct {
	// Kind is the Platform error kind the error means (cloudprovider.Err…),
	// or nil for an error that is none of them (reported as internal).
	Kind error
	// Retry says the same call may succeed if tried again: the cloud
	// throttled it, failed with a 5xx, or could not be reached.
	Retry bool
	// RetryAfter is how long the cloud asked to wait before the next try
	// (an HTTP Retry-After header), zero when it did not say.
	RetryAfter time.Duration
}

// Classifier reads an error from a cloud SDK.
type Classifier func(err error) Verdict

// Policy bounds a call and its retries. The zero value means the defaults.
type Policy struct {
	// Attempts is how many times a call is tried at most (default 4).
	Attempts int
	// Base is the first backoff (default 200 ms); each retry doubles it, up
	// to Max (default 4 s), with full jitter.
	Base, Max time.Duration
	// Timeout bounds a call with all its retries when the caller's context
	// has no deadline of its own (default 20 s).
	Timeout time.Duration
	// Margin is the part of the caller's deadline left unused, so that a
	// typed error, not the caller's own timeout, reaches the autoscaler
	// (default: a tenth of the time left, at least 200 ms).
	Margin time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.Attempts <= 0 {
		p.Attempts = 4
	}
	if p.Base <= 0 {
		p.Base = 200 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 4 * time.Second
	}
	if p.Timeout <= 0 {
		p.Timeout = 20 * time.Second
	}
	return p
}

// Caller calls one cloud. It is safe for concurrent use.
type Caller struct {
	// Cloud names the cloud in error messages ("AWS Auto Scaling").
	Cloud string
	// Classify reads the cloud's errors; nil treats every error as internal
	// and never retries.
	Classify Classifier
	// Policy bounds calls and retries.
	Policy Policy
	// Observe, when set, is told of every attempt (for metrics and tests).
	Observe func(op string, attempt int, err error)
	// sleep waits d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// Do runs fn, retrying it while the Classifier says a retry may help and
// time and attempts are left. op names the call in errors ("SetDesiredCapacity
// asg-gpu"). The error returned wraps the last attempt's error and carries
// its kind; a deadline that ends the retries is ErrTransient.
func (c *Caller) Do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	p := c.Policy.withDefaults()
	ctx, cancel := c.bound(ctx, p)
	defer cancel()
	backoff := p.Base
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if c.Observe != nil {
			c.Observe(op, attempt, err)
		}
		if err == nil {
			return nil
		}
		v := c.verdict(err)
		if ctx.Err() != nil && !v.Retry {
			v = Verdict{Kind: cloudprovider.ErrTransient}
		}
		if !v.Retry || attempt >= p.Attempts {
			return c.wrap(op, attempt, v, err)
		}
		wait := time.Duration(rand.Int64N(int64(backoff) + 1))
		if v.RetryAfter > wait {
			wait = v.RetryAfter
		}
		backoff = min(2*backoff, p.Max)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return c.wrap(op, attempt, v, err) // no time left to wait for another try
		}
		if serr := c.wait(ctx, wait); serr != nil {
			return c.wrap(op, attempt, v, err)
		}
	}
}

// bound gives ctx the deadline a call and its retries must keep.
func (c *Caller) bound(ctx context.Context, p Policy) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithTimeout(ctx, p.Timeout)
	}
	margin := p.Margin
	if margin <= 0 {
		margin = max(time.Until(dl)/10, 200*time.Millisecond)
	}
	return context.WithDeadline(ctx, dl.Add(-margin))
}

func (c *Caller) verdict(err error) Verdict {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Verdict{Kind: cloudprovider.ErrTransient}
	}
	if c.Classify == nil {
		return Verdict{}
	}
	return c.Classify(err)
}

func (c *Caller) wait(ctx context.Context, d time.Duration) error {
	if c.sleep != nil {
		return c.sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Caller) wrap(op string, attempts int, v Verdict, err error) error {
	tries := ""
	if attempts > 1 {
		tries = fmt.Sprintf(" (%d attempts)", attempts)
	}
	if v.Kind == nil {
		return fmt.Errorf("%s %s%s: %w", c.Cloud, op, tries, err)
	}
	return cloudprovider.Errorf(v.Kind, "%s %s%s: %w", c.Cloud, op, tries, err)
}

// HTTPVerdict is the verdict for an HTTP status from a cloud's REST API, for
// classifiers to start from: 429 and 5xx may be retried (ErrTransient), 404
// is ErrNotFound, 400/409/422 ErrInvalid, and 401/403 internal (a permission
// problem an admin must fix; retrying will not help).
func HTTPVerdict(status int, retryAfter time.Duration) Verdict {
	switch {
	case status == 429 || status >= 500:
		return Verdict{Kind: cloudprovider.ErrTransient, Retry: true, RetryAfter: retryAfter}
	case status == 404:
		return Verdict{Kind: cloudprovider.ErrNotFound}
	case status == 400 || status == 409 || status == 422:
		return Verdict{Kind: cloudprovider.ErrInvalid}
	}
	return Verdict{}
}

// ParseRetryAfter reads an HTTP Retry-After header value: seconds, or an
// HTTP date. It returns 0 for anything else or a time already past, and caps
// the wait at limit so that a broken header cannot stall a call.
func ParseRetryAfter(v string, now time.Time, limit time.Duration) time.Duration {
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs >= int64(limit/time.Second) {
			return limit
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil || !t.After(now) {
		return 0
	}
	return min(limit, t.Sub(now))
}
