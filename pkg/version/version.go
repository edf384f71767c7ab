package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by -ldflags -X (see the package doc); empty when not stamped.
var (
	version   string
	revision  string
	buildDate string
)

// Dev is the version of a build that was not stamped and whose build info
// names no module version (go build in a work tree).
const Dev = "v0.0.0-dev"

// unknown stands for a revision or build date nobody recorded.
const unknown = "unknown"

// Info is what a binary knows about its build.
type Info struct {
	// Version is carve's version, e.g. v0.1.0.
	Version string `json:"version"`
	// Revision is the source commit, with "-dirty" when the work tree had
	// uncommitted changes (when read from the build info).
	Revision string `json:"revision"`
	// BuildDate is when the source was committed or built, RFC 3339.
	BuildDate string `json:"buildDate"`
	// GoVersion and Platform are the toolchain and GOOS/GOARCH.
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// String is one line for --version and logs, e.g.
// "v0.1.0 (revision 3f3c62b..., built 2026-12-03T13:09:00Z, go1.26.8 linux/amd64)".
func (i Info) String() string {
	return fmt.Sprintf("%s (revision %s, built %s, %s %s)", i.Version, i.Revision, i.BuildDate, i.GoVersion, i.Platform)
}

// Get returns this binary's Info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(Info{Version: version, Revision: revision, BuildDate: buildDate}, bi)
}

// resolve fills what stamped lacks from the build info (nil when the
// binary has none) and falls back to Dev and "unknown".
func resolve(stamped Info, bi *debug.BuildInfo) Info {
	out := stamped
	out.GoVersion, out.Platform = runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH
	var vcsRevision, vcsTime string
	var modified bool
	if bi != nil {
		out.GoVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				vcsRevision = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if out.Version == "" {
		out.Version = Dev
		// go install m@v0.2.0 records v0.2.0; a build in a work tree
		// records "(devel)" or, since Go 1.24, a pseudo-version from VCS.
		if bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			out.Version = bi.Main.Version
		}
	}
	if out.Revision == "" {
		out.Revision = unknown
		if vcsRevision != "" {
			out.Revision = vcsRevision
			if modified {
				out.Revision += "-dirty"
			}
		}
	}
	if out.BuildDate == "" {
		out.BuildDate = unknown
		if vcsTime != "" {
			out.BuildDate = vcsTime
		}
	}
	return out
}
