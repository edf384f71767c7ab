package kubectlcarve

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// schedulerMessage writes w in the format of carve-scheduler's
// verdict.message (pkg/scheduler/workspacequeue/quota.go), which
// pkg/scheduler/workspacequeue's TestMessagesParse holds this parser to.
func schedulerMessage(w Waiting) string {
	if bw := w.Budget; bw != nil {
		whose := "workspace " + w.Workspace
		switch w.Scope {
		case ScopeTeam:
			whose = "team " + w.Team + " in workspace " + w.Workspace
		case ScopeProject:
			whose = "namespace " + w.Namespace + " in workspace " + w.Workspace
		}
		period := map[string]string{"Day": "daily", "Week": "weekly", "Month": "monthly"}[bw.Period]
		return fmt.Sprintf("waiting for the %s budget of %s: %s/%s %s used; it resets at %s; running pods keep running",
			period, whose, bw.Used, bw.Limit, bw.Unit, bw.ResetsAt.UTC().Format("2006-01-02 15:04 MST"))
	}
	var b strings.Builder
	switch w.Scope {
	case ScopeNamespace:
		return fmt.Sprintf("waiting for carve-scheduler to see namespace %s, which tells the pod's workspace; this takes a moment", w.Namespace)
	case ScopeWorkspace:
		fmt.Fprintf(&b, "waiting for workspace %s quota", w.Workspace)
	case ScopeTeam:
		fmt.Fprintf(&b, "waiting for team %s quota in workspace %s", w.Team, w.Workspace)
	case ScopeProject:
		fmt.Fprintf(&b, "waiting for the project quota of namespace %s in workspace %s", w.Namespace, w.Workspace)
	}
	fmt.Fprintf(&b, ": needs %s %s", w.Resource, w.Need)
	if w.NeverFits {
		fmt.Fprintf(&b, ", more than the whole quota of %s: ask an admin to raise it or pick a smaller profile", w.Quota)
		return b.String()
	}
	fmt.Fprintf(&b, ", %s/%s in use", w.InUse, w.Quota)
	if w.Position > 0 {
		fmt.Fprintf(&b, "; %s in queue", ordinal(w.Position))
	}
	switch {
	case w.StartsSoon:
		b.WriteString("; expected to start within minutes")
	case w.ExpectedStart != nil:
		fmt.Fprintf(&b, "; expected to start around %s", w.ExpectedStart.UTC().Format("2006-01-02 15:04 MST"))
	}
	return b.String()
}

