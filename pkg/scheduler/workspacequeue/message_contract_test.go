package workspacequeue

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"

	"github.com/carve-dev/carve/pkg/kubectlcarve"
)

// TestMessagesParse holds verdict.message to what `kubectl carve` reads
// from the carve.dev/Admitted condition (kubectlcarve.ParseWaiting): a
// change of the format here must change the parser too.
func TestMessagesParse(t *testing.T) {
	const gi = 1 << 30
	resets := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	budget := func(scope, name string, period, unit, used, limit string) kubectlcarve.Waiting {
		w := kubectlcarve.Waiting{Workspace: "ml-team", Budget: &kubectlcarve.BudgetWait{Period: period, Unit: unit, Used: used, Limit: limit, ResetsAt: metav1.NewTime(resets)}}
		switch scope {
		case "workspace":
			w.Scope = kubectlcarve.ScopeWorkspace
		case "team":
			w.Scope, w.Team = kubectlcarve.ScopeTeam, name
		default:
			w.Scope, w.Namespace = kubectlcarve.ScopeProject, name
		}
		return w
	}
	for _, tc := range []struct {
		v        verdict
		ws       string
		position int
		want     kubectlcarve.Waiting
	}{
		{
			v: verdict{scope: scopeProject, name: "ml-alice", r: resCPU, used: 2000, max: 2000, need: 1000}, ws: "ml-team", position: 1,
			want: kubectlcarve.Waiting{Scope: kubectlcarve.ScopeProject, Namespace: "ml-alice", Workspace: "ml-team", Resource: "cpu", Need: "1", InUse: "2", Quota: "2", Position: 1},
		},
		{
			v: verdict{scope: scopeTeam, name: "vision", r: resMemory, used: 63 * gi, max: 64 * gi, need: 3 * gi / 2}, ws: "ml-team", position: 112,
			want: kubectlcarve.Waiting{Scope: kubectlcarve.ScopeTeam, Team: "vision", Workspace: "ml-team", Resource: "memory", Need: "1536Mi", InUse: "63Gi", Quota: "64Gi", Position: 112},
		},
		{
			v: verdict{scope: scopeWorkspace, r: resGPU, used: 3, max: 4, need: 2}, ws: "w", position: 0,
			want: kubectlcarve.Waiting{Scope: kubectlcarve.ScopeWorkspace, Workspace: "w", Resource: "gpu", Need: "2", InUse: "3", Quota: "4"},
		},
		{
			v: verdict{scope: scopeWorkspace, r: resPods, used: 0, max: 4, need: 8}, ws: "w", position: 5,
			want: kubectlcarve.Waiting{Scope: kubectlcarve.ScopeWorkspace, Workspace: "w", Resource: "pods", Need: "8", Quota: "4", NeverFits: true},
		},
		{
			v: verdict{scope: scopeProject, name: "p", r: resCPU, used: 7500, max: 8000, need: 500}, ws: "w", position: 23,
			want: kubectlcarve.Waiting{Scope: kubectlcarve.ScopeProject, Namespace: "p", Workspace: "w", Resource: "cpu", Need: "500m", InUse: "7500m", Quota: "8", Position: 23},
		},
		// A spent budget (amounts in millionths of its unit).
		{
			v: verdict{scope: scopeTeam, name: "vision", used: 40e6, max: 40e6, budget: &budgetHold{period: carvev1.BudgetDay, unit: "gpuHours", resets: resets}}, ws: "ml-team",
			want: budget("team", "vision", "Day", "gpuHours", "40", "40"),
		},
		{
			v: verdict{scope: scopeWorkspace, used: 2000_504_000, max: 2000e6, budget: &budgetHold{period: carvev1.BudgetMonth, unit: "cost", resets: resets}}, ws: "ml-team", position: 3,
			want: budget("workspace", "", "Month", "cost", "2000.5", "2000"),
		},
		{
			v: verdict{scope: scopeProject, name: "ml-alice", used: 1_234_567, max: 0, budget: &budgetHold{period: carvev1.BudgetWeek, unit: "cpuHours", resets: resets.In(time.FixedZone("CET", 3600))}}, ws: "ml-team",
			want: budget("project", "ml-alice", "Week", "cpuHours", "1.23", "0"),
		},
		{
			v: verdict{scope: scopeNamespace, name: "ml-new"}, ws: "", position: 0,
			want: kubectlcarve.Waiting{Scope: kubectlcarve.ScopeNamespace, Namespace: "ml-new"},
		},
	} {
		msg := tc.v.message(tc.ws, tc.position)
		got, ok := kubectlcarve.ParseWaiting(msg)
		if !ok {
			t.Errorf("ParseWaiting(%q) failed", msg)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseWaiting(%q) (-want +got):\n%s", msg, diff)
		}
	}
}
