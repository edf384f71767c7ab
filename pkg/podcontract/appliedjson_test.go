package podcontract_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/podcontract"
)

// TestAppliedJSON holds the hand-written carve.dev/applied record to
// json.Marshal, which wrote it before.
func TestAppliedJSON(t *testing.T) {
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("2Gi"),
		"nvidia.com/gpu": resource.MustParse("1"), "a<&>": resource.MustParse("0"), "ephemeral-storage": resource.MustParse("1e3")}
	for _, a := range []podcontract.Applied{
		{},
		{Workspace: "ml", Profile: "small", Workload: carvev1.WorkloadSession, Mode: podcontract.ModePod, Requests: rl, Limits: rl, NodePools: []string{"cpu"}},
		{Workspace: "ml", Team: "vision", Profile: "gpu-1", Workload: carvev1.WorkloadJob, Mode: podcontract.ModeContainer,
			Requests: corev1.ResourceList{}, NodePools: []string{"a", "b\"<é>"}},
		{Workspace: "w\\\"\t\u2028", Team: "\xff", NodePools: []string{}},
	} {
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), string(podcontract.AppliedJSON(&a))); diff != "" {
			t.Errorf("applied record %+v (-json.Marshal +appendJSON):\n%s", a, diff)
		}
	}
}

// FuzzAppliedJSON holds it to json.Marshal for any names and quantities.
func FuzzAppliedJSON(f *testing.F) {
	f.Add("ml", "", "small", "session", "cpu", "1500m", "p")
	f.Add("w<", "t\x00", "\xff", "", "nvidia.com/gpu", "-1.5e-3", "")
	f.Fuzz(func(t *testing.T, ws, team, profile, workload, name, qty, pool string) {
		q, err := resource.ParseQuantity(qty)
		if err != nil {
			return
		}
		a := podcontract.Applied{Workspace: ws, Team: team, Profile: profile, Workload: carvev1.Workload(workload), Mode: "pod",
			Requests: corev1.ResourceList{corev1.ResourceName(name): q}, Limits: corev1.ResourceList{corev1.ResourceName(name): q, "cpu": q}}
		if pool != "" {
			a.NodePools = []string{pool, pool}
		}
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if got := podcontract.AppliedJSON(&a); string(got) != string(want) {
			t.Errorf("appendJSON = %s, json.Marshal gives %s", got, want)
		}
	})
}
