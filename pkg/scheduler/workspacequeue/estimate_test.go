package workspacequeue

import (
	"container/heap"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/test/traces"
)

// replayEvent is a pod ending in the estimate replay.
type replayEvent struct {
	at  time.Duration
	pod *corev1.Pod
}

type replayHeap []replayEvent

func (h replayHeap) Len() int           { return len(h) }
func (h replayHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h replayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *replayHeap) Push(x any)        { *h = append(*h, x.(replayEvent)) }
func (h *replayHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// estimateErrors replays a day trace through the tracker with a workspace
// quota that makes pods wait, and returns, for every pod that waited and
// started within the trace, the absolute error of carve's estimate and of
// the naive one (position in the queue ÷ the admissions of the last hour),
// both made when the pod arrived.
func estimateErrors(seed uint64, every int) (carve, naive []time.Duration, noEstimate int) {
	waited := 0
	tr := traces.DayTrace(seed)
	// Quota: 60 % of the peak of what the trace asks at once.
	var cur, peak traces.Resources
	type change struct {
		at time.Duration
		d  traces.Resources
		up bool
	}
	var changes []change
	for _, p := range tr.Pods {
		changes = append(changes, change{p.Arrive, p.Requests, true})
		if p.Depart != traces.Forever {
			changes = append(changes, change{p.Depart, p.Requests, false})
		}
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].at < changes[j].at })
	for _, c := range changes {
		if c.up {
			cur = cur.Add(c.d)
		} else {
			cur = cur.Sub(c.d)
		}
		peak.MilliCPU, peak.GPU = max(peak.MilliCPU, cur.MilliCPU), max(peak.GPU, cur.GPU)
	}
	cpuQuota := resource.NewMilliQuantity(peak.MilliCPU*6/10, resource.DecimalSI).String()
	gpuQuota := fmt.Sprint(peak.GPU * 6 / 10)

	start := tr.Pods[0].Arrive
	var now time.Duration
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return t0.Add(now) }
	trk := newTracker(clock)
	trk.setWorkspace(ut.MakeWorkspace("ml", "small").Quota(cpuQuota, "", gpuQuota, -1).Obj())
	projects := []string{"p0", "p1", "p2", "p3", "p4", "p5"}
	for i, ns := range projects {
		trk.setNamespace(ns, identity{workspace: "ml", team: []string{"a", "b"}[i%2]})
	}
	l := lifetimes{configured: defaultLifetimes}

	var ends replayHeap
	lifetime := map[types.UID]time.Duration{}
	arrived := map[types.UID]time.Duration{}
	estimated := map[types.UID][2]time.Duration{} // carve's, naive's; -1: none
	var admissions []time.Duration
	startPod := func(p *corev1.Pod) {
		admissions = append(admissions, now)
		b := bound(p, "n")
		b.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(clock())}}
		trk.observe(b)
		if d := lifetime[p.UID]; d != traces.Forever {
			heap.Push(&ends, replayEvent{now + d, b})
		}
		if est, ok := estimated[p.UID]; ok {
			actual := now - arrived[p.UID]
			if est[0] < 0 {
				noEstimate++
			} else {
				carve = append(carve, absDuration(est[0]-actual))
			}
			if est[1] >= 0 {
				naive = append(naive, absDuration(est[1]-actual))
			}
		}
	}
	endsBefore := func(at time.Duration) {
		for ends.Len() > 0 && ends[0].at <= at {
			e := heap.Pop(&ends).(replayEvent)
			now = e.at
			_, started := trk.forget(e.pod)
			for _, p := range started {
				startPod(p)
			}
		}
	}
	for i, tp := range tr.Pods {
		endsBefore(tp.Arrive)
		now = max(now, tp.Arrive)
		h := fnv.New32a()
		h.Write([]byte(tp.Name))
		ns := projects[int(h.Sum32())%len(projects)]
		p := ut.MakePod(tp.Name, ns).UID(fmt.Sprint("uid-", i)).Workspace("ml", "").Workload(tp.Workload).
			Label(carvev1.LabelProfile, tp.Pool).Created(clock()).Obj()
		p.Spec.Containers = []corev1.Container{{Name: "main", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(tp.Requests.MilliCPU, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(tp.Requests.Memory, resource.BinarySI)}}}}
		if tp.Requests.GPU > 0 {
			p.Spec.Containers[0].Resources.Requests["nvidia.com/gpu"] = *resource.NewQuantity(tp.Requests.GPU, resource.DecimalSI)
		}
		lifetime[p.UID] = tp.Lifetime()
		arrived[p.UID] = now
		if _, ok, _ := trk.enqueue(p); ok {
			startPod(p)
			continue
		}
		if now < 0 {
			continue // warm-up: not measured
		}
		if waited++; waited%every != 0 {
			continue
		}
		est := [2]time.Duration{-1, -1}
		if at, ok := trk.estimates("ml", l)[p.UID]; ok {
			est[0] = at.Sub(clock())
		}
		position := 0
		for _, w := range trk.queue("ml") {
			position++
			if w.pod.UID == p.UID {
				break
			}
		}
		recent := 0
		for _, a := range admissions {
			if a > now-time.Hour {
				recent++
			}
		}
		if recent > 0 {
			est[1] = time.Duration(float64(position) / float64(recent) * float64(time.Hour))
		}
		estimated[p.UID] = est
	}
	endsBefore(tr.Horizon)
	_ = start
	return carve, naive, noEstimate
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*q)]
}

