package kubectlcarve

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func TestVersionAndFlags(t *testing.T) {
	var out bytes.Buffer
	cmd := NewCommand(Options{IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out}})
	cmd.SetArgs([]string{"--version"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "kubectl-carve v") {
		t.Errorf("--version printed %q", out.String())
	}
	// kubectl's kubeconfig flags, on every command.
	for _, sub := range []string{"status", "cost", "queue", "why", "profiles"} {
		c, _, err := cmd.Find([]string{sub})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"kubeconfig", "context", "namespace", "output"} {
			if c.Flag(f) == nil {
				t.Errorf("%s has no --%s", sub, f)
			}
		}
	}
	if c, _, _ := cmd.Find([]string{"queue"}); c.Flag("all-namespaces") == nil || c.Flag("all-namespaces").Shorthand != "A" {
		t.Error("queue has no -A")
	}
	for _, args := range [][]string{{"status", "-o", "wide"}, {"why"}, {"status", "extra"}, {"cost", "--by", "namespace"}, {"cost", "--team", "t", "--by", "kind"}, {"cost", "--since", "30d"}} {
		c := NewCommand(Options{IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out}})
		c.SetArgs(append([]string{"--kubeconfig", "/nonexistent"}, args...))
		if err := c.Execute(); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
