package kubectlcarve

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func TestPoolAnswer(t *testing.T) {
	reqs := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}
	pool := func(current, target int32, conds ...metav1.Condition) *carvev1.NodePool {
		np := ut.MakeNodePool("p", carvev1.NodePoolRoleCPU, 0, 3, "16", "64Gi").Obj()
		np.Status = carvev1.NodePoolStatus{CurrentSize: current, TargetSize: target, Conditions: conds}
		return np
	}
	cond := func(typ string, s metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: reason + " message"}
	}
	for name, tc := range map[string]struct {
		np   *carvev1.NodePool
		reqs corev1.ResourceList
		want PoolState
	}{
		"missing":         {np: nil, reqs: reqs, want: PoolMissing},
		"too small":       {np: pool(0, 0), reqs: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32")}, want: PoolTooSmall},
		"no gpu":          {np: pool(0, 0), reqs: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}, want: PoolTooSmall},
		"unavailable":     {np: pool(0, 0, cond(carvev1.NodePoolReady, metav1.ConditionFalse, "PlatformUnavailable")), reqs: reqs, want: PoolUnavailable},
		"scaling up":      {np: pool(1, 2, cond(carvev1.NodePoolScalingUp, metav1.ConditionTrue, "WaitingForNodes")), reqs: reqs, want: PoolScalingUp},
		"up, not current": {np: pool(2, 2, cond(carvev1.NodePoolScalingUp, metav1.ConditionTrue, "WaitingForNodes")), reqs: reqs, want: PoolNotScaling},
		"at max":          {np: pool(3, 3), reqs: reqs, want: PoolAtMaxSize},
		"target at max":   {np: pool(2, 3), reqs: reqs, want: PoolAtMaxSize},
		"refused":         {np: pool(1, 1, cond(carvev1.NodePoolScaleRefused, metav1.ConditionTrue, "SessionRunning")), reqs: reqs, want: PoolScaleRefused},
		"not scaling":     {np: pool(1, 1), reqs: reqs, want: PoolNotScaling},
	} {
		got := poolAnswer("p", tc.np, tc.reqs)
		if got.State != tc.want {
			t.Errorf("%s: state %s (%s), want %s", name, got.State, got.Detail, tc.want)
		}
		if got.Detail == "" {
			t.Errorf("%s: no detail", name)
		}
	}
}

func TestParseDenial(t *testing.T) {
	for msg, want := range map[string]*Denial{
		`Error creating: admission webhook "pod.carve.dev" denied the request: carve: ProfileNotAllowed: workspace "ml" does not allow profile "huge"; set label carve.dev/profile to one of: small`: {
			Rule: "ProfileNotAllowed", Message: `workspace "ml" does not allow profile "huge"; set label carve.dev/profile to one of: small`,
		},
		`pods "web-1" is forbidden: exceeded quota: compute`:                   nil,
		`Error creating: carve: lower: not a rule`:                             nil,
		`Error creating: admission webhook denied the request: carve: NoColon`: nil,
	} {
		got, ok := parseDenial(msg)
		if (want != nil) != ok {
			t.Errorf("parseDenial(%q) ok = %v", msg, ok)
			continue
		}
		if want != nil {
			if diff := cmp.Diff(*want, got); diff != "" {
				t.Errorf("parseDenial(%q) (-want +got):\n%s", msg, diff)
			}
		}
	}
}

