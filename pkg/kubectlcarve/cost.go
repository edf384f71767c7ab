package kubectlcarve

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math/big"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// CostReport is `kubectl carve cost -o json|yaml`: what workspaces' pods
// used and cost this month, or since a day, split one way, from the
// Workspaces' status.spend (carve-scheduler meters it; docs/metering.md).
type CostReport struct {
	// By is what a row is: workspace, team, project, profile or kind.
	By string `json:"by"`
	// Team is --team: only that team's rows.
	Team string `json:"team,omitempty"`
	// Since is --since: the rows sum the spend from the start of that UTC
	// day to now; unset, they are the current month's.
	Since *metav1.Time `json:"since,omitempty"`
	// History is what the rows sum with --since: the daily totals
	// (status.spend.days) or, for a month's first day beyond them, the
	// monthly ones (status.spend.months and the current month).
	History string `json:"history,omitempty"`
	// Workspaces are the workspaces asked about and what of their spend
	// the rows hold.
	Workspaces []WorkspaceSpend `json:"workspaces"`
	// Rows are sorted by workspace, then name.
	Rows []CostRow `json:"rows"`
	// Total is the sum of Rows.
	Total carvev1.SpendAmounts `json:"total"`
}

// WorkspaceSpend is one workspace's status.spend in short.
type WorkspaceSpend struct {
	Name string `json:"name"`
	// Period is the month (UTC) of its status.spend; empty when
	// carve-scheduler has not metered it yet.
	Period       string       `json:"period,omitempty"`
	MeteredUntil *metav1.Time `json:"meteredUntil,omitempty"`
	// Included is false when its spend is not in the rows: not metered
	// yet, or (without --since) of another month than the current one.
	Included bool `json:"included"`
}

// CostRow is one workspace, team, project, profile or kind.
type CostRow struct {
	Workspace string `json:"workspace"`
	// Name is the team, project, profile or kind ("none": pods without
	// one); the workspace's for --by workspace.
	Name                 string `json:"name"`
	carvev1.SpendAmounts `json:",inline"`
}

// costBys are the values of --by.
var costBys = []string{"workspace", "team", "project", "profile", "kind"}

