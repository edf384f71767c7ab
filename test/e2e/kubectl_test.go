//go:build linux

package e2e_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// kubectl runs the real kubectl binary against the run's cluster, as the
// admin (its kubeconfig is system:masters) or, with as, impersonating a user.
type kubectl struct {
	bin        string
	kubeconfig string
	user       string
}

// result is what one kubectl invocation printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// as returns a kubectl that impersonates user.
func (k kubectl) as(user string) kubectl {
	k.user = user
	return k
}

// run runs kubectl with args (and stdin, if not empty) and logs the command
// and its output. Only a kubectl that cannot be run fails the test; its
// exit code is the caller's to judge.
func (k kubectl) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	if k.user != "" {
		args = append([]string{"--as=" + k.user}, args...)
	}
	// Not t.Context(): it is cancelled before cleanups, which run kubectl too.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+k.kubeconfig)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && ctx.Err() == nil:
		r.code = exit.ExitCode()
	default:
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, r.stderr)
	}
	t.Logf("$ kubectl %s  (exit %d)\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// ok runs kubectl and fails the test unless it exits 0; it returns stdout.
func (k kubectl) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := k.run(t, "", args...)
	if r.code != 0 {
		t.Fatalf("kubectl %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// eventually polls cond every second until it holds or timeout passes, and
// then fails the test with the last thing cond reported.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), time.Second, timeout, true, func(context.Context) (bool, error) {
		var ok bool
		ok, last = cond()
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s (%v); last seen: %s", what, timeout, err, last)
	}
}

// mustContain fails the test unless s contains every one of want.
func mustContain(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}