// TestEstimateAccuracy: on the day trace replayed against a workspace
// quota at 60 % of the peak demand, carve's estimate of when a waiting pod
// starts, made when it arrives, is off by at most half the naive estimate's
// error (position ÷ recent admission rate) at the median, and by no more at
// p90. One seed and every 4th waiting pod (the race detector makes this
// slow); BenchmarkEstimateAccuracy measures seeds 1–3 and every pod
// (docs/benchmarks.md).
func TestEstimateAccuracy(t *testing.T) {
	carve, naive, _ := estimateErrors(1, 4)
	if len(carve) < 50 {
		t.Fatalf("only %d pods waited and got an estimate", len(carve))
	}
	cm, c90, nm, n90 := quantile(carve, .5), quantile(carve, .9), quantile(naive, .5), quantile(naive, .9)
	t.Logf("%d waited; carve median %v p90 %v; naive median %v p90 %v", len(carve), cm.Round(time.Second), c90.Round(time.Second), nm.Round(time.Second), n90.Round(time.Second))
	if cm > nm/2 {
		t.Errorf("carve's median error %v is more than half the naive one's %v", cm, nm)
	}
	if c90 > n90 {
		t.Errorf("carve's p90 error %v is more than the naive one's %v", c90, n90)
	}
}

// BenchmarkEstimateAccuracy reports, for the day traces of seeds 1–3, the
// median and p90 absolute error of carve's wait estimates and of the naive
// ones, in minutes (b.N is ignored: run with -benchtime 1x).
func BenchmarkEstimateAccuracy(b *testing.B) {
	for seed := uint64(1); seed <= 3; seed++ {
		b.Run(fmt.Sprint("seed=", seed), func(b *testing.B) {
			carve, naive, none := estimateErrors(seed, 1)
			b.ReportMetric(quantile(carve, .5).Minutes(), "carve-p50-min")
			b.ReportMetric(quantile(carve, .9).Minutes(), "carve-p90-min")
			b.ReportMetric(quantile(naive, .5).Minutes(), "naive-p50-min")
			b.ReportMetric(quantile(naive, .9).Minutes(), "naive-p90-min")
			b.ReportMetric(float64(len(carve)), "waited")
			b.ReportMetric(float64(none), "no-estimate")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkEstimates is the CPU of one workspace's wait estimates (the
// status writer makes them at most every 5 s per workspace), with 100 pods
// running and 100 or 1 000 waiting, next to queue(), the ordering the
// writer already does on every flush.
func BenchmarkEstimates(b *testing.B) {
	for _, waiting := range []int{100, 1000} {
		trk := newTracker(func() time.Time { return t0 })
		trk.setWorkspace(ut.MakeWorkspace("ml", "small").Quota("100", "", "", -1).Obj())
		addTestNamespaces(trk)
		nss := []string{"alice", "bob", "nlp-1", "vision-1"}
		for i := range 100 + waiting {
			p := pod(fmt.Sprint("p", i), nss[i%len(nss)], "", i, "1")
			p.Labels[carvev1.LabelWorkload] = string([]carvev1.Workload{carvev1.WorkloadSession, carvev1.WorkloadJob}[i%2])
			trk.enqueue(p)
			if i < 100 {
				trk.observe(bound(p, "n"))
			}
		}
		l := lifetimes{configured: defaultLifetimes}
		b.Run(fmt.Sprintf("waiting=%d/estimates", waiting), func(b *testing.B) {
			for b.Loop() {
				if len(trk.estimates("ml", l)) == 0 {
					b.Fatal("no estimates")
				}
			}
		})
		b.Run(fmt.Sprintf("waiting=%d/queue", waiting), func(b *testing.B) {
			for b.Loop() {
				trk.queue("ml")
			}
		})
	}
}