func TestParseWaiting(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want Waiting
		ok   bool
	}{
		{
			msg:  "waiting for the project quota of namespace ml-alice in workspace ml-team: needs cpu 1, 2/2 in use; 1st in queue",
			want: Waiting{Scope: ScopeProject, Namespace: "ml-alice", Workspace: "ml-team", Resource: "cpu", Need: "1", InUse: "2", Quota: "2", Position: 1},
			ok:   true,
		},
		{
			msg:  "waiting for workspace ml-team quota: needs gpu 2, 3/4 in use; 13th in queue",
			want: Waiting{Scope: ScopeWorkspace, Workspace: "ml-team", Resource: "gpu", Need: "2", InUse: "3", Quota: "4", Position: 13},
			ok:   true,
		},
		{
			msg:  "waiting for team vision quota in workspace ml-team: needs memory 1536Mi, 63Gi/64Gi in use; 22nd in queue",
			want: Waiting{Scope: ScopeTeam, Team: "vision", Workspace: "ml-team", Resource: "memory", Need: "1536Mi", InUse: "63Gi", Quota: "64Gi", Position: 22},
			ok:   true,
		},
		{
			msg:  "waiting for workspace w quota: needs cpu 500m, 7800m/8 in use",
			want: Waiting{Scope: ScopeWorkspace, Workspace: "w", Resource: "cpu", Need: "500m", InUse: "7800m", Quota: "8"},
			ok:   true,
		},
		{
			msg:  "waiting for workspace ml-team quota: needs gpu 8, more than the whole quota of 4: ask an admin to raise it or pick a smaller profile",
			want: Waiting{Scope: ScopeWorkspace, Workspace: "ml-team", Resource: "gpu", Need: "8", Quota: "4", NeverFits: true},
			ok:   true,
		},
		{
			msg:  "waiting for carve-scheduler to see namespace ml-new, which tells the pod's workspace; this takes a moment",
			want: Waiting{Scope: ScopeNamespace, Namespace: "ml-new"},
			ok:   true,
		},
		{
			msg: "waiting for the daily budget of team vision in workspace ml-team: 40/40 gpuHours used; it resets at 2026-12-05 00:00 UTC; running pods keep running",
			want: Waiting{Scope: ScopeTeam, Team: "vision", Workspace: "ml-team",
				Budget: &BudgetWait{Period: "Day", Unit: "gpuHours", Used: "40", Limit: "40", ResetsAt: metav1.NewTime(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))}},
			ok: true,
		},
		{
			msg: "waiting for the monthly budget of workspace w: 2000.5/2000 cost used; it resets at 2027-01-01 00:00 UTC; running pods keep running",
			want: Waiting{Scope: ScopeWorkspace, Workspace: "w",
				Budget: &BudgetWait{Period: "Month", Unit: "cost", Used: "2000.5", Limit: "2000", ResetsAt: metav1.NewTime(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))}},
			ok: true,
		},
		{
			msg: "waiting for the weekly budget of namespace ml-alice in workspace ml-team: 0/0 cpuHours used; it resets at 2026-12-07 00:00 UTC; running pods keep running",
			want: Waiting{Scope: ScopeProject, Namespace: "ml-alice", Workspace: "ml-team",
				Budget: &BudgetWait{Period: "Week", Unit: "cpuHours", Used: "0", Limit: "0", ResetsAt: metav1.NewTime(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))}},
			ok: true,
		},
		// Not the scheduler's budgets: an unknown period or unit, a month
		// 13, trailing zeros.
		{msg: "waiting for the hourly budget of workspace w: 0/0 cost used; it resets at 2026-12-07 00:00 UTC; running pods keep running"},
		{msg: "waiting for the daily budget of workspace w: 0/0 memoryHours used; it resets at 2026-12-07 00:00 UTC; running pods keep running"},
		{msg: "waiting for the daily budget of workspace w: 0/0 cost used; it resets at 2026-13-07 00:00 UTC; running pods keep running"},
		{msg: "waiting for the daily budget of workspace w: 1.50/2 cost used; it resets at 2026-12-07 00:00 UTC; running pods keep running"},
		// Not the scheduler's: a wrong ordinal, a leading zero, an
		// unknown resource, a trailing word.
		{msg: "waiting for workspace w quota: needs cpu 1, 2/2 in use; 2st in queue"},
		{msg: "waiting for workspace w quota: needs cpu 1, 2/2 in use; 01st in queue"},
		{msg: "waiting for workspace w quota: needs disk 1, 2/2 in use"},
		{msg: "waiting for workspace w quota: needs cpu 1, 2/2 in use; 1st in queue!"},
		{msg: ""},
	} {
		got, ok := ParseWaiting(tc.msg)
		if ok != tc.ok {
			t.Errorf("ParseWaiting(%q) ok = %v, want %v", tc.msg, ok, tc.ok)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseWaiting(%q) (-want +got):\n%s", tc.msg, diff)
		}
		if ok && schedulerMessage(got) != tc.msg {
			t.Errorf("ParseWaiting(%q) does not write back: %q", tc.msg, schedulerMessage(got))
		}
	}
}

func TestShort(t *testing.T) {
	for msg, want := range map[string]string{
		"waiting for the project quota of namespace ml-alice in workspace ml-team: needs cpu 1, 2/2 in use; 1st in queue":                      "project ml-alice: cpu 2/2 in use",
		"waiting for team vision quota in workspace ml-team: needs gpu 1, 4/4 in use; 2nd in queue":                                            "team vision: gpu 4/4 in use",
		"waiting for workspace ml-team quota: needs gpu 8, more than the whole quota of 4: ask an admin to raise it or pick a smaller profile": "workspace: gpu 8 > quota 4, never fits",
		"waiting for carve-scheduler to see namespace ml-new, which tells the pod's workspace; this takes a moment":                            "namespace ml-new not seen by carve-scheduler yet",
		"waiting for the daily budget of workspace w: 0/0 cost used; it resets at 2026-12-05 00:00 UTC; running pods keep running":             "workspace: daily cost budget 0/0 used, resets 2026-12-05 00:00 UTC",
	} {
		w, ok := ParseWaiting(msg)
		if !ok {
			t.Fatalf("ParseWaiting(%q) failed", msg)
		}
		if got := w.Short(); got != want {
			t.Errorf("Short of %q = %q, want %q", msg, got, want)
		}
	}
}

