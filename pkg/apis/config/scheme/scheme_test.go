package scheme_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeschedulerconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	kubeschedulerscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"

	"github.com/carve-dev/carve/pkg/apis/config"
	_ "github.com/carve-dev/carve/pkg/apis/config/scheme"
)

func decode(t *testing.T, data []byte) (*kubeschedulerconfig.KubeSchedulerConfiguration, error) {
	t.Helper()
	obj, _, err := kubeschedulerscheme.Codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		return nil, err
	}
	cfg, ok := obj.(*kubeschedulerconfig.KubeSchedulerConfiguration)
	if !ok {
		t.Fatalf("decoded %T", obj)
	}
	return cfg, nil
}

func args(t *testing.T, cfg *kubeschedulerconfig.KubeSchedulerConfiguration, plugin string) any {
	t.Helper()
	for _, pc := range cfg.Profiles[0].PluginConfig {
		if pc.Name == plugin {
			return pc.Args
		}
	}
	t.Fatalf("no pluginConfig for %s", plugin)
	return nil
}

// TestShippedConfig decodes manifests/scheduler/config.yaml as kube-scheduler
// does and checks that carve's args arrive typed, converted and complete.
func TestShippedConfig(t *testing.T) {
	data, err := os.ReadFile("../../../../manifests/scheduler/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := decode(t, data)
	if err != nil {
		t.Fatalf("decoding the shipped config: %v", err)
	}
	if got := cfg.Profiles[0].SchedulerName; got != "carve-scheduler" {
		t.Errorf("scheduler name %q", got)
	}
	wq, ok := args(t, cfg, "WorkspaceQueue").(*config.WorkspaceQueueArgs)
	if !ok {
		t.Fatalf("WorkspaceQueue args are %T", args(t, cfg, "WorkspaceQueue"))
	}
	wantWQ := config.WorkspaceQueueArgs{
		StatusUpdateInterval:   metav1.Duration{Duration: 10 * time.Second},
		StatusUpdatesPerSecond: 20,
		StartupSyncTimeout:     metav1.Duration{Duration: 2 * time.Minute},
		MeteringInterval:       metav1.Duration{Duration: 30 * time.Second},
	}
	wq.TypeMeta = metav1.TypeMeta{}
	if diff := cmp.Diff(wantWQ, *wq); diff != "" {
		t.Errorf("WorkspaceQueue args (-want +got):\n%s", diff)
	}
	bp, ok := args(t, cfg, "BinPack").(*config.BinPackArgs)
	if !ok {
		t.Fatalf("BinPack args are %T", args(t, cfg, "BinPack"))
	}
	if bp.LifetimeWeight != 20 || bp.Lifetimes["job"].Duration != 30*time.Minute || bp.DrainingTaintKey != "carve.dev/draining" || len(bp.GPUResources) != 0 {
		t.Errorf("BinPack args not as shipped and defaulted: %+v", bp)
	}
}

func TestOmittedArgsAreDefaulted(t *testing.T) {
	cfg, err := decode(t, []byte(`
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: carve-scheduler
  plugins:
    preEnqueue: {enabled: [{name: WorkspaceQueue}]}
    score: {enabled: [{name: BinPack}]}
  pluginConfig:
  - name: BinPack
    args:
      lifetimes: {job: 10m}
`))
	if err != nil {
		t.Fatal(err)
	}
	bp := args(t, cfg, "BinPack").(*config.BinPackArgs)
	if bp.Lifetimes["job"].Duration != 10*time.Minute || bp.Lifetimes["session"].Duration != 4*time.Hour || bp.LifetimeWeight != 20 {
		t.Errorf("BinPack args %+v: want job 10m kept, session 4h and weight 20 defaulted", bp)
	}
	wq, ok := args(t, cfg, "WorkspaceQueue").(*config.WorkspaceQueueArgs)
	if !ok || wq.StatusUpdatesPerSecond != 20 {
		t.Errorf("WorkspaceQueue args not defaulted: %#v", args(t, cfg, "WorkspaceQueue"))
	}
}

func TestUnknownArgFieldIsRefused(t *testing.T) {
	_, err := decode(t, []byte(`
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: carve-scheduler
  pluginConfig:
  - name: BinPack
    args:
      lifetimeWieght: 10
`))
	if err == nil || !strings.Contains(err.Error(), "lifetimeWieght") {
		t.Errorf("decoding a misspelt field: err = %v, want one naming lifetimeWieght", err)
	}
}
