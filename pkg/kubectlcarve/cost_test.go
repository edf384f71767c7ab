package kubectlcarve

import (
	"fmt"
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
		r := buildCost([]carvev1.Workspace{old, ml, fresh}, costQuery{by: tc.by, team: tc.team}, now)
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
	if err := printCost(&out, buildCost([]carvev1.Workspace{old, ml, fresh}, costQuery{by: "project"}, now), func(time.Time) string { return "<age>" }); err != nil {
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

func cpu(h, cost string) carvev1.SpendAmounts { return amounts(h, "0.000000", "0.000000", cost) }

// TestBuildCostSince: --since sums the days from its own, name by name (an
// (other) entry too), or whole months with the current one; a workspace
// whose status holds an earlier month has its days counted.
func TestBuildCostSince(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	ml := carvev1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "ml"}}
	ml.Status.Projects = []carvev1.ScopeStatus{{Name: "alice", Team: "vision"}, {Name: "bob", Team: "nlp"}, {Name: "lab"}}
	day := func(period string, total carvev1.SpendAmounts, teams, projects []carvev1.NamedSpend) carvev1.PeriodSpend {
		return carvev1.PeriodSpend{Period: period, Total: total, Teams: teams, Projects: projects, Kinds: []carvev1.NamedSpend{named("session", total)}}
	}
	ml.Status.Spend = &carvev1.WorkspaceSpend{
		Period: "2026-12", MeteredUntil: metav1.NewTime(now),
		Total:    cpu("7.500000", "0.750000"),
		Teams:    []carvev1.NamedSpend{named("nlp", cpu("4.000000", "0.400000")), named("vision", cpu("3.000000", "0.300000"))},
		Projects: []carvev1.NamedSpend{named("alice", cpu("3.000000", "0.300000")), named("bob", cpu("4.000000", "0.400000")), named("lab", cpu("0.500000", "0.050000"))},
		Kinds:    []carvev1.NamedSpend{named("session", cpu("7.500000", "0.750000"))},
		Days: []carvev1.PeriodSpend{
			day("2026-11-20", cpu("1.000000", "0.100000"), []carvev1.NamedSpend{named("vision", cpu("1.000000", "0.100000"))}, []carvev1.NamedSpend{named("alice", cpu("1.000000", "0.100000"))}),
			day("2026-11-27", cpu("3.000000", "0.300000"), []carvev1.NamedSpend{named("nlp", cpu("1.000000", "0.100000")), named("vision", cpu("2.000000", "0.200000"))},
				[]carvev1.NamedSpend{named("alice", cpu("2.000000", "0.200000")), named("bob", cpu("1.000000", "0.100000"))}),
			day("2026-12-01", cpu("3.500000", "0.350000"), []carvev1.NamedSpend{named("vision", cpu("3.000000", "0.300000"))},
				[]carvev1.NamedSpend{named(carvev1.OtherSpend, cpu("0.500000", "0.050000")), named("alice", cpu("3.000000", "0.300000"))}),
			day("2026-12-04", cpu("4.000000", "0.400000"), []carvev1.NamedSpend{named("nlp", cpu("4.000000", "0.400000"))}, []carvev1.NamedSpend{named("bob", cpu("4.000000", "0.400000"))}),
		},
		Months: []carvev1.PeriodSpend{
			day("2026-10", cpu("100.000000", "10.000000"), nil, []carvev1.NamedSpend{named("alice", cpu("100.000000", "10.000000"))}),
			day("2026-11", cpu("50.000000", "5.000000"), nil, []carvev1.NamedSpend{named("alice", cpu("40.000000", "4.000000")), named("bob", cpu("10.000000", "1.000000"))}),
		},
	}
	// Its status still holds November: its days count all the same.
	old := carvev1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "old"}}
	old.Status.Spend = &carvev1.WorkspaceSpend{Period: "2026-11", MeteredUntil: metav1.NewTime(now.Add(-4 * 24 * time.Hour)), Total: cpu("9.000000", "0.900000"),
		Days: []carvev1.PeriodSpend{day("2026-11-29", cpu("2.000000", "0.200000"), nil, nil), day("2026-11-30", cpu("0.250000", "0.025000"), nil, nil)}}
	fresh := carvev1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "fresh"}}

	type row struct{ ws, name, cpu, cost string }
	for _, tc := range []struct {
		by, team, since string
		rows            []row
		total           string
	}{
		{by: "workspace", since: "7d", rows: []row{{"ml", "ml", "10.500000", "1.050000"}, {"old", "old", "2.250000", "0.225000"}}, total: "12.750000"},
		{by: "project", since: "7d", rows: []row{{"ml", carvev1.OtherSpend, "0.500000", "0.050000"}, {"ml", "alice", "5.000000", "0.500000"}, {"ml", "bob", "5.000000", "0.500000"}}, total: "10.500000"},
		{by: "team", since: "7d", rows: []row{{"ml", "nlp", "5.000000", "0.500000"}, {"ml", "none", "0.500000", "0.050000"}, {"ml", "vision", "5.000000", "0.500000"}, {"old", "none", "2.250000", "0.225000"}}, total: "12.750000"},
		{by: "project", team: "vision", since: "2026-11-20", rows: []row{{"ml", "alice", "6.000000", "0.600000"}}, total: "6.000000"},
		{by: "kind", since: "0d", rows: []row{{"ml", "session", "4.000000", "0.400000"}}, total: "4.000000"},
		// Whole months: October, November and this month.
		{by: "project", since: "2026-10-01", rows: []row{{"ml", "alice", "143.000000", "14.300000"}, {"ml", "bob", "14.000000", "1.400000"}, {"ml", "lab", "0.500000", "0.050000"}}, total: "157.500000"},
	} {
		since, err := parseSince(tc.since, now)
		if err != nil {
			t.Fatal(err)
		}
		history, err := sinceHistory(since, now)
		if err != nil {
			t.Fatal(err)
		}
		r := buildCost([]carvev1.Workspace{old, ml, fresh}, costQuery{by: tc.by, team: tc.team, since: since, history: history}, now)
		var got []row
		for _, x := range r.Rows {
			got = append(got, row{x.Workspace, x.Name, x.CPUHours, x.Cost})
		}
		what := fmt.Sprintf("--since %s --by %s --team %q", tc.since, tc.by, tc.team)
		if diff := cmp.Diff(tc.rows, got, cmp.AllowUnexported(row{})); diff != "" {
			t.Errorf("%s rows (-want +got):\n%s", what, diff)
		}
		if r.Total.CPUHours != tc.total {
			t.Errorf("%s: total %s core-hours, want %s", what, r.Total.CPUHours, tc.total)
		}
	}

	since, _ := parseSince("7d", now)
	var out strings.Builder
	if err := printCost(&out, buildCost([]carvev1.Workspace{old, ml, fresh}, costQuery{by: "workspace", since: since, history: sinceDays}, now), func(time.Time) string { return "<age>" }); err != nil {
		t.Fatal(err)
	}
	want := `WORKSPACE   CPU-HOURS   MEMORY-GIB-HOURS   GPU-HOURS   COST
ml          10.500000   0.000000           0.000000    1.050000
old         2.250000    0.000000           0.000000    0.225000
TOTAL       12.750000   0.000000           0.000000    1.275000
Since 2026-11-27 00:00 UTC (daily totals), metered until <age> ago; costs in the currency of the NodePools' prices.
Not in the table: fresh (not metered yet).
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("printCost --since 7d (-want +got):\n%s", diff)
	}
}
