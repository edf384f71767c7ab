// Command kubectl-carve is the kubectl plugin `kubectl carve` (put it on
// PATH, kubectl finds it): status, queue, why and profiles answer what
// carve's workspaces hold, who waits for quota and why a pod does not run.
// The commands live in pkg/kubectlcarve; docs/kubectl-carve.md shows them.
package main

import (
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/carve-dev/carve/pkg/kubectlcarve"
)

func main() {
	cmd := kubectlcarve.NewCommand(kubectlcarve.Options{IOStreams: genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}})
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
