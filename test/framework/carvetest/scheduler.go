package carvetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/component-base/configz"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	"sigs.k8s.io/yaml"

	"github.com/carve-dev/carve/pkg/scheduler"
	"github.com/carve-dev/carve/test/framework"
)

// ShippedSchedulerConfig reads manifests/scheduler/config.yaml.
func ShippedSchedulerConfig() ([]byte, error) {
	return os.ReadFile(filepath.Join(framework.RepoRoot(), "manifests", "scheduler", "config.yaml"))
}

// StartScheduler runs carve-scheduler in-process the way its binary does
// (kube-scheduler's Setup and Run with carve's plugins), reading config (a
// KubeSchedulerConfiguration) with its client pointed at kubeconfig, leader
// election off and no serving port. edit, when not nil, may change the
// decoded config first; extra registers more plugins (a test's own). The
// scheduler runs until stop is called; stop returns once it has ended.
func StartScheduler(ctx context.Context, dir, kubeconfig string, config []byte, edit func(map[string]any), extra ...app.Option) (stop func(), err error) {
	var cfg map[string]any
	if err := yaml.Unmarshal(config, &cfg); err != nil {
		return nil, fmt.Errorf("reading scheduler config: %w", err)
	}
	cfg["clientConnection"] = map[string]any{"kubeconfig": kubeconfig, "qps": 200, "burst": 400}
	cfg["leaderElection"] = map[string]any{"leaderElect": false}
	if edit != nil {
		edit(cfg)
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "carve-scheduler.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	// kube-scheduler registers its config under a process-wide name; a
	// second scheduler in the same process (a restart in a test) needs it
	// free.
	configz.Delete("componentconfig")
	opts := options.NewOptions()
	opts.ConfigFile = path
	opts.SecureServing.BindPort = 0
	ctx, cancel := context.WithCancel(ctx)
	cc, sched, err := app.Setup(ctx, opts, append(scheduler.Plugins(), extra...)...)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("setting up carve-scheduler: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := scheduler.Run(ctx, cc, sched); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "carve-scheduler ended early")
		}
	}()
	return func() { cancel(); <-done }, nil
}
