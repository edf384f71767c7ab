package scheduler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"

	"k8s.io/component-base/configz"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	"sigs.k8s.io/yaml"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	carvescheduler "github.com/carve-dev/carve/pkg/scheduler"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/test/framework/carvetest"
)

// schedulerCase is one scheduler under test and the Workspace its pods
// belong to.
type schedulerCase struct {
	// name is the value of the /scheduler key in benchmark names.
	name string
	// schedulerName is the profile the pods name.
	schedulerName string
	// config is the KubeSchedulerConfiguration; the harness owns
	// clientConnection, leaderElection and parallelism (see startScheduler).
	config func() ([]byte, error)
	// plugins are the out-of-tree plugins registered, as a binary's main does.
	plugins []app.Option
	// workspace is created in every cluster of this case. Every case's pods
	// carry its labels; only WorkspaceQueue reads them.
	workspace *carvev1.Workspace
}

const workspaceName = "bench"

// stockConfig is kube-scheduler's default profile, nothing changed.
const stockConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
`

// stockNoSpreadConfig is the default profile with PodTopologySpread's
// default constraints off, exactly as manifests/scheduler/config.yaml sets it.
const stockNoSpreadConfig = stockConfig + `  pluginConfig:
  - name: PodTopologySpread
    args:
      apiVersion: kubescheduler.config.k8s.io/v1
      kind: PodTopologySpreadArgs
      defaultingType: List
`

// cases are the schedulers compared, stock first: benchstat compares every
// column with the first.
func cases() []schedulerCase {
	shipped := carvetest.ShippedSchedulerConfig
	return []schedulerCase{{
		name:          "stock",
		schedulerName: "default-scheduler",
		config:        func() ([]byte, error) { return []byte(stockConfig), nil },
		workspace:     ut.MakeWorkspace(workspaceName, "small").Obj(),
	}, {
		// The Workspace has no quota: WorkspaceQueue admits every pod, but
		// still tracks it, orders the queue and reserves.
		name:          "carve",
		schedulerName: carvev1.SchedulerName,
		config:        shipped,
		plugins:       carvescheduler.Plugins(),
		workspace:     ut.MakeWorkspace(workspaceName, "small").Obj(),
	}, {
		// A quota on every resource that the run never reaches: each pod is
		// checked against it, and the fair-share order compares shares.
		name:          "carve-quota",
		schedulerName: carvev1.SchedulerName,
		config:        shipped,
		plugins:       carvescheduler.Plugins(),
		workspace:     ut.MakeWorkspace(workspaceName, "small").Quota("1000000", "4000Ti", "1000", 1000000).Obj(),
	}, {
		// The stock scheduler without its default topology spreading, as
		// carve's configuration has it: kube-scheduler batches pods only
		// when no plugin has default constraints (see docs/benchmarks.md).
		// Against carve, it shows what carve's plugins cost when both
		// schedulers can batch.
		name:          "stock-nospread",
		schedulerName: "default-scheduler",
		config:        func() ([]byte, error) { return []byte(stockNoSpreadConfig), nil },
		workspace:     ut.MakeWorkspace(workspaceName, "small").Obj(),
	}}
}

// Client settings both schedulers get: scheduler_perf's QPS and burst, so
// that the client's rate limit never decides the binding rate, and
// kube-scheduler's default parallelism written out.
const (
	schedulerQPS         = 5000
	schedulerBurst       = 5000
	schedulerParallelism = 16
)

// startScheduler runs a scheduler in this process the way its binary does
// (kube-scheduler's Setup and Run, as carvetest.StartScheduler does for
// carve), with the harness's client settings, leader election off and no
// serving port. Every goroutine it starts carries the pprof label
// scheduler=<case>, so a CPU profile of a run that holds several schedulers
// can be split with `go tool pprof -tagfocus scheduler=carve`. stop returns
// once the scheduler has ended.
func startScheduler(ctx context.Context, sc schedulerCase, dir, kubeconfig string) (stop func(), err error) {
	raw, err := sc.config()
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("reading the %s scheduler's config: %w", sc.name, err)
	}
	cfg["clientConnection"] = map[string]any{"kubeconfig": kubeconfig, "qps": schedulerQPS, "burst": schedulerBurst}
	cfg["leaderElection"] = map[string]any{"leaderElect": false}
	cfg["parallelism"] = schedulerParallelism
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "scheduler-"+sc.name+".yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	// kube-scheduler registers its config under a process-wide name; the
	// previous run's scheduler is gone, so the name is free again.
	configz.Delete("componentconfig")
	opts := options.NewOptions()
	opts.ConfigFile = path
	opts.SecureServing.BindPort = 0

	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	pprof.Do(ctx, pprof.Labels("scheduler", sc.name), func(ctx context.Context) {
		cc, sched, setupErr := app.Setup(ctx, opts, sc.plugins...)
		if setupErr != nil {
			err = fmt.Errorf("setting up the %s scheduler: %w", sc.name, setupErr)
			return
		}
		go func() {
			defer close(done)
			if err := carvescheduler.Run(ctx, cc, sched); err != nil && ctx.Err() == nil {
				klog.ErrorS(err, "Scheduler ended early", "scheduler", sc.name)
			}
		}()
	})
	if err != nil {
		cancel()
		return nil, err
	}
	return func() { cancel(); <-done }, nil
}
