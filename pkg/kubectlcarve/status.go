package kubectlcarve

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// StatusReport is `kubectl carve status -o json|yaml`.
type StatusReport struct {
	Workspaces []WorkspaceReport `json:"workspaces"`
	NodePools  []NodePoolReport  `json:"nodePools"`
}

// WorkspaceReport is one workspace: what it holds of its quota and what
// waits, in total and per team and project (from its status, which
// carve-scheduler writes).
type WorkspaceReport struct {
	Name string `json:"name"`
	ScopeReport
	// ProjectCount is the number of the workspace's namespaces.
	ProjectCount int32         `json:"projectCount"`
	Teams        []ScopeReport `json:"teams,omitempty"`
	Projects     []ScopeReport `json:"projects,omitempty"`
	// SpendPeriod is the month (UTC) the spend is of, e.g. "2026-12";
	// empty before carve-scheduler has metered the workspace.
	SpendPeriod string `json:"spendPeriod,omitempty"`
	// Budgets are status.budgets: how much of each budget is used.
	Budgets []BudgetReport `json:"budgets,omitempty"`
}

// BudgetReport is one budget of a workspace and how much of it is used this
// period (status.budgets, written by carve-scheduler).
type BudgetReport struct {
	// Scope is Workspace, Team or Project; Name the team or project.
	Scope string `json:"scope"`
	Name  string `json:"name,omitempty"`
	// Period is Day, Week or Month; Unit cpuHours, gpuHours or cost.
	Period string `json:"period"`
	Unit   string `json:"unit"`
	// Used and Limit are decimals in Unit.
	Used     string      `json:"used"`
	Limit    string      `json:"limit"`
	ResetsAt metav1.Time `json:"resetsAt"`
	// Spent is true once Used reaches Limit: new pods of the scope wait.
	Spent bool `json:"spent"`
}

// ScopeReport is what a workspace, team or project holds and waits for.
type ScopeReport struct {
	// Name is the team's or project's; empty for the workspace itself.
	Name string `json:"name,omitempty"`
	// Team is a project's team.
	Team   string `json:"team,omitempty"`
	CPU    Usage  `json:"cpu"`
	Memory Usage  `json:"memory"`
	GPU    Usage  `json:"gpu"`
	Pods   Usage  `json:"pods"`
	// Waiting is the number of pods waiting for quota.
	Waiting int32 `json:"waiting"`
	// Exhausted lists the resources of this scope's own quota that one of
	// its pods waits for (teams and projects only).
	Exhausted []string `json:"exhausted,omitempty"`
	// Spend is what its pods cost this month, to the cent (status.spend;
	// the workspace's is status.summary.spend); empty when not metered.
	Spend string `json:"spend,omitempty"`
}

// Usage is what admitted pods request of one resource, and the cap; Quota
// is empty where there is none.
type Usage struct {
	Used  string `json:"used"`
	Quota string `json:"quota,omitempty"`
}

func (u Usage) String() string {
	q := u.Quota
	if q == "" {
		q = none
	}
	return u.Used + "/" + q
}

// NodePoolReport is one NodePool: its sizes (status, written by
// carve-cloudprovider) and what its nodes cost an hour.
type NodePoolReport struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	Platform    string `json:"platform"`
	MinSize     int32  `json:"minSize"`
	MaxSize     int32  `json:"maxSize"`
	CurrentSize int32  `json:"currentSize"`
	TargetSize  int32  `json:"targetSize"`
	ReadySize   int32  `json:"readySize"`
	// DrainingNodes is status.drainingNodes: nodes carve is retiring.
	DrainingNodes int32 `json:"drainingNodes"`
	// PricePerHour is spec.pricePerHour, one node's price; empty without.
	PricePerHour string `json:"pricePerHour,omitempty"`
	// CostPerHour is status.costPerHour: the price times currentSize.
	CostPerHour string `json:"costPerHour,omitempty"`
}

