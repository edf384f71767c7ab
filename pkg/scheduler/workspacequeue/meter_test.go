package workspacequeue

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// A node of 16 CPUs and 64 GiB at 0.68 an hour, and a GPU node of 8 CPUs,
// 32 GiB and one GPU at 1.20.
var (
	cpuNode = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi")}
	gpuNode = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), "nvidia.com/gpu": resource.MustParse("1")}
)

func testRates(node string) rates {
	if node == "gpu-0" {
		return ratesOf("gpu", 1.20, true, gpuNode)
	}
	return ratesOf("cpu", 0.68, true, cpuNode)
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestRates: a pod that requests the whole node costs the node's price; the
// price splits over CPU and memory in OpenCost's proportions; a GPU costs
// most of a GPU node.
func TestRates(t *testing.T) {
	for _, tc := range []struct {
		node  string
		alloc corev1.ResourceList
		price float64
	}{{"cpu-0", cpuNode, 0.68}, {"gpu-0", gpuNode, 1.20}} {
		rt := testRates(tc.node)
		var whole amounts
		whole[resCPU], whole[resMemory] = tc.alloc.Cpu().MilliValue(), tc.alloc.Memory().Value()
		if g, ok := tc.alloc["nvidia.com/gpu"]; ok {
			whole[resGPU] = g.Value()
		}
		if got := rt.costOf(whole, 2).cost; !near(got, 2*tc.price) {
			t.Errorf("%s: the whole node for 2h costs %v, want %v", tc.node, got, 2*tc.price)
		}
		if got, want := rt.cpu/rt.memGiB, weightCPU/weightMemory; !near(got, want) {
			t.Errorf("%s: a core-hour costs %v GiB-hours, want %v", tc.node, got, want)
		}
		// More than the node never costs more than the node.
		whole[resCPU] *= 3
		if got := rt.costOf(whole, 1).cost; got > tc.price+1e-12 {
			t.Errorf("%s: 3 nodes' CPU for 1h cost %v, more than the node's %v", tc.node, got, tc.price)
		}
	}
	if got := testRates("cpu-0").gpu; got != 0 {
		t.Errorf("a GPU-hour on a node without GPUs costs %v, want no rate", got)
	}
	if got := ratesOf("", 0, false, cpuNode).costOf(amounts{resCPU: 1000}, 1); got.cost != 0 || got.cpuHours != 1 {
		t.Errorf("unpriced node: %+v, want 1 core-hour costing nothing", got)
	}
}

func meterPod(name, ns, node, cpu string, bound time.Time) *corev1.Pod {
	p := ut.MakePod(name, ns).UID("uid-"+ns+"-"+name).Workspace("ml", "").Workload(carvev1.WorkloadSession).
		Label(carvev1.LabelProfile, "small").Container("main", cpu, "4Gi").Obj()
	p.Spec.NodeName = node
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(bound)}}
	return p
}

func cost(t *testing.T, st *carvev1.WorkspaceSpend) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(st.Total.Cost, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMeterPod: a pod is metered from its binding to its end, split by
// project, profile and kind; a finished pod ends when its containers did.
func TestMeterPod(t *testing.T) {
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	m := newMeter(func() time.Time { return now }, testRates)
	id := identity{workspace: "ml", team: "vision"}
	p := meterPod("nb", "alice", "cpu-0", "4", now.Add(-time.Hour))
	m.observe(p, id)
	now = now.Add(time.Hour)
	m.checkpoint()
	// 4 of 16 CPUs and 4 of 64 GiB for 2 h.
	want := 2 * testRates("cpu-0").costOf(amounts{resCPU: 4000, resMemory: 4 << 30}, 1).cost
	st := m.report("ml")
	if got := cost(t, st); math.Abs(got-want) > 1e-6 {
		t.Errorf("cost after 2h: %v, want %v", got, want)
	}
	if st.Total.CPUHours != "8.000000" || st.Total.MemoryGiBHours != "8.000000" || st.MeteredUntil.Time != now {
		t.Errorf("totals %+v until %v, want 8 core-hours, 8 GiB-hours until %v", st.Total, st.MeteredUntil, now)
	}
	for _, l := range [][]carvev1.NamedSpend{st.Teams, st.Projects, st.Profiles, st.Kinds} {
		if len(l) != 1 || l[0].SpendAmounts != st.Total {
			t.Errorf("split %+v, want one entry equal to the total", l)
		}
	}

	// It finished 30 minutes ago; carve sees it now.
	done := p.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	done.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(now.Add(-30 * time.Minute))}}}}
	now = now.Add(time.Hour)
	m.end(done)
	m.checkpoint()
	if got := m.report("ml").Total.CPUHours; got != "8.000000" {
		t.Errorf("cpu-hours after a pod that finished before the last checkpoint: %s, want 8 (it is not counted after it ended, and what was counted stays)", got)
	}
}

