//go:build linux

package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
	"github.com/carve-dev/carve/test/framework"
)

// localRun is one hack/run.sh running in the background, as `make run` runs
// it, with a folder and ports of its own so that it collides with nothing
// else on the machine.
type localRun struct {
	// dir is its CARVE_LOCAL_DIR; every process it starts names it in its
	// arguments, which is how leftovers are found.
	dir          string
	kubeconfig   string
	providerAddr string
	// autoscaler says whether run.sh found a cluster-autoscaler and started it.
	autoscaler bool

	cmd     *exec.Cmd
	outPath string
	done    chan struct{}
	waitErr error
}

// readyLine is what run.sh prints once everything runs.
const readyLine = "carve is running."

// startRun builds carve's binaries, starts hack/run.sh with them and waits
// until it says carve is running. Cleanups stop it and, if the test failed,
// print its output and the end of every component's log.
func startRun(t *testing.T, binDir string) *localRun {
	t.Helper()
	root := framework.RepoRoot()

	buildDir := t.TempDir()
	start := time.Now()
	build := exec.Command("go", "build", "-o", buildDir+string(filepath.Separator), "./cmd/...")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building carve's binaries: %v\n%s", err, out)
	}
	t.Logf("built carve's binaries in %s", time.Since(start).Round(time.Second))

	ports, err := framework.FreePorts(6)
	if err != nil {
		t.Fatal(err)
	}
	r := &localRun{
		dir:          t.TempDir(),
		providerAddr: "127.0.0.1:" + strconv.Itoa(ports[4]),
		outPath:      filepath.Join(t.TempDir(), "run.sh.log"),
		done:         make(chan struct{}),
	}
	r.kubeconfig = filepath.Join(r.dir, "cluster", "kubeconfig")
	out, err := os.Create(r.outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()

	r.cmd = exec.Command(filepath.Join(root, "hack", "run.sh"))
	r.cmd.Dir = root
	r.cmd.Env = append(append(os.Environ(), portEnv(ports)...),
		"CARVE_LOCAL_DIR="+r.dir,
		framework.BinDirEnv+"="+binDir,
		"CARVE_BUILD_DIR="+buildDir,
		// Short enough for a quick test, long enough that a new node is
		// "creating" for a moment, as a cloud VM is.
		"CARVE_KWOK_BOOT_DELAY=2s",
	)
	r.cmd.Stdout, r.cmd.Stderr = out, out
	r.cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, as a terminal gives `make run`, so that a
		// Ctrl-C can be sent to all of it.
		Setpgid: true,
		// If this test binary dies (go test -timeout), run.sh gets SIGTERM
		// and its trap stops everything it started.
		Pdeathsig: syscall.SIGTERM,
	}
	start = time.Now()
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting hack/run.sh: %v", err)
	}
	go func() {
		r.waitErr = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			r.dumpLogs(t)
		}
	})
	t.Cleanup(func() {
		if r.running() {
			if _, err := r.interrupt(t); err != nil {
				t.Error(err)
			}
		}
	})

	// A cold start builds the launcher and starts the control plane and
	// carve on a busy machine; a minute is usual, five is generous.
	err = wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, 5*time.Minute, true, func(context.Context) (bool, error) {
		if !r.running() {
			return false, fmt.Errorf("hack/run.sh exited before it was ready (%v)", r.waitErr)
		}
		return strings.Contains(r.output(), readyLine), nil
	})
	if err != nil {
		t.Fatalf("waiting for %q from hack/run.sh: %v", readyLine, err)
	}
	r.autoscaler = strings.Contains(r.output(), "starting cluster-autoscaler")
	t.Logf("hack/run.sh ready in %s (cluster-autoscaler: %v)", time.Since(start).Round(time.Second), r.autoscaler)
	return r
}

func (r *localRun) running() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// output is everything run.sh printed so far.
func (r *localRun) output() string {
	b, err := os.ReadFile(r.outPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", r.outPath, err)
	}
	return string(b)
}

