package framework

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Process is one of carve's binaries (or any other) that a test runs as a
// child process, its output in a log file.
type Process struct{ p *process }

// StartProcess runs bin with args, with this process's environment plus
// env; its output goes to logDir/<name>.log (appended, so a restarted
// binary keeps one log).
func StartProcess(name, bin string, args, env []string, logDir string) (*Process, error) {
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	p, err := startProcess(name, bin, args, append(os.Environ(), env...), logDir, nil)
	if err != nil {
		return nil, err
	}
	return &Process{p: p}, nil
}

// Stop sends SIGTERM and waits up to grace before SIGKILL.
func (p *Process) Stop(grace time.Duration) error { return p.p.stop(grace) }

// Exited describes how the process ended, or is nil while it runs.
func (p *Process) Exited() error { return p.p.exitErr() }

// LogPath is the process's log file.
func (p *Process) LogPath() string { return p.p.logPath }

// Tail is the last n lines of the process's log.
func (p *Process) Tail(n int) string { return p.p.tail(n) }

// BuildBinaries builds the main packages pkgs (import paths relative to the
// repository, e.g. "./cmd/carve-controller") into dir, with the Go build
// cache doing the work after the first time; it returns the binaries' paths
// by base name.
func BuildBinaries(ctx context.Context, dir string, pkgs ...string) (map[string]string, error) {
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %v: %v\n%s", pkgs, err, out)
	}
	bins := map[string]string{}
	for _, p := range pkgs {
		bins[filepath.Base(p)] = filepath.Join(dir, filepath.Base(p))
	}
	return bins, nil
}
