package kubectlcarve

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

func amounts(cpu, mem, gpu, cost string) carvev1.SpendAmounts {
	return carvev1.SpendAmounts{CPUHours: cpu, MemoryGiBHours: mem, GPUHours: gpu, Cost: cost}
}

func named(name string, a carvev1.SpendAmounts) carvev1.NamedSpend {
	return carvev1.NamedSpend{Name: name, SpendAmounts: a}
}

func TestBuildCost(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	ml := carvev1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "ml"}}
	ml.Status.Projects = []carvev1.ScopeStatus{{Name: "alice", Team: "vision"}, {Name: "bob", Team: "nlp"}, {Name: "lab"}}
	ml.Status.Spend = &carvev1.WorkspaceSpend{
		Period: "2026-12", MeteredUntil: metav1.NewTime(now),
		Total: amounts("10.000001", "20.000000", "1.000000", "3.500000"),
		// lab has no team: 3 core-hours of the total are in no team.
		Teams:    []carvev1.NamedSpend{named("vision", amounts("5.000000", "10.000000", "1.000000", "2.000000")), named("nlp", amounts("2.000000", "4.000000", "0.000000", "0.500000"))},
		Projects: []carvev1.NamedSpend{named("alice", amounts("5.000000", "10.000000", "1.000000", "2.000000")), named("bob", amounts("2.000000", "4.000000", "0.000000", "0.500000")), named("lab", amounts("3.000000", "6.000000", "0.000000", "1.000000"))},
		Kinds:    []carvev1.NamedSpend{named("session", amounts("10.000001", "20.000000", "1.000000", "3.500000"))},
	}
	old := carvev1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "old"}}
	old.Status.Spend = &carvev1.WorkspaceSpend{Period: "2026-11", Total: amounts("1", "1", "1", "1")}
	fresh := carvev1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "fresh"}}

	type row struct{ ws, name, cpu, cost string }
	for _, tc := range []struct {
		by, team string
		rows     []row
		total    carvev1.SpendAmounts
	}{
		{by: "workspace", rows: []row{{"ml", "ml", "10.000001", "3.500000"}}, total: amounts("10.000001", "20.000000", "1.000000", "3.500000")},
		{by: "team", rows: []row{{"ml", "nlp", "2.000000", "0.500000"}, {"ml", "none", "3.000001", "1.000000"}, {"ml", "vision", "5.000000", "2.000000"}},
			total: amounts("10.000001", "20.000000", "1.000000", "3.500000")},
		{by: "team", team: "vision", rows: []row{{"ml", "vision", "5.000000", "2.000000"}}, total: amounts("5.000000", "10.000000", "1.000000", "2.000000")},
		{by: "project", team: "nlp", rows: []row{{"ml", "bob", "2.000000", "0.500000"}}, total: amounts("2.000000", "4.000000", "0.000000", "0.500000")},
		{by: "kind", rows: []row{{"ml", "session", "10.000001", "3.500000"}}, total: amounts("10.000001", "20.000000", "1.000000", "3.500000")},
	} {
		r := buildCost([]carvev1.Workspace{old, ml, fresh}, tc.by, tc.team, now)
		var got []row
		for _, x := range r.Rows {
			got = append(got, row{x.Workspace, x.Name, x.CPUHours, x.Cost})
		}
		if diff := cmp.Diff(tc.rows, got, cmp.AllowUnexported(row{})); diff != "" {
			t.Errorf("--by %s --team %q rows (-want +got):\n%s", tc.by, tc.team, diff)
		}
		if diff := cmp.Diff(tc.total, r.Total); diff != "" {
			t.Errorf("--by %s --team %q total (-want +got):\n%s", tc.by, tc.team, diff)
		}
		var included []string
		for _, w := range r.Workspaces {
			if w.Included {
				included = append(included, w.Name)
			}
		}
		if diff := cmp.Diff([]string{"ml"}, included); diff != "" {
			t.Errorf("included workspaces (-want +got):\n%s", diff)
		}
	}

	var out strings.Builder
	if err := printCost(&out, buildCost([]carvev1.Workspace{old, ml, fresh}, "project", "", now), func(time.Time) string { return "<age>" }); err != nil {
		t.Fatal(err)
	}
	want := `WORKSPACE   PROJECT   CPU-HOURS   MEMORY-GIB-HOURS   GPU-HOURS   COST
ml          alice     5.000000    10.000000          1.000000    2.000000
ml          bob       2.000000    4.000000           0.000000    0.500000
ml          lab       3.000000    6.000000           0.000000    1.000000
TOTAL       -         10.000000   20.000000          1.000000    3.500000
Month 2026-12 (UTC), metered until <age> ago; costs in the currency of the NodePools' prices.
Not in the table: fresh (not metered yet), old (its status holds 2026-11; carve-scheduler has not metered this month yet).
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("printCost (-want +got):\n%s", diff)
	}
}

func TestValidateCostBy(t *testing.T) {
	for _, tc := range []struct {
		by, team string
		ok       bool
	}{{"workspace", "", true}, {"kind", "", true}, {"project", "vision", true}, {"team", "vision", true}, {"profile", "vision", false}, {"workspace", "vision", false}, {"namespace", "", false}} {
		if err := validateCostBy(tc.by, tc.team); (err == nil) != tc.ok {
			t.Errorf("--by %s --team %q: error %v", tc.by, tc.team, err)
		}
	}
}
