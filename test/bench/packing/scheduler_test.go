package packing

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRenderConfig(t *testing.T) {
	for _, tc := range []struct {
		name     string
		config   string
		want     map[string]any
		wantName string
	}{
		{
			name:   "stock default",
			config: defaultConfig,
			want: map[string]any{
				"apiVersion":               "kubescheduler.config.k8s.io/v1",
				"kind":                     "KubeSchedulerConfiguration",
				"clientConnection":         map[string]any{"kubeconfig": "/k", "qps": 500.0, "burst": 1000.0},
				"leaderElection":           map[string]any{"leaderElect": false},
				"percentageOfNodesToScore": 100.0,
				"profiles":                 []any{map[string]any{"schedulerName": "default-scheduler"}},
			},
			wantName: "default-scheduler",
		},
		{
			// The harness owns the connection and leader election, and
			// keeps everything else, including a percentage that is set.
			name: "shipped configuration",
			config: `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {contentType: application/json}
leaderElection: {leaderElect: true, resourceNamespace: kube-system}
percentageOfNodesToScore: 50
profiles:
- schedulerName: carve-scheduler
  plugins: {score: {enabled: [{name: BinPack}]}}
- schedulerName: other
`,
			want: map[string]any{
				"apiVersion":               "kubescheduler.config.k8s.io/v1",
				"kind":                     "KubeSchedulerConfiguration",
				"clientConnection":         map[string]any{"contentType": "application/json", "kubeconfig": "/k", "qps": 500.0, "burst": 1000.0},
				"leaderElection":           map[string]any{"leaderElect": false},
				"percentageOfNodesToScore": 50.0,
				"profiles": []any{
					map[string]any{"schedulerName": "carve-scheduler", "plugins": map[string]any{"score": map[string]any{"enabled": []any{map[string]any{"name": "BinPack"}}}}},
					map[string]any{"schedulerName": "other"},
				},
			},
			wantName: "carve-scheduler",
		},
		{
			name:   "no profiles: kube-scheduler's default profile",
			config: "kind: KubeSchedulerConfiguration\napiVersion: kubescheduler.config.k8s.io/v1\n",
			want: map[string]any{
				"apiVersion":               "kubescheduler.config.k8s.io/v1",
				"kind":                     "KubeSchedulerConfiguration",
				"clientConnection":         map[string]any{"kubeconfig": "/k", "qps": 500.0, "burst": 1000.0},
				"leaderElection":           map[string]any{"leaderElect": false},
				"percentageOfNodesToScore": 100.0,
			},
			wantName: "default-scheduler",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, name, err := renderConfig([]byte(tc.config), "/k")
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("renderConfig (-want +got):\n%s", diff)
			}
			if name != tc.wantName {
				t.Errorf("scheduler name %q, want %q", name, tc.wantName)
			}
		})
	}
}

func TestRenderConfigRefusesOtherKinds(t *testing.T) {
	for _, cfg := range []string{"", "kind: Pod\n", "{not yaml"} {
		if _, _, err := renderConfig([]byte(cfg), "/k"); err == nil || !strings.Contains(err.Error(), "configuration") {
			t.Errorf("renderConfig(%q) = %v, want an error about the configuration", cfg, err)
		}
	}
}