func newCostCommand(e *env) *cobra.Command {
	var out outputFlag
	var workspace, team, by, sinceFlag string
	cmd := &cobra.Command{
		Use:   "cost [-w WORKSPACE] [--team TEAM] [--since 30d|2026-11-01] [--by workspace|team|project|profile|kind]",
		Short: "What each workspace, team, project, profile or kind used and cost this month, or since a day",
		Long: `What the pods of each workspace (or team, project, profile or workload kind) used this month,
or since a day, in CPU core-hours, memory GiB-hours and GPU-hours of what they request, and what
that cost in the currency of the NodePools' prices, with a TOTAL row: the Workspaces'
status.spend, which carve-scheduler meters from each pod's binding to its end (docs/metering.md).

Without --since: the current calendar month (UTC). --since Nd sums the days from the start of
the UTC day N days ago to now (0d is today, 7d the last 7 days and today); --since 2026-11-01
from the start of that UTC day. The status keeps daily totals for today and the 35 days before
it, and monthly totals for the 12 months before this one: further back, --since takes a month's
first day only, and nothing before those 12 months (carve-scheduler's Prometheus metrics,
carve_workspace_cost_total, keep what Prometheus retains).

--team keeps one team's rows: with --by team (its default) the team's, with --by project its
projects'. The status splits profiles and kinds by workspace only, not by team.`,
		Example: `  kubectl carve cost
  kubectl carve cost -w ml-team --by project
  kubectl carve cost -w ml-team --team vision --by project
  kubectl carve cost --since 30d --by profile
  kubectl carve cost --since 2026-06-01 -w ml-team
  kubectl carve cost --by kind -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if team != "" && !cmd.Flags().Changed("by") {
				by = "team"
			}
			if err := validateCostBy(by, team); err != nil {
				return err
			}
			now := time.Now()
			var q costQuery
			if cmd.Flags().Changed("since") {
				since, err := parseSince(sinceFlag, now)
				if err != nil {
					return err
				}
				history, err := sinceHistory(since, now)
				if err != nil {
					return err
				}
				q.since, q.history = since, history
			}
			q.by, q.team = by, team
			return runReport(cmd.Context(), e, &out, func(ctx context.Context, c client.Client) (*CostReport, error) {
				wss, err := listWorkspaces(ctx, c, workspace)
				if err != nil {
					return nil, err
				}
				return buildCost(wss, q, now), nil
			}, func(w io.Writer, r *CostReport) error { return printCost(w, r, e.age) })
		},
	}
	out.add(cmd)
	cmd.Flags().StringVarP(&workspace, "workspace", "w", "", "Only this workspace.")
	cmd.Flags().StringVar(&team, "team", "", "Only this team (with --by team or --by project).")
	cmd.Flags().StringVar(&by, "by", "workspace", "A row for each: "+strings.Join(costBys, ", ")+".")
	cmd.Flags().StringVar(&sinceFlag, "since", "", "From the start of this UTC day to now: Nd (N days ago; 0d is today) or a date, 2026-11-01. Default: this month.")
	return cmd
}

func validateCostBy(by, team string) error {
	found := false
	for _, b := range costBys {
		found = found || b == by
	}
	if !found {
		return fmt.Errorf("--by %q: use one of %s", by, strings.Join(costBys, ", "))
	}
	if team != "" && by != "team" && by != "project" {
		return fmt.Errorf("--team with --by %s: a workspace's status splits its spend by team and by project, and profiles and kinds only for the whole workspace; use --by team or --by project", by)
	}
	return nil
}

// listWorkspaces is the workspace named (all when empty).
func listWorkspaces(ctx context.Context, c client.Client, workspace string) ([]carvev1.Workspace, error) {
	if workspace != "" {
		var ws carvev1.Workspace
		if err := c.Get(ctx, client.ObjectKey{Name: workspace}, &ws); err != nil {
			return nil, fmt.Errorf("reading workspace %s: %w", workspace, err)
		}
		return []carvev1.Workspace{ws}, nil
	}
	var wss carvev1.WorkspaceList
	if err := c.List(ctx, &wss); err != nil {
		return nil, fmt.Errorf("listing workspaces: %w", err)
	}
	return wss.Items, nil
}

// costQuery is what cost is asked: --by, --team and --since (zero: the
// current month) with the history that holds it (sinceHistory).
type costQuery struct {
	by, team string
	since    time.Time
	history  string
}

// buildCost is the report of these workspaces' spend of now's month, or
// from q.since to now.
func buildCost(wss []carvev1.Workspace, q costQuery, now time.Time) *CostReport {
	by, team := q.by, q.team
	r := &CostReport{By: by, Team: team, Workspaces: []WorkspaceSpend{}, Rows: []CostRow{}}
	if !q.since.IsZero() {
		r.Since, r.History = &metav1.Time{Time: q.since.UTC()}, q.history
	}
	month := now.UTC().Format("2006-01")
	sort.Slice(wss, func(i, j int) bool { return wss[i].Name < wss[j].Name })
	for i := range wss {
		ws := &wss[i]
		w := WorkspaceSpend{Name: ws.Name}
		var sp carvev1.PeriodSpend
		if st := ws.Status.Spend; st != nil {
			w.Period = st.Period
			w.MeteredUntil = st.MeteredUntil.DeepCopy()
			if q.since.IsZero() {
				w.Included = st.Period == month
				sp = carvev1.PeriodSpend{Period: st.Period, Total: st.Total, Teams: st.Teams, Projects: st.Projects, Profiles: st.Profiles, Kinds: st.Kinds}
			} else {
				w.Included = true
				sp = sumSince(st, q.since, q.history)
			}
		}
		r.Workspaces = append(r.Workspaces, w)
		if !w.Included {
			continue
		}
		add := func(name string, a carvev1.SpendAmounts) {
			r.Rows = append(r.Rows, CostRow{Workspace: ws.Name, Name: name, SpendAmounts: a})
		}
		switch by {
		case "workspace":
			add(ws.Name, sp.Total)
		case "team":
			for _, t := range sp.Teams {
				if team == "" || t.Name == team {
					add(t.Name, t.SpendAmounts)
				}
			}
			// Pods of namespaces without a team are in the total and in no
			// team: their row is the difference (beyond rounding).
			if rest, ok := remainder(sp.Total, sp.Teams); ok && team == "" {
				add("none", rest)
			}
		case "project":
			teamOf := map[string]string{}
			for _, p := range ws.Status.Projects {
				teamOf[p.Name] = p.Team
			}
			for _, p := range sp.Projects {
				if team == "" || teamOf[p.Name] == team {
					add(p.Name, p.SpendAmounts)
				}
			}
		case "profile":
			for _, p := range sp.Profiles {
				add(p.Name, p.SpendAmounts)
			}
		case "kind":
			for _, k := range sp.Kinds {
				add(k.Name, k.SpendAmounts)
			}
		}
	}
	sort.SliceStable(r.Rows, func(i, j int) bool {
		a, b := r.Rows[i], r.Rows[j]
		if a.Workspace != b.Workspace {
			return a.Workspace < b.Workspace
		}
		return a.Name < b.Name
	})
	var sum amountsSum
	for _, row := range r.Rows {
		sum.add(row.SpendAmounts, 1)
	}
	r.Total = sum.amounts()
	return r
}

// sumSince is a status's spend from since to now: the sum of its days from
// since's, or (history sinceMonths) of its months from since's, the current
// one included.
func sumSince(st *carvev1.WorkspaceSpend, since time.Time, history string) carvev1.PeriodSpend {
	var periods []carvev1.PeriodSpend
	if history == sinceMonths {
		from := since.UTC().Format("2006-01")
		for _, p := range st.Months {
			if p.Period >= from && p.Period < st.Period {
				periods = append(periods, p)
			}
		}
		if st.Period >= from {
			periods = append(periods, carvev1.PeriodSpend{Period: st.Period, Total: st.Total, Teams: st.Teams, Projects: st.Projects, Profiles: st.Profiles, Kinds: st.Kinds})
		}
	} else {
		from := since.UTC().Format(time.DateOnly)
		for _, p := range st.Days {
			if p.Period >= from {
				periods = append(periods, p)
			}
		}
	}
	return sumPeriods(periods)
}

// sumPeriods adds periods' totals and splits exactly, name by name.
func sumPeriods(periods []carvev1.PeriodSpend) carvev1.PeriodSpend {
	var total amountsSum
	for _, p := range periods {
		total.add(p.Total, 1)
	}
	split := func(of func(carvev1.PeriodSpend) []carvev1.NamedSpend) []carvev1.NamedSpend {
		sums := map[string]*amountsSum{}
		for _, p := range periods {
			for _, n := range of(p) {
				if sums[n.Name] == nil {
					sums[n.Name] = &amountsSum{}
				}
				sums[n.Name].add(n.SpendAmounts, 1)
			}
		}
		var out []carvev1.NamedSpend
		for _, name := range slices.Sorted(maps.Keys(sums)) {
			out = append(out, carvev1.NamedSpend{Name: name, SpendAmounts: sums[name].amounts()})
		}
		return out
	}
	return carvev1.PeriodSpend{
		Total:    total.amounts(),
		Teams:    split(func(p carvev1.PeriodSpend) []carvev1.NamedSpend { return p.Teams }),
		Projects: split(func(p carvev1.PeriodSpend) []carvev1.NamedSpend { return p.Projects }),
		Profiles: split(func(p carvev1.PeriodSpend) []carvev1.NamedSpend { return p.Profiles }),
		Kinds:    split(func(p carvev1.PeriodSpend) []carvev1.NamedSpend { return p.Kinds }),
	}
}

// amountsSum adds decimal strings exactly.
type amountsSum struct{ cpu, mem, gpu, cost big.Rat }

func (s *amountsSum) add(a carvev1.SpendAmounts, sign int64) {
	for _, p := range []struct {
		to *big.Rat
		v  string
	}{{&s.cpu, a.CPUHours}, {&s.mem, a.MemoryGiBHours}, {&s.gpu, a.GPUHours}, {&s.cost, a.Cost}} {
		var v big.Rat
		if _, ok := v.SetString(p.v); !ok {
			continue // the scheduler writes decimals; skip anything else
		}
		p.to.Add(p.to, v.Mul(&v, big.NewRat(sign, 1)))
	}
}

// amounts are the sums to 1e-6, as the status writes them.
func (s *amountsSum) amounts() carvev1.SpendAmounts {
	return carvev1.SpendAmounts{CPUHours: s.cpu.FloatString(6), MemoryGiBHours: s.mem.FloatString(6), GPUHours: s.gpu.FloatString(6), Cost: s.cost.FloatString(6)}
}

// remainder is total minus the teams' spend, each amount at least 0; ok is
// false when no amount is more than the teams' rounding (1e-6 each).
func remainder(total carvev1.SpendAmounts, teams []carvev1.NamedSpend) (carvev1.SpendAmounts, bool) {
	var s amountsSum
	s.add(total, 1)
	for _, t := range teams {
		s.add(t.SpendAmounts, -1)
	}
	slack := big.NewRat(int64(len(teams)+1), 1_000_000)
	ok := false
	for _, v := range []*big.Rat{&s.cpu, &s.mem, &s.gpu, &s.cost} {
		if v.Cmp(slack) > 0 {
			ok = true
		}
		if v.Sign() < 0 {
			v.SetInt64(0)
		}
	}
	return s.amounts(), ok
}

func printCost(w io.Writer, r *CostReport, age ageFunc) error {
	if len(r.Workspaces) == 0 {
		_, err := fmt.Fprintln(w, "No workspaces.")
		return err
	}
	headers := []string{"WORKSPACE"}
	if r.By != "workspace" {
		headers = append(headers, strings.ToUpper(r.By))
	}
	headers = append(headers, "CPU-HOURS", "MEMORY-GIB-HOURS", "GPU-HOURS", "COST")
	t := newTable(w, headers...)
	row := func(ws, name string, a carvev1.SpendAmounts) {
		cells := []string{ws}
		if r.By != "workspace" {
			cells = append(cells, name)
		}
		t.row(append(cells, a.CPUHours, a.MemoryGiBHours, a.GPUHours, a.Cost)...)
	}
	for _, x := range r.Rows {
		row(x.Workspace, x.Name, x.SpendAmounts)
	}
	row("TOTAL", "", r.Total)
	if err := t.flush(); err != nil {
		return err
	}
	// What the rows are of: the month, and how fresh.
	var month string
	var oldest *metav1.Time
	var left []string
	for _, ws := range r.Workspaces {
		switch {
		case ws.Included:
			month = ws.Period
			if oldest == nil || ws.MeteredUntil.Before(oldest) {
				oldest = ws.MeteredUntil
			}
		case ws.Period == "":
			left = append(left, ws.Name+" (not metered yet)")
		default:
			left = append(left, fmt.Sprintf("%s (its status holds %s; carve-scheduler has not metered this month yet)", ws.Name, ws.Period))
		}
	}
	if oldest != nil {
		what := fmt.Sprintf("Month %s (UTC)", month)
		if r.Since != nil {
			what = fmt.Sprintf("Since %s (%s totals)", r.Since.UTC().Format("2006-01-02 15:04 MST"), map[string]string{sinceDays: "daily", sinceMonths: "monthly"}[r.History])
		}
		fmt.Fprintf(w, "%s, metered until %s ago; costs in the currency of the NodePools' prices.\n", what, age(oldest.Time))
	}
	if len(left) > 0 {
		fmt.Fprintf(w, "Not in the table: %s.\n", strings.Join(left, ", "))
	}
	return nil
}
