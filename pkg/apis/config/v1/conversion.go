package v1

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/carve-dev/carve/pkg/apis/config"
)

// The conversions are written by hand: the types are small, and a reader
// sees here exactly how an omitted field reaches the plugin.
func addConversionFuncs(scheme *runtime.Scheme) error {
	for _, f := range []struct {
		a, b any
		fn   conversion.ConversionFunc
	}{
		{(*WorkspaceQueueArgs)(nil), (*config.WorkspaceQueueArgs)(nil), func(a, b any, _ conversion.Scope) error {
			ConvertWorkspaceQueueArgsToConfig(a.(*WorkspaceQueueArgs), b.(*config.WorkspaceQueueArgs))
			return nil
		}},
		{(*config.WorkspaceQueueArgs)(nil), (*WorkspaceQueueArgs)(nil), func(a, b any, _ conversion.Scope) error {
			ConvertConfigToWorkspaceQueueArgs(a.(*config.WorkspaceQueueArgs), b.(*WorkspaceQueueArgs))
			return nil
		}},
		{(*BinPackArgs)(nil), (*config.BinPackArgs)(nil), func(a, b any, _ conversion.Scope) error {
			ConvertBinPackArgsToConfig(a.(*BinPackArgs), b.(*config.BinPackArgs))
			return nil
		}},
		{(*config.BinPackArgs)(nil), (*BinPackArgs)(nil), func(a, b any, _ conversion.Scope) error {
			ConvertConfigToBinPackArgs(a.(*config.BinPackArgs), b.(*BinPackArgs))
			return nil
		}},
	} {
		if err := scheme.AddConversionFunc(f.a, f.b, f.fn); err != nil {
			return err
		}
	}
	return nil
}

// ConvertWorkspaceQueueArgsToConfig converts defaulted v1 args to the
// internal form; nil fields (not defaulted) become zero values.
func ConvertWorkspaceQueueArgsToConfig(in *WorkspaceQueueArgs, out *config.WorkspaceQueueArgs) {
	*out = config.WorkspaceQueueArgs{StatusUpdatesPerSecond: ptr.Deref(in.StatusUpdatesPerSecond, 0)}
	if in.StatusUpdateInterval != nil {
		out.StatusUpdateInterval = *in.StatusUpdateInterval
	}
	if in.StartupSyncTimeout != nil {
		out.StartupSyncTimeout = *in.StartupSyncTimeout
	}
	if in.MeteringInterval != nil {
		out.MeteringInterval = *in.MeteringInterval
	}
}

// ConvertConfigToWorkspaceQueueArgs converts internal args to v1.
func ConvertConfigToWorkspaceQueueArgs(in *config.WorkspaceQueueArgs, out *WorkspaceQueueArgs) {
	*out = WorkspaceQueueArgs{
		StatusUpdateInterval:   ptr.To(in.StatusUpdateInterval),
		StatusUpdatesPerSecond: ptr.To(in.StatusUpdatesPerSecond),
		StartupSyncTimeout:     ptr.To(in.StartupSyncTimeout),
		MeteringInterval:       ptr.To(in.MeteringInterval),
	}
}

// ConvertBinPackArgsToConfig converts defaulted v1 args to the internal
// form.
func ConvertBinPackArgsToConfig(in *BinPackArgs, out *config.BinPackArgs) {
	*out = config.BinPackArgs{
		GPUResources:     append([]corev1.ResourceName(nil), in.GPUResources...),
		LifetimeWeight:   ptr.Deref(in.LifetimeWeight, 0),
		Lifetimes:        maps.Clone(in.Lifetimes),
		DrainingTaintKey: ptr.Deref(in.DrainingTaintKey, ""),
	}
}

// ConvertConfigToBinPackArgs converts internal args to v1.
func ConvertConfigToBinPackArgs(in *config.BinPackArgs, out *BinPackArgs) {
	*out = BinPackArgs{
		GPUResources:     append([]corev1.ResourceName(nil), in.GPUResources...),
		LifetimeWeight:   ptr.To(in.LifetimeWeight),
		Lifetimes:        maps.Clone(in.Lifetimes),
		DrainingTaintKey: ptr.To(in.DrainingTaintKey),
	}
}
