package scheduler

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/tools/cache"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/cli/globalflag"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/component-base/featuregate"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/component-base/term"
	"k8s.io/component-base/version/verflag"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	schedulerserverconfig "k8s.io/kubernetes/cmd/kube-scheduler/app/config"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	kubescheduler "k8s.io/kubernetes/pkg/scheduler"

	"github.com/carve-dev/carve/pkg/scheduler/leader"
)

// NewCommand is carve-scheduler's command: kube-scheduler's flags and
// configuration, carve's plugins, and kube-scheduler's own Setup and Run.
// It is built here rather than taken from app.NewSchedulerCommand for one
// step between the two: telling carve's plugins whether this process
// elects a leader (see Run).
func NewCommand() *cobra.Command {
	opts := options.NewOptions()
	cmd := &cobra.Command{
		Use: "carve-scheduler",
		Long: `carve-scheduler is kube-scheduler with carve's plugins: WorkspaceQueue holds
workspace pods that do not fit their quotas before the scheduling queue and
orders the rest fairly, and BinPack packs pods so that nodes empty out. It
takes kube-scheduler's flags and a KubeSchedulerConfiguration.`,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			// Feature gates are set before RunE reads them.
			return opts.ComponentGlobalsRegistry.Set()
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return runCommand(cmd, opts) },
		Args: cobra.NoArgs,
	}
	nfs := opts.Flags
	verflag.AddFlags(nfs.FlagSet("global"))
	globalflag.AddGlobalFlags(nfs.FlagSet("global"), cmd.Name(), logs.SkipLoggingConfigurationFlags())
	for _, f := range nfs.FlagSets {
		cmd.Flags().AddFlagSet(f)
	}
	cols, _, _ := term.TerminalSize(cmd.OutOrStdout())
	cliflag.SetUsageAndHelpFunc(cmd, *nfs, cols)
	return cmd
}

func runCommand(cmd *cobra.Command, opts *options.Options) error {
	verflag.PrintAndExitIfRequested()
	fg := opts.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
	if err := logsapi.ValidateAndApply(opts.Logs, fg); err != nil {
		return err
	}
	cliflag.PrintFlags(cmd.Flags())
	if opts.InformerName == nil {
		name, err := cache.NewInformerName("carve-scheduler")
		if err != nil {
			return err
		}
		opts.InformerName = name
	}
	ctx := server.SetupSignalContext()
	cc, sched, err := app.Setup(ctx, opts, Plugins()...)
	if err != nil {
		return err
	}
	if mfg, ok := fg.(featuregate.MutableFeatureGate); ok {
		mfg.AddMetrics()
	}
	opts.ComponentGlobalsRegistry.AddMetrics()
	return Run(ctx, cc, sched)
}

// Run runs a scheduler that app.Setup made with carve's plugins, after
// telling them whether leader election decides who schedules: until then
// they write nothing to pods (package leader).
func Run(ctx context.Context, cc *schedulerserverconfig.CompletedConfig, sched *kubescheduler.Scheduler) error {
	leader.Elect(cc.LeaderElection != nil)
	if err := app.Run(ctx, cc, sched); err != nil {
		return fmt.Errorf("running carve-scheduler: %w", err)
	}
	return nil
}
