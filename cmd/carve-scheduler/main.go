// Command carve-scheduler is kube-scheduler with carve's plugins registered:
// WorkspaceQueue (quota queueing and fair order) and BinPack (packing that
// lets nodes empty out). Its configuration is a KubeSchedulerConfiguration;
// manifests/scheduler/config.yaml is the one carve ships.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	// Registers WorkspaceQueueArgs and BinPackArgs with kube-scheduler's
	// config scheme, so their args are decoded, defaulted and converted.
	_ "github.com/carve-dev/carve/pkg/apis/config/scheme"
	"github.com/carve-dev/carve/pkg/scheduler/binpack"
	"github.com/carve-dev/carve/pkg/scheduler/workspacequeue"
)

func main() {
	cmd := app.NewSchedulerCommand(
		app.WithPlugin(workspacequeue.Name, workspacequeue.New),
		app.WithPlugin(binpack.Name, binpack.New),
	)
	os.Exit(cli.Run(cmd))
}
