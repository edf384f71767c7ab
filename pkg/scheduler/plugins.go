package scheduler

import (
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	// Registers WorkspaceQueueArgs and BinPackArgs with kube-scheduler's
	// config scheme, so their args are decoded, defaulted and converted.
	_ "github.com/carve-dev/carve/pkg/apis/config/scheme"
	"github.com/carve-dev/carve/pkg/scheduler/binpack"
	"github.com/carve-dev/carve/pkg/scheduler/workspacequeue"
)

// Plugins registers carve's plugins with kube-scheduler.
func Plugins() []app.Option {
	return []app.Option{
		app.WithPlugin(workspacequeue.Name, workspacequeue.New),
		app.WithPlugin(binpack.Name, binpack.New),
	}
}
