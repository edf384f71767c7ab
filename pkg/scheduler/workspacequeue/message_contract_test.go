package workspacequeue

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/carve-dev/carve/pkg/kubectlcarve"
)

// TestMessagesParse holds verdict.message to what `kubectl carve` reads
// from the carve.dev/Admitted condition (kubectlcarve.ParseWaiting): a
// change of the format here must change the parser too.
func TestMessagesParse(t *testing.T) {
	const gi = 1 << 30
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
