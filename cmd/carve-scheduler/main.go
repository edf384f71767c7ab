// Command carve-scheduler is kube-scheduler with carve's plugins registered:
// WorkspaceQueue (quota queueing and fair order) and BinPack (packing that
// lets nodes empty out). Its configuration is a KubeSchedulerConfiguration;
// manifests/scheduler/config.yaml is the one carve ships.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register" // the JSON log format
	// client-go's metrics, as kube-scheduler's main loads them, except
	// leader election's: package leader reports those.
	_ "k8s.io/component-base/metrics/prometheus/clientgo/fifo"
	_ "k8s.io/component-base/metrics/prometheus/restclient"
	_ "k8s.io/component-base/metrics/prometheus/version" // the version metric
	_ "k8s.io/component-base/metrics/prometheus/workqueue"

	"github.com/carve-dev/carve/pkg/scheduler"
	"github.com/carve-dev/carve/pkg/scheduler/leader"
)

func main() {
	leader.InstallMetricsProvider()
	os.Exit(cli.Run(scheduler.NewCommand()))
}
