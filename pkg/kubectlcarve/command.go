package kubectlcarve

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/version"
)

// Options are what NewCommand prints to and how.
type Options struct {
	genericiooptions.IOStreams
	// FormatAge prints how long ago a time was; nil prints kubectl's ages
	// (5s, 3m2s, 4h). Golden tests replace it, as ages change every run.
	FormatAge func(time.Time) string
}

// NewCommand is `kubectl carve` with its subcommands. The kubeconfig flags
// are kubectl's own (--kubeconfig, --context, -n/--namespace, --as, ...).
func NewCommand(o Options) *cobra.Command {
	e := &env{flags: genericclioptions.NewConfigFlags(true), streams: o.IOStreams, age: o.FormatAge}
	if e.age == nil {
		e.age = kubectlAge(time.Now)
	}
	root := &cobra.Command{
		Use:   "kubectl-carve",
		Short: "Ask carve why a pod waits, what each workspace uses, and what you may run",
		Long: `kubectl carve answers questions about carve's workspaces, quotas and node pools.

  kubectl carve status            what each workspace, team and project holds of its quota and spent this month; budgets; node pools and their cost
  kubectl carve cost              what each workspace, team, project, profile or kind used and cost this month, or --since a day
  kubectl carve queue             the pods waiting for quota or a spent budget, in admission order
  kubectl carve why POD           why a pod (or a deployment's, job's or statefulset's pods) does not run
  kubectl carve profiles          the profiles pods of this namespace may pick`,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl carve"},
		Version:       version.Get().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("kubectl-carve {{.Version}}\n")
	root.SetOut(o.Out)
	root.SetErr(o.ErrOut)
	root.SetIn(o.In)
	e.flags.AddFlags(root.PersistentFlags())
	root.AddCommand(newStatusCommand(e), newCostCommand(e), newQueueCommand(e), newWhyCommand(e), newProfilesCommand(e))
	return root
}

// env is what every subcommand shares: the kubeconfig flags and streams.
type env struct {
	flags   *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
	age     ageFunc
}

// scheme has only the kinds the plugin reads, to keep the binary small.
func scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, carvev1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// client is a direct (uncached) client for the kubeconfig the flags name.
func (e *env) client() (client.Client, error) {
	cfg, err := e.flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	s, err := scheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	return c, nil
}

// namespace is -n, else the kubeconfig context's namespace, else default.
func (e *env) namespace() (string, error) {
	ns, _, err := e.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	return ns, nil
}