// FuzzParseWaiting: ParseWaiting never panics; what it accepts writes back
// to the same message (it reads only the scheduler's format, and all of
// it); and every message the scheduler's format makes of fuzzed names,
// amounts and places is read back to the fields it was made of.
func FuzzParseWaiting(f *testing.F) {
	f.Add("waiting for workspace ml-team quota: needs gpu 2, 3/4 in use; 3rd in queue", uint8(0), "ml-team", "vision", int64(1500), int64(3000), int64(4000), uint32(3))
	f.Add("waiting for team t quota in workspace w: needs memory 1Gi, 1Gi/2Gi in use", uint8(1), "w", "t", int64(1<<30), int64(1<<30), int64(2<<30), uint32(0))
	f.Add("waiting for carve-scheduler to see namespace n, which tells the pod's workspace; this takes a moment", uint8(3), "n", "", int64(0), int64(0), int64(0), uint32(111))
	f.Add("", uint8(2), "ml-alice", "ml-team", int64(8), int64(1), int64(4), uint32(12))
	f.Fuzz(func(t *testing.T, msg string, scope uint8, name1, name2 string, need, used, max int64, pos uint32) {
		if w, ok := ParseWaiting(msg); ok {
			if back := schedulerMessage(w); back != msg {
				t.Fatalf("ParseWaiting(%q) = %+v, which writes back as %q", msg, w, back)
			}
			if w.Position < 0 || (w.Scope != ScopeNamespace && w.Workspace == "") {
				t.Fatalf("ParseWaiting(%q) = %+v", msg, w)
			}
		}

		// A message of the scheduler's format round-trips.
		r := []string{"cpu", "memory", "gpu", "pods"}[int(scope)%4]
		amt := func(n int64) string {
			if n < 0 {
				n = -n
			}
			n %= 1 << 50
			switch r {
			case "cpu":
				return resource.NewMilliQuantity(n, resource.DecimalSI).String()
			case "memory":
				return resource.NewQuantity(n, resource.BinarySI).String()
			}
			return fmt.Sprint(n)
		}
		want := Waiting{Resource: r, Need: amt(need), Quota: amt(max)}
		ws, other := dnsLabel(name1), dnsLabel(name2)
		switch scope % 4 {
		case 0:
			want.Scope, want.Workspace = ScopeWorkspace, ws
		case 1:
			want.Scope, want.Workspace, want.Team = ScopeTeam, ws, other
		case 2:
			want.Scope, want.Workspace, want.Namespace = ScopeProject, ws, other
		case 3:
			want = Waiting{Scope: ScopeNamespace, Namespace: other}
		}
		if want.Scope != ScopeNamespace && (scope/8)%2 == 1 {
			// A budget's amounts as the scheduler writes them: millionths
			// to at most 2 places, trailing zeros dropped.
			dec := func(n int64) string {
				if n < 0 {
					n = -n
				}
				out := strconv.FormatFloat(float64(n%(1<<50))/1e6, 'f', 2, 64)
				return strings.TrimSuffix(strings.TrimRight(out, "0"), ".")
			}
			resets := time.Unix(int64(pos%100_000_000)*60, 0).UTC()
			want = Waiting{Scope: want.Scope, Workspace: want.Workspace, Team: want.Team, Namespace: want.Namespace,
				Budget: &BudgetWait{Period: []string{"Day", "Week", "Month"}[int(scope/16)%3], Unit: []string{"cpuHours", "gpuHours", "cost"}[int(need%3+3)%3],
					Used: dec(used), Limit: dec(max), ResetsAt: metav1.NewTime(resets)}}
		} else if want.Scope != ScopeNamespace {
			if (scope/4)%2 == 1 {
				want.NeverFits = true
			} else {
				want.InUse, want.Position = amt(used), int(pos%1_000_000)
				switch (scope / 64) % 3 {
				case 1:
					want.StartsSoon = true
				case 2:
					at := metav1.NewTime(time.Unix(int64(pos%100_000_000)*300, 0).UTC())
					want.ExpectedStart = &at
				}
			}
		}
		m := schedulerMessage(want)
		got, ok := ParseWaiting(m)
		if !ok {
			t.Fatalf("ParseWaiting(%q) failed", m)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("ParseWaiting(%q) (-want +got):\n%s", m, diff)
		}
	})
}

// dnsLabel makes a namespace, workspace or team name of s: lower-case
// letters, digits and '-', 1 to 63 characters, starting and ending with a
// letter or digit.
func dnsLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() == 63 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		return "x"
	}
	return out
}
