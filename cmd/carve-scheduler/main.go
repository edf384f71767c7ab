// Command carve-scheduler is kube-scheduler with carve's plugins registered:
// WorkspaceQueue (quota queueing and fair order) and BinPack (packing that
// lets nodes empty out). Its configuration is a KubeSchedulerConfiguration;
// manifests/scheduler/config.yaml is the one carve ships.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	"github.com/carve-dev/carve/pkg/scheduler"
)

func main() {
	os.Exit(cli.Run(app.NewSchedulerCommand(scheduler.Plugins()...)))
}
