package framework

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one control-plane binary running as a child of this process.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	logFile *os.File

	done    chan struct{} // closed once the process has exited
	waitErr error         // how it exited; read only after done is closed
}

// startProcess runs bin with args and env (nil: this process's environment),
// its output going to logDir/<name>.log and, prefixed with the name, to logs
// (if not nil).
//
// The process is deliberately not tied to a context: callers pass Start a
// context that bounds the start-up, and cancelling it later must not kill a
// cluster that a test is still using. Only (*process).stop ends it.
func startProcess(name, bin string, args, env []string, logDir string, logs io.Writer) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening log of %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if logs != nil {
		w := io.MultiWriter(logFile, &prefixWriter{prefix: "[" + name + "] ", w: logs})
		cmd.Stdout, cmd.Stderr = w, w
	}
	cmd.SysProcAttr = sysProcAttr()
	// Wait must not hang on the output copier if the child leaves something
	// holding its pipe; the process itself is gone by then.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, logFile: logFile, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exitErr returns a description of how the process ended, or nil while it
// still runs.
func (p *process) exitErr() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited unexpectedly (%v); last lines of %s:\n%s", p.name, p.waitErr, p.logPath, p.tail(30))
	default:
		return nil
	}
}

// stop sends SIGTERM and, if the process has not exited after grace, SIGKILL.
// A kube-apiserver with watchers still connected takes about a minute to
// drain on SIGTERM; nothing in a local cluster is worth that wait.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sending SIGTERM to %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// tail returns the last n lines of the process's log.
func (p *process) tail(n int) string {
	return tailFile(p.logPath, n)
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// prefixWriter writes whole lines to w, each starting with prefix, so that the
// output of several processes sharing one writer stays readable.
type prefixWriter struct {
	prefix string
	w      io.Writer

	mu  sync.Mutex
	buf bytes.Buffer
}

func (pw *prefixWriter) Write(b []byte) (int, error) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pw.buf.Write(b)
	r := bufio.NewReader(&pw.buf)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			// Keep the unterminated rest for the next write.
			pw.buf.Reset()
			pw.buf.Write(line)
			return len(b), nil
		}
		if _, err := fmt.Fprintf(pw.w, "%s%s", pw.prefix, line); err != nil {
			return len(b), err
		}
	}
}
