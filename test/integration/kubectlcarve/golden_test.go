package kubectlcarve_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/carve-dev/carve/pkg/kubectlcarve"
	"github.com/carve-dev/carve/test/framework"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata with what the commands print")

// timestamps in -o json|yaml output change every run.
var timestamps = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z`)

// carve runs `kubectl carve args...` in-process against the test cluster,
// as kubectl would run the plugin, with ages printed as <age>.
func carve(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := kubectlcarve.NewCommand(kubectlcarve.Options{
		IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		FormatAge: func(time.Time) string { return "<age>" },
	})
	cmd.SetArgs(append([]string{"--kubeconfig", cluster.Kubeconfig}, args...))
	err := cmd.ExecuteContext(t.Context())
	if errOut.Len() > 0 {
		t.Logf("stderr of kubectl carve %s:\n%s", strings.Join(args, " "), errOut.String())
	}
	return timestamps.ReplaceAllString(out.String(), "<time>"), err
}

// golden compares what `kubectl carve args...` prints with
// testdata/<name>.golden, whose first line is the command.
func golden(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := carve(t, args...)
	if err != nil {
		t.Fatalf("kubectl carve %s: %v", strings.Join(args, " "), err)
	}
	got := "$ kubectl carve " + strings.Join(args, " ") + "\n" + out
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s (go test -update writes it): %v", path, err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("kubectl carve %s differs from %s (-want +got):\n%s", strings.Join(args, " "), path, diff)
	}
}

func TestStatus(t *testing.T) {
	golden(t, "status", "status")
	golden(t, "status-projects", "status", "-w", "ml-team", "--projects")
	golden(t, "status-json", "status", "-o", "json")
}

func TestQueue(t *testing.T) {
	golden(t, "queue-workspace", "queue", "-w", "ml-team")
	golden(t, "queue-namespace", "queue", "-n", "ml-alice")
	golden(t, "queue-all", "queue", "-A")
	golden(t, "queue-empty", "queue", "-n", "ml-bob")
	golden(t, "queue-yaml", "queue", "-n", "ml-alice", "-o", "yaml")
}

func TestWhy(t *testing.T) {
	// (a) The Deployment's pods are refused by carve's webhook: by kind and
	// name, and by its bare name (no pod starts with it).
	golden(t, "why-denied", "why", "deployment/web", "-n", "ml-bob")
	golden(t, "why-denied-name", "why", "web", "-n", "ml-bob")
	// (b) Waiting for quota, second in the queue.
	golden(t, "why-waiting", "why", "nb-4", "-n", "ml-alice")
	golden(t, "why-waiting-first", "why", "nb-3", "-n", "ml-alice")
	golden(t, "why-waiting-json", "why", "nb-4", "-n", "ml-alice", "-o", "json")
	// (c) Admitted, no node fits: the pool scales up, or is at its max.
	golden(t, "why-unschedulable-scaling", "why", "train", "-n", "ml-bob")
	golden(t, "why-unschedulable-max", "why", "pod/wide", "-n", "ml-bob")
	// (d) Running.
	golden(t, "why-running", "why", "nb-1", "-n", "ml-alice")
	// (e) Not carve's.
	golden(t, "why-not-managed", "why", "hello", "-n", "plain")
	// A prefix names every pod that starts with it.
	golden(t, "why-prefix", "why", "nb-", "-n", "ml-alice")
}

func TestWhyErrors(t *testing.T) {
	for _, args := range [][]string{
		{"why", "nope", "-n", "ml-alice"},
		{"why", "pod/nope", "-n", "ml-alice"},
		{"why", "deployment/nope", "-n", "ml-alice"},
		{"why", "service/web", "-n", "ml-alice"},
	} {
		if out, err := carve(t, args...); err == nil {
			t.Errorf("kubectl carve %s: no error, printed\n%s", strings.Join(args, " "), out)
		}
	}
}

func TestProfiles(t *testing.T) {
	golden(t, "profiles", "profiles", "-n", "ml-alice")
	golden(t, "profiles-json", "profiles", "-n", "ml-bob", "-o", "json")
	golden(t, "profiles-no-workspace", "profiles", "-n", "plain")
}

// TestDocsShowGoldens: docs/kubectl-carve.md shows these outputs as the
// tests print them, so the docs change when the output does.
func TestDocsShowGoldens(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(framework.RepoRoot(), "docs", "kubectl-carve.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"status", "status-projects", "queue-workspace", "why-denied", "why-waiting",
		"why-unschedulable-scaling", "why-unschedulable-max", "why-running", "why-not-managed", "profiles"} {
		g, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), "```\n"+string(g)+"```\n") {
			t.Errorf("docs/kubectl-carve.md does not show testdata/%s.golden as it is", name)
		}
	}
}
