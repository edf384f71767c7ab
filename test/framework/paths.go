package framework

import (
	"net"
	"path/filepath"
	"runtime"
)

// RepoRoot is the root of the carve checkout the framework is built from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreePorts returns n distinct loopback TCP ports that were free a moment
// ago, for a test that starts several servers at once.
func FreePorts(n int) ([]int, error) {
	return freePorts(n)
}
