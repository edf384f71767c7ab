package workspacequeue

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

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
// between that write and the crash used after the write.
func TestMeterRestart(t *testing.T) {
	restarts := 0
	for seed := range uint64(30) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 3))
			now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
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
		})
	}
	if restarts < 20 {
		t.Errorf("only %d of 30 runs restarted", restarts)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
