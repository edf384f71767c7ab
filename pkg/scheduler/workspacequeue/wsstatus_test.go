package workspacequeue

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// TestWorkspaceStatus: what kubectl get ws and the status show for a
// workspace with a workspace, team and project quota, some pods admitted and
// some waiting at each scope.
func TestWorkspaceStatus(t *testing.T) {
	ws := ut.MakeWorkspace("ml", "small").Quota("6", "", "", -1).TeamQuota("nlp", "2", "", "", -1).ProjectQuota("", "", "", 2).Obj()
	ws.Generation = 3
	tr := newTestTracker(ws)
	for _, p := range []struct {
		name, ns, cpu string
	}{
		{"a0", "alice", "1"}, {"a1", "alice", "1"}, {"n0", "nlp-1", "2"},
		{"a2", "alice", "1"}, // project alice: pods 2/2
		{"n1", "nlp-2", "1"}, // team nlp: cpu 2/2
		{"b0", "bob", "1"},
		{"b1", "bob", "2"}, // workspace: cpu 5/6
	} {
		tr.enqueue(pod(p.name, p.ns, "", 0, p.cpu))
	}
	r, ok := tr.report("ml")
	if !ok {
		t.Fatal("no report of a known workspace")
	}
	st := r.status()

	usage := func(cpu, mem string, pods int32) carvev1.ResourceUsage {
		return carvev1.ResourceUsage{CPU: resource.MustParse(cpu), Memory: resource.MustParse(mem), GPU: resource.MustParse("0"), Pods: pods}
	}
	projectQuota := ut.MakeQuota("", "", "", 2)
	want := carvev1.WorkspaceStatus{
		Admitted: usage("5", "4Gi", 4),
		Waiting:  3,
		Summary:  carvev1.WorkspaceSummary{CPU: "5/6", Memory: "4Gi", GPU: "0"},
		Teams: []carvev1.ScopeStatus{
			{Name: "nlp", Quota: ut.MakeQuota("2", "", "", -1), Admitted: usage("2", "1Gi", 1), Waiting: 1, Exhausted: []string{"cpu"}},
			{Name: "vision", Admitted: usage("0", "0", 0)},
		},
		Projects: []carvev1.ScopeStatus{
			{Name: "alice", Quota: projectQuota, Admitted: usage("2", "2Gi", 2), Waiting: 1, Exhausted: []string{"pods"}},
			{Name: "bob", Quota: projectQuota, Admitted: usage("1", "1Gi", 1), Waiting: 1},
			{Name: "nlp-1", Team: "nlp", Quota: projectQuota, Admitted: usage("2", "1Gi", 1)},
			{Name: "nlp-2", Team: "nlp", Quota: projectQuota, Admitted: usage("0", "0", 0), Waiting: 1},
			{Name: "other", Quota: projectQuota, Admitted: usage("0", "0", 0)},
			{Name: "solo", Quota: projectQuota, Admitted: usage("0", "0", 0)},
			{Name: "vision-1", Team: "vision", Quota: projectQuota, Admitted: usage("0", "0", 0)},
		},
		ProjectCount:       7,
		ObservedGeneration: 3,
		Conditions: []metav1.Condition{{
			Type: carvev1.WorkspaceQuotaExhausted, Status: metav1.ConditionTrue, ObservedGeneration: 3, Reason: carvev1.ReasonPodsWaiting,
			Message: "3 pods wait for quota: workspace cpu 5/6 in use; team nlp cpu 2/2 in use; namespace alice pods 2/2 in use",
		}},
	}
	if diff := cmp.Diff(want, st, cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}

	// Every waiting pod gone: nothing is exhausted.
	for _, p := range []string{"alice/a2", "nlp-2/n1", "bob/b1"} {
		ns, name, _ := strings.Cut(p, "/")
		tr.forget(pod(name, ns, "", 0, "1"))
	}
	r, _ = tr.report("ml")
	st = r.status()
	if c := st.Conditions[0]; c.Status != metav1.ConditionFalse || c.Reason != carvev1.ReasonNoneWaiting || c.Message != "no pod waits for quota" {
		t.Errorf("condition with nothing waiting: %+v", c)
	}
	if st.Waiting != 0 || st.Projects[0].Exhausted != nil {
		t.Errorf("waiting %d, alice exhausted %v with nothing waiting", st.Waiting, st.Projects[0].Exhausted)
	}

	// A workspace without an object has no status to write.
	if _, ok := newTracker(nil).report("ml"); ok {
		t.Error("a report of a workspace the tracker does not know")
	}
}
