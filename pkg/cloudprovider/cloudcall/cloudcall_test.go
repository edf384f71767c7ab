package cloudcall

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/carve-dev/carve/pkg/cloudprovider"
)

var (
	errThrottled = errors.New("Throttling: rate exceeded")
	errGone      = errors.New("ResourceNotFound")
	errOther     = errors.New("something odd")
)

func classify(err error) Verdict {
	switch {
	case errors.Is(err, errThrottled):
		return Verdict{Kind: cloudprovider.ErrTransient, Retry: true, RetryAfter: 3 * time.Second}
	case errors.Is(err, errGone):
		return Verdict{Kind: cloudprovider.ErrNotFound}
	}
	return Verdict{}
}

// fakeSleep records waits instead of sleeping.
type fakeSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (f *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.waits = append(f.waits, d)
	f.mu.Unlock()
	return ctx.Err()
}

func TestDoRetriesThrottlingThenSucceeds(t *testing.T) {
	fs := &fakeSleep{}
	c := &Caller{Cloud: "Test", Classify: classify, sleep: fs.sleep}
	calls := 0
	err := c.Do(context.Background(), "Op", func(context.Context) error {
		calls++
		if calls < 3 {
			return errThrottled
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Do = %v after %d calls, want success on the third", err, calls)
	}
	for _, w := range fs.waits {
		if w < 3*time.Second {
			t.Errorf("waited %v, want at least the cloud's Retry-After of 3s", w)
		}
	}
	if len(fs.waits) != 2 {
		t.Errorf("waited %d times, want 2", len(fs.waits))
	}
}

func TestDoGivesUpWithKind(t *testing.T) {
	fs := &fakeSleep{}
	c := &Caller{Cloud: "Test", Classify: classify, Policy: Policy{Attempts: 3}, sleep: fs.sleep}
	calls := 0
	err := c.Do(context.Background(), "Op x", func(context.Context) error { calls++; return errThrottled })
	if calls != 3 {
		t.Errorf("tried %d times, want 3 (Policy.Attempts)", calls)
	}
	if !errors.Is(err, cloudprovider.ErrTransient) || !errors.Is(err, errThrottled) {
		t.Errorf("Do = %v, want ErrTransient wrapping the cloud's error", err)
	}
	if want := "Test Op x (3 attempts): Throttling: rate exceeded"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

func TestDoDoesNotRetryPermanent(t *testing.T) {
	c := &Caller{Cloud: "Test", Classify: classify, sleep: (&fakeSleep{}).sleep}
	for _, tc := range []struct {
		err  error
		kind error
	}{{errGone, cloudprovider.ErrNotFound}, {errOther, nil}} {
		calls := 0
		err := c.Do(context.Background(), "Op", func(context.Context) error { calls++; return tc.err })
		if calls != 1 {
			t.Errorf("%v: tried %d times, want 1", tc.err, calls)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("Do = %v, want it to wrap %v", err, tc.err)
		}
		if tc.kind != nil && !errors.Is(err, tc.kind) {
			t.Errorf("Do = %v, want kind %v", err, tc.kind)
		}
		if tc.kind == nil && cloudprovider.Code(err) != cloudprovider.Code(errors.New("x")) {
			t.Errorf("unclassified error got code %v, want internal", cloudprovider.Code(err))
		}
	}
}

// TestDoKeepsInsideCallerDeadline: with a caller deadline of 1 s and a cloud
// that throttles with Retry-After 3 s, Do returns a transient error at once
// instead of sleeping past the deadline.
func TestDoKeepsInsideCallerDeadline(t *testing.T) {
	c := &Caller{Cloud: "Test", Classify: classify}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var seen time.Time
	start := time.Now()
	err := c.Do(ctx, "Op", func(ctx context.Context) error {
		seen, _ = ctx.Deadline()
		return errThrottled
	})
	if !errors.Is(err, cloudprovider.ErrTransient) {
		t.Errorf("Do = %v, want ErrTransient", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("Do took %v, want it to give up before the caller's deadline", d)
	}
	callerDL, _ := ctx.Deadline()
	if !seen.Before(callerDL) {
		t.Errorf("the call's deadline %v is not before the caller's %v", seen, callerDL)
	}
}

func TestDoMapsItsOwnDeadline(t *testing.T) {
	c := &Caller{Cloud: "Test", Policy: Policy{Timeout: 50 * time.Millisecond}}
	err := c.Do(context.Background(), "Op", func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, cloudprovider.ErrTransient) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do = %v, want ErrTransient wrapping the deadline", err)
	}
}

func TestObserveSeesEveryAttempt(t *testing.T) {
	var attempts []int
	c := &Caller{Cloud: "Test", Classify: classify, sleep: (&fakeSleep{}).sleep,
		Observe: func(op string, attempt int, err error) { attempts = append(attempts, attempt) }}
	n := 0
	_ = c.Do(context.Background(), "Op", func(context.Context) error {
		if n++; n == 1 {
			return errThrottled
		}
		return nil
	})
	if len(attempts) != 2 || attempts[0] != 1 || attempts[1] != 2 {
		t.Errorf("observed attempts %v, want [1 2]", attempts)
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	fs := &fakeSleep{}
	c := &Caller{Cloud: "Test", sleep: fs.sleep, Policy: Policy{Attempts: 8, Base: 100 * time.Millisecond, Max: 400 * time.Millisecond},
		Classify: func(error) Verdict { return Verdict{Kind: cloudprovider.ErrTransient, Retry: true} }}
	_ = c.Do(context.Background(), "Op", func(context.Context) error { return errOther })
	if len(fs.waits) != 7 {
		t.Fatalf("waited %d times, want 7", len(fs.waits))
	}
	caps := []time.Duration{100, 200, 400, 400, 400, 400, 400}
	for i, w := range fs.waits {
		if w < 0 || w > caps[i]*time.Millisecond {
			t.Errorf("wait %d = %v, want within [0, %v]", i, w, caps[i]*time.Millisecond)
		}
	}
}

func TestHTTPVerdict(t *testing.T) {
	for _, tc := range []struct {
		status int
		kind   error
		retry  bool
	}{
		{429, cloudprovider.ErrTransient, true},
		{500, cloudprovider.ErrTransient, true},
		{503, cloudprovider.ErrTransient, true},
		{404, cloudprovider.ErrNotFound, false},
		{400, cloudprovider.ErrInvalid, false},
		{409, cloudprovider.ErrInvalid, false},
		{403, nil, false},
		{401, nil, false},
	} {
		v := HTTPVerdict(tc.status, time.Second)
		if v.Kind != tc.kind || v.Retry != tc.retry {
			t.Errorf("HTTPVerdict(%d) = %+v, want kind %v retry %v", tc.status, v, tc.kind, tc.retry)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"999999999999", 30 * time.Second},
		{"soon", 0},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second},
		{now.Add(-10 * time.Second).Format(http.TimeFormat), 0},
		{now.Add(time.Hour).Format(http.TimeFormat), 30 * time.Second},
	} {
		if got := ParseRetryAfter(tc.in, now, 30*time.Second); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// FuzzParseRetryAfter: whatever the header, the wait is within [0, limit].
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "1", "120", "-1", "Wed, 21 Oct 2026 07:28:00 GMT", "1e9", " 5"} {
		f.Add(s)
	}
	now := time.Date(2026, 10, 21, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d := ParseRetryAfter(s, now, 30*time.Second)
		if d < 0 || d > 30*time.Second {
			t.Fatalf("ParseRetryAfter(%q) = %v, outside [0, 30s]", s, d)
		}
	})
}
