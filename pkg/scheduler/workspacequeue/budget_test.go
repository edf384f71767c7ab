package workspacequeue

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// TestBudgetHoldsAndReleases: a team's daily CPU-hour budget warns at 80 %
// and 100 %, holds the team's new pods once spent (with the reset time in
// their message) while other teams' pods start and running pods keep
// running, and releases them when the day ends.
func TestBudgetHoldsAndReleases(t *testing.T) {
	now := time.Date(2026, 12, 10, 23, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ws := ut.MakeWorkspace("ml", "small").Budget(carvev1.BudgetTeam, "vision", carvev1.BudgetDay, "cpuHours", "2").Obj()
	tr := newTracker(clock)
	tr.setWorkspace(ws)
	addTestNamespaces(tr)

	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ws)
	if err != nil {
		t.Fatal(err)
	}
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	u := &unstructured.Unstructured{Object: obj}
	u.SetAPIVersion(carvev1.GroupVersion.String())
	u.SetKind("Workspace")
	if err := store.Add(u); err != nil {
		t.Fatal(err)
	}
	var events []string
	var woken []*corev1.Pod
	mt := &metering{meter: newMeter(clock, testRates), workspaces: store,
		hold:  func(name string, spent map[scopeKey]spentBudget) { woken = append(woken, tr.setSpent(name, spent)...) },
		event: func(_ runtime.Object, typ, reason, note string) { events = append(events, typ+" "+reason+": "+note) },
	}
	tick := func(d time.Duration) {
		now = now.Add(d)
		mt.meter.checkpoint()
		mt.budgets(true)
	}

	running := bound(pod("run", "vision-1", "vision", 0, "4"), "cpu-0")
	tr.observe(running)
	mt.meter.observe(running, tr.namespace("vision-1"))
	tick(24 * time.Minute) // 1.6 of 2 cpu-hours
	if len(events) != 1 || !strings.HasPrefix(events[0], "Warning BudgetAlmostSpent: team vision of workspace ml has used 1.600000 of its day cpuHours budget of 2 (80 %)") {
		t.Fatalf("events at 80 %%: %q", events)
	}
	tick(6 * time.Minute) // 2 of 2
	if len(events) != 2 || !strings.HasPrefix(events[1], "Warning BudgetSpent:") || !strings.Contains(events[1], "its new pods wait until then") {
		t.Fatalf("events at 100 %%: %q", events)
	}
	tick(time.Minute)
	if len(events) != 2 {
		t.Errorf("warned again in the same period: %q", events[2:])
	}

	held := pod("held", "vision-1", "vision", 1, "1")
	if _, ok, v := tr.enqueue(held); ok {
		t.Fatal("a pod of a team whose budget is spent was admitted")
	} else if got, want := v.message("ml", 1), "waiting for the daily budget of team vision in workspace ml: 2.07/2 cpuHours used; it resets at 2026-12-11 00:00 UTC; running pods keep running"; got != want || v.reason() != carvev1.ReasonOverBudget {
		t.Errorf("held pod: %s %q, want OverBudget %q", v.reason(), got, want)
	}
	if _, ok, _ := tr.enqueue(pod("other", "alice", "", 2, "1")); !ok {
		t.Error("a pod of another scope waits for team vision's budget")
	}
	st := mt.meter.budgetsOf("ml")
	if len(st) != 1 || !st[0].Spent || st[0].Warned != 100 || st[0].ResetsAt.Time != time.Date(2026, 12, 11, 0, 0, 0, 0, time.UTC) {
		t.Errorf("budget status %+v", st)
	}
	c := overBudgetCondition(st, 1, 1)
	if c.Status != metav1.ConditionTrue || c.Message != "the day cpuHours budget of team vision is spent (2.07/2) until 2026-12-11 00:00 UTC; 1 pods wait for a budget" {
		t.Errorf("OverBudget condition %+v", c)
	}

	// The day ends: the held pod starts, the budget counts from zero.
	tick(30 * time.Minute)
	if len(woken) != 1 || woken[0].Name != "held" {
		t.Errorf("woken at the day's end: %v, want held", names(woken))
	}
	if st := mt.meter.budgetsOf("ml"); st[0].Spent || st[0].Warned != 0 || st[0].PeriodStart.Time != time.Date(2026, 12, 11, 0, 0, 0, 0, time.UTC) {
		t.Errorf("budget status in the new day: %+v", st[0])
	}
}

// TestBudgetSeed: a restarted scheduler takes a day budget's use from the
// status its predecessor wrote, and goes on from there.
func TestBudgetSeed(t *testing.T) {
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	b := carvev1.Budget{Scope: carvev1.BudgetProject, Period: carvev1.BudgetDay}
	q := resource.MustParse("10")
	b.CPUHours = &q
	a := newMeter(clock, testRates)
	p := bound(pod("run", "alice", "", 0, "2"), "cpu-0")
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now)}}
	a.observe(p, identity{workspace: "ml"})
	now = now.Add(time.Hour)
	a.checkpoint()
	if got := a.used("ml", b, "alice", now).cpuHours; !near(got, 2) {
		t.Fatalf("alice used %v cpu-hours today, want 2", got)
	}
	_, start, end := shortPeriodOf(periodDay, now)
	st := []carvev1.BudgetStatus{{Scope: carvev1.BudgetProject, Name: "alice", Period: carvev1.BudgetDay, Unit: "cpuHours", Used: "2.000000", Limit: "10",
		PeriodStart: metav1.NewTime(start), ResetsAt: metav1.NewTime(end)}}

	restarted := newMeter(clock, testRates)
	restarted.observe(p, identity{workspace: "ml"})
	restarted.seedNewer("ml", a.report("ml"), st)
	now = now.Add(time.Hour)
	restarted.checkpoint()
	if got := restarted.used("ml", b, "alice", now).cpuHours; !near(got, 4) {
		t.Errorf("after a restart and another hour alice used %v cpu-hours today, want 4", got)
	}
}
