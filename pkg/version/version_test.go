package version

import (
	"bytes"
	"flag"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResolve(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	vcs := func(rev, time, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: time}, {Key: "vcs.modified", Value: modified}}
	}
	for _, tc := range []struct {
		name    string
		stamped Info
		bi      *debug.BuildInfo
		want    Info
	}{{
		name:    "stamped wins over build info",
		stamped: Info{Version: "v0.1.0", Revision: "abc", BuildDate: "2026-01-02T03:04:05Z"},
		bi:      &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20260101000000-111111111111"}, Settings: vcs("111", "2026-01-01T00:00:00Z", "true")},
		want:    Info{Version: "v0.1.0", Revision: "abc", BuildDate: "2026-01-02T03:04:05Z", GoVersion: "go1.26.8", Platform: platform},
	}, {
		name: "go build in a work tree with VCS stamping",
		bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("3f3c62b", "2026-12-03T13:09:00Z", "true")},
		want: Info{Version: Dev, Revision: "3f3c62b-dirty", BuildDate: "2026-12-03T13:09:00Z", GoVersion: "go1.26.8", Platform: platform},
	}, {
		name: "clean tree",
		bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Settings: vcs("3f3c62b", "2026-12-03T13:09:00Z", "false")},
		want: Info{Version: Dev, Revision: "3f3c62b", BuildDate: "2026-12-03T13:09:00Z", GoVersion: "go1.26.8", Platform: platform},
	}, {
		name: "go install at a tag",
		bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.2.0"}},
		want: Info{Version: "v0.2.0", Revision: unknown, BuildDate: unknown, GoVersion: "go1.26.8", Platform: platform},
	}, {
		name: "-buildvcs=false",
		bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
		want: Info{Version: Dev, Revision: unknown, BuildDate: unknown, GoVersion: "go1.26.8", Platform: platform},
	}, {
		name: "no build info",
		want: Info{Version: Dev, Revision: unknown, BuildDate: unknown, GoVersion: runtime.Version(), Platform: platform},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, resolve(tc.stamped, tc.bi)); diff != "" {
				t.Errorf("resolve (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFlag(t *testing.T) {
	for _, tc := range []struct {
		args              []string
		wantOut           string
		wantExit, wantLog bool
	}{
		{args: []string{"--version"}, wantOut: "carve-test " + Get().String() + "\n", wantExit: true},
		{args: []string{"-version=false"}, wantLog: true},
		{args: nil, wantLog: true},
	} {
		fs := flag.NewFlagSet("carve-test", flag.ContinueOnError)
		f := AddFlag(fs, "carve-test")
		var out bytes.Buffer
		exited, logged := false, false
		f.out = &out
		f.exit = func(code int) {
			if code != 0 {
				t.Errorf("%v: exit code %d, want 0", tc.args, code)
			}
			exited = true
		}
		f.log = func(program string, info Info) {
			if program != "carve-test" || info != Get() {
				t.Errorf("%v: logged %q %v, want carve-test %v", tc.args, program, info, Get())
			}
			logged = true
		}
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		f.Handle()
		if out.String() != tc.wantOut || exited != tc.wantExit || logged != tc.wantLog {
			t.Errorf("%v: printed %q, exited %v, logged %v; want %q, %v, %v", tc.args, out.String(), exited, logged, tc.wantOut, tc.wantExit, tc.wantLog)
		}
	}
}
