// Package version owns what carve's binaries say about themselves: the
// version, source revision and build date that `make build` and
// `make images` stamp with -ldflags -X, and the --version flag that
// prints them.
//
// The stamped variables are
//
//	github.com/carve-dev/carve/pkg/version.version    e.g. v0.1.0
//	github.com/carve-dev/carve/pkg/version.revision   the commit, git rev-parse HEAD
//	github.com/carve-dev/carve/pkg/version.buildDate  RFC 3339, UTC
//
// A binary built without them (go build, go test, go install) still says
// something useful: the module version the go command recorded, or
// v0.0.0-dev, and the VCS revision from its build info when there is one.
package version