// TestMeterMonthEnd: use across the end of a month goes to each month;
// the status shows the current month's.
func TestMeterMonthEnd(t *testing.T) {
	now := time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)
	m := newMeter(func() time.Time { return now }, testRates)
	m.observe(meterPod("nb", "alice", "cpu-0", "1", now), identity{workspace: "ml"})
	now = now.Add(3 * time.Hour)
	m.checkpoint()
	st := m.report("ml")
	if st.Period != "2027-01" || st.Total.CPUHours != "2.000000" {
		t.Errorf("after the month ended: period %s, %s cpu-hours; want 2027-01 with 2", st.Period, st.Total.CPUHours)
	}
}

// TestMeterResize: an in-place resize is metered at the old requests up to
// the resize, and added only at the next checkpoint.
func TestMeterResize(t *testing.T) {
	now := time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)
	m := newMeter(func() time.Time { return now }, testRates)
	id := identity{workspace: "ml"}
	p := meterPod("nb", "alice", "cpu-0", "2", now)
	m.observe(p, id)
	now = now.Add(time.Hour)
	m.observe(meterPod("nb", "alice", "cpu-0", "6", p.Status.Conditions[0].LastTransitionTime.Time), id)
	if st := m.report("ml"); st != nil && st.Total.CPUHours != "0.000000" {
		t.Errorf("a resize added %s cpu-hours before the checkpoint", st.Total.CPUHours)
	}
	now = now.Add(time.Hour)
	m.checkpoint()
	if got := m.report("ml").Total.CPUHours; got != "8.000000" {
		t.Errorf("2 CPUs for 1h then 6 for 1h: %s cpu-hours, want 8", got)
	}
}

// TestMeterRestart: a scheduler restarted in the middle of running pods,
// seeded from the status its predecessor last wrote, never counts more than
// one that never restarted, and counts less only by what pods that ended
// between that write and the crash used after the write: in the month's
// totals and in every day and month of the history alike. The runs cross
// days and a month's end.
func TestMeterRestart(t *testing.T) {
	restarts, crossed := 0, 0
	for seed := range uint64(30) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 3))
			now := time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			steady := newMeter(clock, testRates) // never restarts
			a := newMeter(clock, testRates)
			pods := map[string]*corev1.Pod{}
			id := func(p *corev1.Pod) identity {
				return identity{workspace: "ml", team: map[string]string{"alice": "vision", "bob": ""}[p.Namespace]}
			}
			var written *carvev1.WorkspaceSpend
			crashed := false
			// cpu-hours pods that ended after the last write (before the
			// crash) used after it: what a crash may lose.
			mayLose := 0.0
			crashAt := 20 + rng.IntN(150)
			for step := range 200 {
				now = now.Add(time.Duration(1+rng.IntN(120)) * time.Second)
				if rng.IntN(25) == 0 {
					now = now.Add(time.Duration(rng.IntN(8*3600)) * time.Second)
				}
				switch k := rng.IntN(10); {
				case k < 4: // a pod is bound
					name := fmt.Sprint("p", step)
					p := meterPod(name, []string{"alice", "bob"}[rng.IntN(2)], []string{"cpu-0", "gpu-0"}[rng.IntN(2)], fmt.Sprint(1+rng.IntN(4)), now)
					pods[name] = p
					steady.observe(p, id(p))
					a.observe(p, id(p))
				case k < 7 && len(pods) > 0: // a pod ends
					for name, p := range pods {
						steady.end(p)
						a.end(p)
						if written != nil && !crashed {
							from := maxTime(written.MeteredUntil.Time, p.Status.Conditions[0].LastTransitionTime.Time)
							mayLose += now.Sub(from).Hours() * float64(requestOf(p)[resCPU]) / 1000
						}
						delete(pods, name)
						break
					}
				default: // a checkpoint, and the status written
					now = now.Truncate(time.Second)
					steady.checkpoint()
					a.checkpoint()
					written = a.report("ml")
					if !crashed {
						mayLose = 0
					}
				}
				if step == crashAt && written != nil {
					// A new process: its informers list the running pods,
					// then it takes the persisted totals.
					crashed = true
					restarts++
					a = newMeter(clock, testRates)
					for _, p := range pods {
						a.observe(p, id(p))
					}
					a.seedNewer("ml", written, nil)
				}
			}
			now = now.Add(time.Minute).Truncate(time.Second)
			steady.checkpoint()
			a.checkpoint()
			got, _ := strconv.ParseFloat(a.report("ml").Total.CPUHours, 64)
			want, _ := strconv.ParseFloat(steady.report("ml").Total.CPUHours, 64)
			if got > want+1e-5 {
				t.Fatalf("the restarted meter counted %v cpu-hours, more than the steady one's %v: counted twice", got, want)
			}
			if want-got > mayLose+1e-5 {
				t.Fatalf("the restarted meter counted %v cpu-hours, %v less than the steady one, more than the %v that pods ending after the last write used", got, want-got, mayLose)
			}
			// The history: no day or month more than the steady meter's,
			// and all of them together less only by what may be lost.
			gotSt, wantSt := a.report("ml"), steady.report("ml")
			for _, h := range []struct {
				what      string
				got, want []carvev1.PeriodSpend
			}{{"days", gotSt.Days, wantSt.Days}, {"months", append(gotSt.Months, carvev1.PeriodSpend{Period: gotSt.Period, Total: gotSt.Total}),
				append(wantSt.Months, carvev1.PeriodSpend{Period: wantSt.Period, Total: wantSt.Total})}} {
				g, w := hoursOf(t, h.got), hoursOf(t, h.want)
				var gotSum, wantSum float64
				for period, v := range w {
					wv, _ := strconv.ParseFloat(v, 64)
					gv, _ := strconv.ParseFloat(g[period], 64)
					if gv > wv+1e-5 {
						t.Fatalf("%s %s: the restarted meter counted %v cpu-hours, more than the steady one's %v: counted twice", h.what, period, gv, wv)
					}
					gotSum, wantSum = gotSum+gv, wantSum+wv
				}
				for period := range g {
					if _, ok := w[period]; !ok {
						t.Fatalf("%s: the restarted meter has %s, the steady one has not", h.what, period)
					}
				}
				if wantSum-gotSum > mayLose+1e-5 {
					t.Fatalf("%s: the restarted meter counted %v cpu-hours in all, %v less than the steady one, more than the %v that may be lost", h.what, gotSum, wantSum-gotSum, mayLose)
				}
			}
			if len(wantSt.Days) > 1 {
				crossed++
			}
		})
	}
	if restarts < 20 {
		t.Errorf("only %d of 30 runs restarted", restarts)
	}
	if crossed < 20 {
		t.Errorf("only %d of 30 runs crossed a day's end", crossed)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// hoursOf is the core-hours of each period of a history list.
func hoursOf(t *testing.T, list []carvev1.PeriodSpend) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range list {
		out[p.Period] = p.Total.CPUHours
	}
	return out
}