// interrupt does what Ctrl-C in the terminal of `make run` does: SIGINT to
// run.sh's whole process group. It returns run.sh's exit code. A process
// started with SIGINT ignored (as a background job of a non-interactive
// shell is) passes that on, and bash cannot trap a signal ignored at its
// start; then SIGTERM is sent instead, which run.sh handles the same way.
func (r *localRun) interrupt(t *testing.T) (int, error) {
	t.Helper()
	if !r.running() {
		return exitCode(r.waitErr)
	}
	pid := r.cmd.Process.Pid
	sig := syscall.SIGINT
	if ignores(pid, sig) {
		sig = syscall.SIGTERM
		t.Logf("hack/run.sh was started with SIGINT ignored; sending SIGTERM instead")
	}
	if err := syscall.Kill(-pid, sig); err != nil {
		return -1, fmt.Errorf("sending %v to process group %d: %w", sig, pid, err)
	}
	select {
	case <-r.done:
		return exitCode(r.waitErr)
	case <-time.After(2 * time.Minute):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-r.done
	return -1, fmt.Errorf("hack/run.sh did not stop within 2m of %v; killed its process group", sig)
}

// portEnv gives hack/run.sh its six ports: webhook, controller metrics,
// controller health, scheduler, provider, autoscaler.
func portEnv(ports []int) []string {
	names := []string{"CARVE_WEBHOOK_PORT", "CARVE_CONTROLLER_METRICS_PORT", "CARVE_CONTROLLER_HEALTH_PORT",
		"CARVE_SCHEDULER_PORT", "CARVE_PROVIDER_PORT", "CARVE_AUTOSCALER_PORT"}
	env := make([]string, len(names))
	for i, n := range names {
		env[i] = n + "=" + strconv.Itoa(ports[i])
	}
	return env
}

func exitCode(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	return -1, err
}

// ignores reports whether process pid ignores sig (SigIgn in /proc).
func ignores(pid int, sig syscall.Signal) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<(uint(sig)-1)) != 0
		}
	}
	return false
}

// leftovers lists the processes that still name the run's folder in their
// command line: the control plane, carve's binaries and the launcher all do.
func (r *localRun) leftovers() []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, []byte(r.dir)) {
			continue
		}
		found = append(found, fmt.Sprintf("%d: %s", pid, bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte(" "))))
	}
	return found
}

// addNodes makes n more nodes in pool, as the cluster-autoscaler does when
// pods are unschedulable: through carve-cloudprovider's externalgrpc API.
// When run.sh started a real autoscaler, that is its job and nothing is
// called here.
func (r *localRun) addNodes(t *testing.T, pool string, n int32) {
	t.Helper()
	if r.autoscaler {
		t.Logf("cluster-autoscaler runs: leaving the scale-up of %s to it", pool)
		return
	}
	conn, err := grpc.NewClient(r.providerAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cp := externalgrpc.NewCloudProviderClient(conn)
	if _, err := cp.NodeGroupIncreaseSize(ctx, &externalgrpc.NodeGroupIncreaseSizeRequest{Id: pool, Delta: n}); err != nil {
		t.Fatalf("NodeGroupIncreaseSize(%s, %d) on carve-cloudprovider: %v", pool, n, err)
	}
	t.Logf("NodeGroupIncreaseSize(%s, %d): done", pool, n)
}

// dumpLogs prints run.sh's output and the end of every component's log.
func (r *localRun) dumpLogs(t *testing.T) {
	t.Logf("hack/run.sh output:\n%s", r.output())
	logs, _ := filepath.Glob(filepath.Join(r.dir, "*.log"))
	more, _ := filepath.Glob(filepath.Join(r.dir, "cluster", "*.log"))
	logs = append(logs, more...)
	more, _ = filepath.Glob(filepath.Join(r.dir, "cluster", "logs", "*.log"))
	logs = append(logs, more...)
	for _, path := range logs {
		t.Logf("last lines of %s:\n%s", path, tail(path, 60))
	}
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
