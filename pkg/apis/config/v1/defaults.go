package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// Defaults of the plugin args, exported so that docs and tests quote them.
const (
	DefaultStatusUpdateInterval   = 10 * time.Second
	DefaultStatusUpdatesPerSecond = 20
	DefaultStartupSyncTimeout     = 2 * time.Minute
	DefaultMeteringInterval       = 30 * time.Second
	DefaultLifetimeWeight         = 20
	DefaultDrainingTaintKey       = "carve.dev/draining"
)

// DefaultLifetimes are the expected lifetimes of the workload kinds: model
// endpoints stay for days, sessions for hours, jobs for minutes.
var DefaultLifetimes = map[string]time.Duration{
	string(carvev1.WorkloadSession): 4 * time.Hour,
	string(carvev1.WorkloadJob):     30 * time.Minute,
	string(carvev1.WorkloadModel):   7 * 24 * time.Hour,
	string(carvev1.WorkloadOther):   7 * 24 * time.Hour,
}

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	scheme.AddTypeDefaultingFunc(&WorkspaceQueueArgs{}, func(obj any) { SetDefaultsWorkspaceQueueArgs(obj.(*WorkspaceQueueArgs)) })
	scheme.AddTypeDefaultingFunc(&BinPackArgs{}, func(obj any) { SetDefaultsBinPackArgs(obj.(*BinPackArgs)) })
	return nil
}

// SetDefaultsWorkspaceQueueArgs fills the omitted fields of args.
func SetDefaultsWorkspaceQueueArgs(args *WorkspaceQueueArgs) {
	if args.StatusUpdateInterval == nil {
		args.StatusUpdateInterval = &metav1.Duration{Duration: DefaultStatusUpdateInterval}
	}
	if args.StatusUpdatesPerSecond == nil {
		args.StatusUpdatesPerSecond = ptr.To[int32](DefaultStatusUpdatesPerSecond)
	}
	if args.StartupSyncTimeout == nil {
		args.StartupSyncTimeout = &metav1.Duration{Duration: DefaultStartupSyncTimeout}
	}
	if args.MeteringInterval == nil {
		args.MeteringInterval = &metav1.Duration{Duration: DefaultMeteringInterval}
	}
}

// SetDefaultsBinPackArgs fills the omitted fields of args. Lifetimes are
// defaulted per kind, so a config naming only "job" keeps the others.
func SetDefaultsBinPackArgs(args *BinPackArgs) {
	if args.LifetimeWeight == nil {
		args.LifetimeWeight = ptr.To[int32](DefaultLifetimeWeight)
	}
	if args.Lifetimes == nil {
		args.Lifetimes = map[string]metav1.Duration{}
	}
	for kind, d := range DefaultLifetimes {
		if _, ok := args.Lifetimes[kind]; !ok {
			args.Lifetimes[kind] = metav1.Duration{Duration: d}
		}
	}
	if args.DrainingTaintKey == nil {
		args.DrainingTaintKey = ptr.To(DefaultDrainingTaintKey)
	}
}
