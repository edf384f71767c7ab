//go:build linux

package e2e_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carve-dev/carve/test/framework"
)

// TestRunRefusesBusyPort: with one of its ports taken (another make run,
// say), hack/run.sh stops at once with a message naming the port, instead
// of taking the other process's answers for its own components'.
func TestRunRefusesBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	ports, err := framework.FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	root := framework.RepoRoot()
	// Were the check gone, run.sh would go on to start a cluster: bound
	// it, and end the whole process group.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "run.sh"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.Dir = root
	ports = append(ports[:2], append([]int{busy}, ports[2:]...)...) // the health port is taken
	cmd.Env = append(append(os.Environ(), portEnv(ports)...), "CARVE_LOCAL_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	code, _ := exitCode(err)
	if code != 1 || !strings.Contains(string(out), "port(s) "+strconv.Itoa(busy)+" on 127.0.0.1 are in use") {
		t.Fatalf("hack/run.sh with port %d taken: exit %d, want 1 and a message naming the port:\n%s", busy, code, out)
	}
}
