package chart

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// binaryRun is one of carve's binaries that an install test runs as a
// chart ServiceAccount, to prove the chart's RBAC is enough.
type binaryRun struct {
	name     string
	cmd      *exec.Cmd
	log      bytes.Buffer
	exited   chan error
	stopOnce sync.Once
	grace    time.Duration
}

// startBinary starts bin with args and env (added to this process's), and
// stops it (interrupt, then kill after grace) when the test ends, logging
// its output if the test failed. user names the identity it runs as.
func startBinary(t *testing.T, name, bin, user string, args, env []string, grace time.Duration) *binaryRun {
	t.Helper()
	r := &binaryRun{name: name, exited: make(chan error, 1), grace: grace}
	r.cmd = exec.Command(bin, args...)
	r.cmd.Env = append(os.Environ(), env...)
	r.cmd.Stdout, r.cmd.Stderr = &r.log, &r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("%s %s, as %s:\n%s", name, strings.Join(args, " "), user, r.log.String())
		}
	})
	return r
}

// stop ends the process and waits for it; later calls do nothing.
func (r *binaryRun) stop() {
	r.stopOnce.Do(func() {
		_ = r.cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-r.exited:
			r.exited <- err
		case <-time.After(r.grace):
			_ = r.cmd.Process.Kill()
			r.exited <- <-r.exited
		}
	})
}

// alive is nil while the process runs, else why it ended.
func (r *binaryRun) alive() error {
	select {
	case err := <-r.exited:
		r.exited <- err
		return fmt.Errorf("%s exited: %v", r.name, err)
	default:
		return nil
	}
}

// output is what the process wrote so far; read it after stop.
func (r *binaryRun) output() string { return r.log.String() }