func newStatusCommand(e *env) *cobra.Command {
	var out outputFlag
	var workspace string
	var projects bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "What each workspace, team and project holds of its quota and spent this month; budgets; node pools, their sizes and cost",
		Example: `  kubectl carve status
  kubectl carve status -w ml-team --projects
  kubectl carve status -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReport(cmd.Context(), e, &out, func(ctx context.Context, c client.Client) (*StatusReport, error) {
				return gatherStatus(ctx, c, workspace)
			}, func(w io.Writer, r *StatusReport) error { return printStatus(w, r, projects) })
		},
	}
	out.add(cmd)
	cmd.Flags().StringVarP(&workspace, "workspace", "w", "", "Only this workspace.")
	cmd.Flags().BoolVar(&projects, "projects", false, "A row for each project (namespace) too.")
	return cmd
}

func gatherStatus(ctx context.Context, c client.Client, workspace string) (*StatusReport, error) {
	var wss carvev1.WorkspaceList
	if workspace != "" {
		var ws carvev1.Workspace
		if err := c.Get(ctx, client.ObjectKey{Name: workspace}, &ws); err != nil {
			return nil, fmt.Errorf("reading workspace %s: %w", workspace, err)
		}
		wss.Items = []carvev1.Workspace{ws}
	} else if err := c.List(ctx, &wss); err != nil {
		return nil, fmt.Errorf("listing workspaces: %w", err)
	}
	var pools carvev1.NodePoolList
	if err := c.List(ctx, &pools); err != nil {
		return nil, fmt.Errorf("listing node pools: %w", err)
	}
	return buildStatus(wss.Items, pools.Items), nil
}

// buildStatus is the report of these workspaces and pools, sorted by name.
func buildStatus(wss []carvev1.Workspace, pools []carvev1.NodePool) *StatusReport {
	r := &StatusReport{Workspaces: []WorkspaceReport{}, NodePools: []NodePoolReport{}}
	for i := range wss {
		ws := &wss[i]
		w := WorkspaceReport{
			Name:         ws.Name,
			ScopeReport:  scopeReport("", "", ws.Spec.Quota, ws.Status.Admitted, ws.Status.Waiting, nil),
			ProjectCount: ws.Status.ProjectCount,
		}
		w.Spend = ws.Status.Summary.Spend
		var teamSpend, projectSpend map[string]string
		if sp := ws.Status.Spend; sp != nil {
			w.SpendPeriod = sp.Period
			teamSpend, projectSpend = costs(sp.Teams), costs(sp.Projects)
		}
		for _, t := range ws.Status.Teams {
			s := scopeReport(t.Name, "", t.Quota, t.Admitted, t.Waiting, t.Exhausted)
			s.Spend = spendOf(teamSpend, t.Name)
			w.Teams = append(w.Teams, s)
		}
		for _, p := range ws.Status.Projects {
			s := scopeReport(p.Name, p.Team, p.Quota, p.Admitted, p.Waiting, p.Exhausted)
			s.Spend = spendOf(projectSpend, p.Name)
			w.Projects = append(w.Projects, s)
		}
		for _, b := range ws.Status.Budgets {
			w.Budgets = append(w.Budgets, BudgetReport{Scope: string(b.Scope), Name: b.Name, Period: string(b.Period), Unit: b.Unit,
				Used: b.Used, Limit: b.Limit, ResetsAt: b.ResetsAt, Spent: b.Spent})
		}
		sort.Slice(w.Teams, func(i, j int) bool { return w.Teams[i].Name < w.Teams[j].Name })
		sort.Slice(w.Projects, func(i, j int) bool { return w.Projects[i].Name < w.Projects[j].Name })
		r.Workspaces = append(r.Workspaces, w)
	}
	sort.Slice(r.Workspaces, func(i, j int) bool { return r.Workspaces[i].Name < r.Workspaces[j].Name })
	for i := range pools {
		p := &pools[i]
		r.NodePools = append(r.NodePools, NodePoolReport{
			Name:          p.Name,
			Role:          string(p.Spec.Role),
			Platform:      string(p.Spec.Platform.Type),
			MinSize:       p.Spec.MinSize,
			MaxSize:       p.Spec.MaxSize,
			CurrentSize:   p.Status.CurrentSize,
			TargetSize:    p.Status.TargetSize,
			ReadySize:     p.Status.ReadySize,
			DrainingNodes: p.Status.DrainingNodes,
			PricePerHour:  price(p.Spec.PricePerHour),
			CostPerHour:   p.Status.CostPerHour,
		})
	}
	sort.Slice(r.NodePools, func(i, j int) bool { return r.NodePools[i].Name < r.NodePools[j].Name })
	return r
}

func scopeReport(name, team string, q *carvev1.Quota, used carvev1.ResourceUsage, waiting int32, exhausted []string) ScopeReport {
	if q == nil {
		q = &carvev1.Quota{}
	}
	pods := ""
	if q.Pods != nil {
		pods = strconv.Itoa(int(*q.Pods))
	}
	return ScopeReport{
		Name:      name,
		Team:      team,
		CPU:       Usage{Used: amount(used.CPU), Quota: quantity(q.CPU)},
		Memory:    Usage{Used: amount(used.Memory), Quota: quantity(q.Memory)},
		GPU:       Usage{Used: amount(used.GPU), Quota: quantity(q.GPU)},
		Pods:      Usage{Used: strconv.Itoa(int(used.Pods)), Quota: pods},
		Waiting:   waiting,
		Exhausted: exhausted,
	}
}

// costs are the cost of each team's or project's pods, to the cent; a
// team or project that ran none this month costs "0.00".
func costs(spend []carvev1.NamedSpend) map[string]string {
	out := map[string]string{}
	for _, s := range spend {
		out[s.Name] = cents(s.Cost)
	}
	return out
}

// spendOf is name's in spend (from costs): "0.00" when it ran nothing
// this month; "" when the workspace is not metered (spend is nil).
func spendOf(spend map[string]string, name string) string {
	if spend == nil {
		return ""
	}
	if s, ok := spend[name]; ok {
		return s
	}
	return "0.00"
}

// cents is a decimal money string to 2 places, as status.summary.spend.
func cents(v string) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}

// twoPlaces is a decimal to at most 2 places, trailing zeros dropped, as
// the scheduler's messages write budgets: "0", "12.5", "40".
func twoPlaces(v string) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	out := strconv.FormatFloat(f, 'f', 2, 64)
	return strings.TrimSuffix(strings.TrimRight(out, "0"), ".")
}

// amount is q as a string, "0" when unset.
func amount(q resource.Quantity) string { return q.String() }

func printStatus(w io.Writer, r *StatusReport, projects bool) error {
	if len(r.Workspaces) == 0 {
		fmt.Fprintln(w, "No workspaces.")
	} else {
		t := newTable(w, "WORKSPACE", "SCOPE", "CPU", "MEMORY", "GPU", "PODS", "WAITING", "SPEND", "PROJECTS", "EXHAUSTED")
		for _, ws := range r.Workspaces {
			t.row(ws.Name, "workspace", ws.CPU.String(), ws.Memory.String(), ws.GPU.String(), ws.Pods.String(),
				strconv.Itoa(int(ws.Waiting)), ws.Spend, strconv.Itoa(int(ws.ProjectCount)), "")
			for _, tm := range ws.Teams {
				n := 0
				for _, p := range ws.Projects {
					if p.Team == tm.Name {
						n++
					}
				}
				t.row(ws.Name, "team/"+tm.Name, tm.CPU.String(), tm.Memory.String(), tm.GPU.String(), tm.Pods.String(),
					strconv.Itoa(int(tm.Waiting)), tm.Spend, strconv.Itoa(n), strings.Join(tm.Exhausted, ","))
			}
			if projects {
				for _, p := range ws.Projects {
					t.row(ws.Name, "project/"+p.Name, p.CPU.String(), p.Memory.String(), p.GPU.String(), p.Pods.String(),
						strconv.Itoa(int(p.Waiting)), p.Spend, "", strings.Join(p.Exhausted, ","))
				}
			}
		}
		if err := t.flush(); err != nil {
			return err
		}
		if err := printBudgets(w, r.Workspaces); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	if len(r.NodePools) == 0 {
		fmt.Fprintln(w, "No node pools.")
		return nil
	}
	t := newTable(w, "NODEPOOL", "ROLE", "PLATFORM", "MIN", "MAX", "CURRENT", "TARGET", "READY", "DRAINING", "PRICE/H", "COST/H")
	for _, p := range r.NodePools {
		t.row(p.Name, p.Role, p.Platform, strconv.Itoa(int(p.MinSize)), strconv.Itoa(int(p.MaxSize)),
			strconv.Itoa(int(p.CurrentSize)), strconv.Itoa(int(p.TargetSize)), strconv.Itoa(int(p.ReadySize)),
			strconv.Itoa(int(p.DrainingNodes)), p.PricePerHour, p.CostPerHour)
	}
	return t.flush()
}

// printBudgets is the table of every workspace's budgets, when any has one.
func printBudgets(w io.Writer, wss []WorkspaceReport) error {
	var t *table
	for _, ws := range wss {
		for _, b := range ws.Budgets {
			if t == nil {
				fmt.Fprintln(w)
				t = newTable(w, "WORKSPACE", "BUDGET", "PERIOD", "UNIT", "USED", "RESETS", "SPENT")
			}
			scope := strings.ToLower(b.Scope)
			if b.Name != "" {
				scope += "/" + b.Name
			}
			spent := "no"
			if b.Spent {
				spent = "yes: new pods wait"
			}
			t.row(ws.Name, scope, b.Period, b.Unit, twoPlaces(b.Used)+"/"+b.Limit, b.ResetsAt.UTC().Format(resetLayout)+" UTC", spent)
		}
	}
	if t == nil {
		return nil
	}
	return t.flush()
}
