package validation

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/carve-dev/carve/pkg/apis/config"
	configv1 "github.com/carve-dev/carve/pkg/apis/config/v1"
)

func validBinPack() *config.BinPackArgs {
	in := &configv1.BinPackArgs{}
	configv1.SetDefaultsBinPackArgs(in)
	out := &config.BinPackArgs{}
	configv1.ConvertBinPackArgsToConfig(in, out)
	return out
}

func validQueue() *config.WorkspaceQueueArgs {
	in := &configv1.WorkspaceQueueArgs{}
	configv1.SetDefaultsWorkspaceQueueArgs(in)
	out := &config.WorkspaceQueueArgs{}
	configv1.ConvertWorkspaceQueueArgsToConfig(in, out)
	return out
}

func TestValidateBinPackArgs(t *testing.T) {
	cases := []struct {
		name   string
		modify func(*config.BinPackArgs)
		want   string // substring of the error; empty means valid
	}{
		{"defaults", func(*config.BinPackArgs) {}, ""},
		{"weight above 100", func(a *config.BinPackArgs) { a.LifetimeWeight = 101 }, "args.lifetimeWeight"},
		{"negative weight", func(a *config.BinPackArgs) { a.LifetimeWeight = -1 }, "between 0 and 100"},
		{"unknown kind", func(a *config.BinPackArgs) { a.Lifetimes["batch"] = metav1.Duration{Duration: time.Hour} }, `args.lifetimes[batch]: Unsupported value`},
		{"zero lifetime", func(a *config.BinPackArgs) { a.Lifetimes["job"] = metav1.Duration{} }, "args.lifetimes[job]"},
		{"missing kind", func(a *config.BinPackArgs) { delete(a.Lifetimes, "model") }, "args.lifetimes[model]: Required"},
		{"empty GPU resource", func(a *config.BinPackArgs) { a.GPUResources = []corev1.ResourceName{""} }, "args.gpuResources[0]"},
		{"no draining taint", func(a *config.BinPackArgs) { a.DrainingTaintKey = "" }, "args.drainingTaintKey"},
	}
	for _, tc := range cases {
		a := validBinPack()
		tc.modify(a)
		checkErr(t, tc.name, ValidateBinPackArgs(field.NewPath("args"), a), tc.want)
	}
}

func TestValidateWorkspaceQueueArgs(t *testing.T) {
	cases := []struct {
		name   string
		modify func(*config.WorkspaceQueueArgs)
		want   string
	}{
		{"defaults", func(*config.WorkspaceQueueArgs) {}, ""},
		{"no writes allowed", func(a *config.WorkspaceQueueArgs) { a.StatusUpdatesPerSecond = 0 }, "args.statusUpdatesPerSecond"},
		{"negative interval", func(a *config.WorkspaceQueueArgs) { a.StatusUpdateInterval.Duration = -time.Second }, "args.statusUpdateInterval"},
		{"no startup time", func(a *config.WorkspaceQueueArgs) { a.StartupSyncTimeout.Duration = 0 }, "args.startupSyncTimeout"},
	}
	for _, tc := range cases {
		a := validQueue()
		tc.modify(a)
		checkErr(t, tc.name, ValidateWorkspaceQueueArgs(field.NewPath("args"), a), tc.want)
	}
}

func checkErr(t *testing.T, name string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: unexpected error %v", name, err)
	case want != "" && err == nil:
		t.Errorf("%s: no error, want one with %q", name, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s: error %q does not contain %q", name, err, want)
	}
}
