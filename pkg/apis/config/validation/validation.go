// Package validation checks carve's scheduler plugin args. The plugins call
// these from New, so a bad config stops the scheduler at start with a
// message that names the field.
package validation

import (
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/apis/config"
)

// WorkloadKinds are the keys BinPackArgs.Lifetimes accepts:
// carvev1.SchedulingKinds.
var WorkloadKinds = func() sets.Set[string] {
	s := sets.New[string]()
	for _, k := range carvev1.SchedulingKinds {
		s.Insert(string(k))
	}
	return s
}()

// ValidateWorkspaceQueueArgs checks WorkspaceQueue's args.
func ValidateWorkspaceQueueArgs(path *field.Path, args *config.WorkspaceQueueArgs) error {
	var errs field.ErrorList
	if args.StatusUpdateInterval.Duration < 0 {
		errs = append(errs, field.Invalid(path.Child("statusUpdateInterval"), args.StatusUpdateInterval.Duration.String(), "must not be negative"))
	}
	if args.StatusUpdatesPerSecond <= 0 {
		errs = append(errs, field.Invalid(path.Child("statusUpdatesPerSecond"), args.StatusUpdatesPerSecond, "must be positive"))
	}
	if args.StartupSyncTimeout.Duration <= 0 {
		errs = append(errs, field.Invalid(path.Child("startupSyncTimeout"), args.StartupSyncTimeout.Duration.String(), "must be positive"))
	}
	if args.MeteringInterval.Duration < time.Second {
		errs = append(errs, field.Invalid(path.Child("meteringInterval"), args.MeteringInterval.Duration.String(), "must be at least 1s (checkpoints are whole seconds)"))
	}
	return errs.ToAggregate()
}

// ValidateBinPackArgs checks BinPack's args.
func ValidateBinPackArgs(path *field.Path, args *config.BinPackArgs) error {
	var errs field.ErrorList
	if args.LifetimeWeight < 0 || args.LifetimeWeight > 100 {
		errs = append(errs, field.Invalid(path.Child("lifetimeWeight"), args.LifetimeWeight, "must be between 0 and 100 (percent of the score)"))
	}
	for i, r := range args.GPUResources {
		if r == "" {
			errs = append(errs, field.Required(path.Child("gpuResources").Index(i), "must name an extended resource such as nvidia.com/gpu"))
		}
	}
	for kind, d := range args.Lifetimes {
		p := path.Child("lifetimes").Key(kind)
		if !WorkloadKinds.Has(kind) {
			errs = append(errs, field.NotSupported(p, kind, sets.List(WorkloadKinds)))
		}
		if d.Duration <= 0 {
			errs = append(errs, field.Invalid(p, d.Duration.String(), "must be positive"))
		}
	}
	for kind := range WorkloadKinds {
		if _, ok := args.Lifetimes[kind]; !ok {
			errs = append(errs, field.Required(path.Child("lifetimes").Key(kind), "every workload kind needs an expected lifetime"))
		}
	}
	if args.DrainingTaintKey == "" {
		errs = append(errs, field.Required(path.Child("drainingTaintKey"), "the taint key that marks draining nodes"))
	}
	return errs.ToAggregate()
}
