package framework

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// BinDirEnv names the environment variable that points at a folder holding
// the control-plane binaries, skipping hack/control-plane-tools.sh.
const BinDirEnv = "CARVE_BIN_DIR"

// BinDir returns the folder with kube-apiserver, etcd, kwok and the other
// control-plane binaries: $CARVE_BIN_DIR if set, else the folder that
// hack/control-plane-tools.sh builds (or finds cached) and prints last. A cold
// build takes minutes; its progress goes to stderr so a waiting test does not
// look hung. The answer is computed once per process.
func BinDir() (string, error) {
	return binDirOnce()
}

var binDirOnce = sync.OnceValues(func() (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		return dir, nil
	}
	script, err := toolsScript()
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd := exec.Command(script)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("running %s: %w", script, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if dir == "" {
		return "", fmt.Errorf("%s printed no folder", script)
	}
	return dir, nil
})

// toolsScript finds hack/control-plane-tools.sh from this source file's path,
// which works for `go test` and `go run` in a checkout whatever the working
// directory. Binaries built with -trimpath lose that path; they must be given
// the folder through $CARVE_BIN_DIR or Options.BinDir.
func toolsScript() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", errors.New("cannot locate the carve checkout from this binary (built with -trimpath?); set " + BinDirEnv)
	}
	script := filepath.Join(filepath.Dir(file), "..", "..", "hack", "control-plane-tools.sh")
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("finding the control-plane tools script (or set %s): %w", BinDirEnv, err)
	}
	return script, nil
}