func TestWaitingPodsOrder(t *testing.T) {
	pod := func(ns, name, ws, msg string) corev1.Pod {
		p := ut.MakePod(name, ns).Workspace(ws, "").Obj()
		if msg != "" {
			reason := carvev1.ReasonWaitingForQuota
			if strings.Contains(msg, "budget") {
				reason = carvev1.ReasonOverBudget
			}
			p.Status.Conditions = []corev1.PodCondition{{Type: carvev1.PodConditionAdmitted, Status: corev1.ConditionFalse, Reason: reason, Message: msg}}
		}
		return *p
	}
	msg := func(ws, pos string) string {
		return "waiting for workspace " + ws + " quota: needs cpu 1, 2/2 in use; " + pos + " in queue"
	}
	budgetMsg := "waiting for the daily budget of workspace b: 0/0 cost used; it resets at 2026-12-05 00:00 UTC; running pods keep running"
	never := "waiting for workspace b quota: needs gpu 8, more than the whole quota of 4: ask an admin to raise it or pick a smaller profile"
	got := waitingPods([]corev1.Pod{
		pod("n1", "b-never", "b", never),
		pod("n1", "b-2", "b", msg("b", "2nd")),
		pod("n2", "a-3", "a", msg("a", "3rd")),
		pod("n1", "running", "a", ""),
		pod("n1", "a-1", "a", msg("a", "1st")),
		pod("n2", "b-1", "b", msg("b", "1st")),
		pod("n3", "other", "c", "a message of another version"),
		pod("n0", "b-budget", "b", budgetMsg),
	})
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	want := []string{"a-1", "a-3", "b-1", "b-2", "b-budget", "b-never", "other"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if last := got[len(got)-1]; last.Parsed || last.Workspace != "c" {
		t.Errorf("unparsed message: %+v, want Parsed false and the pod's workspace label", last)
	}
	if b := got[4]; b.Reason != carvev1.ReasonOverBudget || b.Waiting.Budget == nil || b.Waiting.Short() != "workspace: daily cost budget 0/0 used, resets 2026-12-05 00:00 UTC" {
		t.Errorf("pod over budget: %+v", b)
	}
}

// TestOverBudgetAnswer: a pod held by a spent budget is answered from its
// condition alone, parsed or not.
func TestOverBudgetAnswer(t *testing.T) {
	for msg, want := range map[string]string{
		"waiting for the weekly budget of team vision in workspace ml: 40/40 gpuHours used; it resets at 2026-12-07 00:00 UTC; running pods keep running": "pod n/p waits for a budget: the weekly gpuHours budget of team vision in workspace ml is spent until 2026-12-07 00:00 UTC.",
		"a budget message of another version": "pod n/p waits for a spent budget to reset.",
	} {
		p := ut.MakePod("p", "n").Workspace("ml", "vision").Obj()
		cond := corev1.PodCondition{Type: carvev1.PodConditionAdmitted, Status: corev1.ConditionFalse, Reason: carvev1.ReasonOverBudget, Message: msg}
		p.Status.Conditions = []corev1.PodCondition{cond}
		a, err := diagnosePod(t.Context(), nil, p)
		if err != nil {
			t.Fatal(err)
		}
		if a.Case != CaseOverBudget || a.Summary != want || a.Waiting.Parsed != (a.Waiting.Budget != nil) {
			t.Errorf("%q: case %s, summary %q, parsed %v", msg, a.Case, a.Summary, a.Waiting.Parsed)
		}
		var out strings.Builder
		printAnswer(&out, &a, func(time.Time) string { return "<age>" })
		if !strings.Contains(out.String(), "It starts when the budget resets") && a.Waiting.Parsed {
			t.Errorf("printed:\n%s", out.String())
		}
	}
}

func TestPodPools(t *testing.T) {
	one := ut.MakePod("p", "n").NodeSelector(carvev1.LabelNodePool, "cpu").Obj()
	many := ut.MakePod("p", "n").Obj()
	many.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{
			{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: carvev1.LabelNodePool, Operator: corev1.NodeSelectorOpIn, Values: []string{"gpu-b", "gpu-a"}}}},
			{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: carvev1.LabelNodePool, Operator: corev1.NodeSelectorOpIn, Values: []string{"gpu-a"}}, {Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"z"}}}},
		},
	}}}
	for _, tc := range []struct {
		pod  *corev1.Pod
		want []string
	}{{one, []string{"cpu"}}, {many, []string{"gpu-a", "gpu-b"}}, {ut.MakePod("p", "n").Obj(), nil}} {
		if diff := cmp.Diff(tc.want, carvev1.PodNodePools(tc.pod)); diff != "" {
			t.Errorf("PodNodePools (-want +got):\n%s", diff)
		}
	}
}