// TestMeterDays: use is split exactly at each UTC day's end, the month's
// end included; each day and month keeps its share with its splits, and a
// week that spans the month's end keeps both months' part of it.
func TestMeterDays(t *testing.T) {
	// Sunday 2026-11-29 22:00 to Tuesday 2026-12-01 03:30 at 2 CPUs.
	now := time.Date(2026, 11, 29, 22, 0, 0, 0, time.UTC)
	m := newMeter(func() time.Time { return now }, testRates)
	m.observe(meterPod("nb", "alice", "cpu-0", "2", now), identity{workspace: "ml", team: "vision"})
	now = now.Add(29*time.Hour + 30*time.Minute)
	m.checkpoint()
	st := m.report("ml")
	want := map[string]string{"2026-11-29": "4.000000", "2026-11-30": "48.000000", "2026-12-01": "7.000000"}
	if diff := cmp.Diff(want, hoursOf(t, st.Days)); diff != "" {
		t.Errorf("core-hours by day (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"2026-11": "52.000000"}, hoursOf(t, st.Months)); diff != "" {
		t.Errorf("core-hours of earlier months (-want +got):\n%s", diff)
	}
	if st.Period != "2026-12" || st.Total.CPUHours != "7.000000" {
		t.Errorf("this month: %s with %s core-hours, want 2026-12 with 7", st.Period, st.Total.CPUHours)
	}
	for _, d := range st.Days {
		for _, l := range [][]carvev1.NamedSpend{d.Teams, d.Projects, d.Profiles, d.Kinds} {
			if len(l) != 1 || l[0].SpendAmounts != d.Total {
				t.Errorf("day %s: split %+v, want one entry equal to the day's total", d.Period, l)
			}
		}
	}
	// The week from Monday 2026-11-30: 48 + 7 core-hours.
	week := carvev1.Budget{Scope: carvev1.BudgetWorkspace, Period: carvev1.BudgetWeek}
	if got := m.used("ml", week, "", now).cpuHours; !near(got, 55) {
		t.Errorf("the week's use across the month's end: %v core-hours, want 55", got)
	}
}

// TestMeterHistoryBounded: a pod that runs for 15 months leaves the
// current day and the 35 before it, and the 12 months before the current
// one, each exact; and a history period lists at most its most names.
func TestMeterHistoryBounded(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	m := newMeter(func() time.Time { return now }, testRates)
	m.observe(meterPod("nb", "alice", "cpu-0", "1", now), identity{workspace: "ml"})
	for now.Before(start.AddDate(1, 3, 0).Add(6 * time.Hour)) {
		now = now.Add(7 * time.Hour)
		m.checkpoint()
	}
	st := m.report("ml")
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if len(st.Days) != historyDays+1 || st.Days[0].Period != today.AddDate(0, 0, -historyDays).Format("2006-01-02") || st.Days[len(st.Days)-1].Period != today.Format("2006-01-02") {
		t.Errorf("%d days from %s to %s, want %d from 35 days ago to today", len(st.Days), st.Days[0].Period, st.Days[len(st.Days)-1].Period, historyDays+1)
	}
	for _, d := range st.Days[:len(st.Days)-1] {
		if d.Total.CPUHours != "24.000000" {
			t.Errorf("day %s: %s core-hours of a pod of 1 CPU running all day, want 24", d.Period, d.Total.CPUHours)
		}
	}
	if len(st.Months) != historyMonths || st.Months[0].Period != "2026-04" || st.Months[len(st.Months)-1].Period != "2027-03" {
		t.Errorf("earlier months %v, want the 12 from 2026-04 to 2027-03", hoursOf(t, st.Months))
	}
	for _, mo := range st.Months {
		p, _ := time.Parse("2006-01", mo.Period)
		if want := strconv.FormatFloat(p.AddDate(0, 1, 0).Sub(p).Hours(), 'f', 6, 64); mo.Total.CPUHours != want {
			t.Errorf("month %s: %s core-hours, want %s", mo.Period, mo.Total.CPUHours, want)
		}
	}
	if s := m.ws["ml"]; len(s.days) != historyDays+1 || len(s.months) != historyMonths+1 {
		t.Errorf("the meter holds %d days and %d months, want %d and %d", len(s.days), len(s.months), historyDays+1, historyMonths+1)
	}
}

// TestHistoryMost: a day's split lists the names that cost most and sums
// the rest under (other), and still adds up to the total; the current
// month's lists every name.
func TestHistoryMost(t *testing.T) {
	now := time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)
	m := newMeter(func() time.Time { return now }, testRates)
	for i := range 40 {
		// Project p00 requests the most, p39 the least.
		m.observe(meterPod("nb", fmt.Sprintf("p%02d", i), "cpu-0", fmt.Sprintf("%dm", 4000-50*i), now), identity{workspace: "ml"})
	}
	now = now.Add(time.Hour)
	m.checkpoint()
	st := m.report("ml")
	if len(st.Projects) != 40 {
		t.Errorf("the month lists %d projects, want 40", len(st.Projects))
	}
	day := st.Days[0]
	var names []string
	var sum float64
	for _, p := range day.Projects {
		names = append(names, p.Name)
		v, _ := strconv.ParseFloat(p.CPUHours, 64)
		sum += v
	}
	var want []string
	want = append(want, carvev1.OtherSpend)
	for i := range historyMost["project"] - 1 {
		want = append(want, fmt.Sprintf("p%02d", i))
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("the day's projects (-want +got):\n%s", diff)
	}
	if total, _ := strconv.ParseFloat(day.Total.CPUHours, 64); math.Abs(sum-total) > 1e-6*float64(len(names)) {
		t.Errorf("the day's projects add up to %v core-hours, its total is %v", sum, total)
	}
	// Taken again after a restart, (other) stays one entry.
	r := newMeter(func() time.Time { return now }, testRates)
	r.seedNewer("ml", st, nil)
	if got := r.report("ml").Days[0].Projects; !cmp.Equal(day.Projects, got) {
		t.Errorf("after a restart the day's projects are\n%+v\nwant\n%+v", got, day.Projects)
	}
}

// TestMeterIdleMonth: a month that a checkpoint opened and no pod ran in
// is not in the history.
func TestMeterIdleMonth(t *testing.T) {
	now := time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC)
	m := newMeter(func() time.Time { return now }, testRates)
	p := meterPod("nb", "alice", "cpu-0", "1", now)
	m.observe(p, identity{workspace: "ml"})
	now = now.Add(30 * time.Minute)
	m.end(p)
	for range 50 {
		now = now.Add(24 * time.Hour)
		m.checkpoint()
	}
	st := m.report("ml")
	if diff := cmp.Diff(map[string]string{"2026-10": "0.500000"}, hoursOf(t, st.Months)); st.Period != "2026-12" || diff != "" {
		t.Errorf("in %s, earlier months (-want +got):\n%s", st.Period, diff)
	}
}
