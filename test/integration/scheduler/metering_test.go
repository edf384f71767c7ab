package scheduler_test

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// TestMeteringThroughARestart: a pod is metered from its binding to its
// deletion, at its node's share of the NodePool's price, and a restart of
// the scheduler in the middle neither loses nor counts twice what it ran.
func TestMeteringThroughARestart(t *testing.T) {
	ws := ut.MakeWorkspace("wsm", "small").Obj()
	pool := setup(t, ws, []string{"wsm-alice"}, 1, "16", "64Gi")
	np := ut.MakeNodePool(pool, carvev1.NodePoolRoleCPU, 0, 3, "16", "64Gi").Price("1.6").Obj()
	if err := cl.Create(t.Context(), np); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Delete(context.Background(), np) })

	create(t, workspacePod("wsm", "wsm-alice", "nb", pool, "4"))
	waitBound(t, "wsm-alice", "nb")
	pod, err := getPod(t.Context(), "wsm-alice", "nb")
	if err != nil {
		t.Fatal(err)
	}
	bound := condition(pod, corev1.PodScheduled).LastTransitionTime.Time

	spend := func(ctx context.Context) (*carvev1.WorkspaceSpend, error) {
		w := &carvev1.Workspace{}
		if err := cl.Get(ctx, client.ObjectKey{Name: "wsm"}, w); err != nil {
			return nil, err
		}
		return w.Status.Spend, nil
	}
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%q is not a number: %v", s, err)
		}
		return v
	}
	waitSpend := func(what string, cond func(*carvev1.WorkspaceSpend) bool) *carvev1.WorkspaceSpend {
		t.Helper()
		var last *carvev1.WorkspaceSpend
		err := wait.PollUntilContextTimeout(t.Context(), poll, timeout, true, func(ctx context.Context) (bool, error) {
			s, err := spend(ctx)
			last = s
			return err == nil && s != nil && cond(s), nil
		})
		if err != nil {
			b, _ := json.Marshal(last)
			t.Fatalf("waiting for the spend to show %s: %v; last %s", what, err, b)
		}
		return last
	}

	// Metered while it runs, at the node's rates: 4 of 16 CPUs and 1 of 64
	// GiB, the node's 1.6 an hour split in OpenCost's proportions.
	s := waitSpend("some use", func(s *carvev1.WorkspaceSpend) bool { return num(s.Total.CPUHours) > 0 })
	cpuRate := 1.6 * 0.031611 / (16*0.031611 + 64*0.004237)
	memRate := 1.6 * 0.004237 / (16*0.031611 + 64*0.004237)
	if got, want := num(s.Total.Cost), num(s.Total.CPUHours)*cpuRate+num(s.Total.MemoryGiBHours)*memRate; math.Abs(got-want) > 1e-5 {
		t.Errorf("cost %v for %s core-hours and %s GiB-hours, want %v", got, s.Total.CPUHours, s.Total.MemoryGiBHours, want)
	}
	if got, want := num(s.Total.MemoryGiBHours)*4, num(s.Total.CPUHours); math.Abs(got-want) > 1e-5 {
		t.Errorf("%s GiB-hours of a pod with 4 CPUs and 1 GiB, want a quarter of its %s core-hours", s.Total.MemoryGiBHours, s.Total.CPUHours)
	}
	if len(s.Projects) != 1 || s.Projects[0].Name != "wsm-alice" || len(s.Kinds) != 1 || s.Kinds[0].Name != string(carvev1.WorkloadJob) {
		t.Errorf("split by project %+v and kind %+v, want wsm-alice and job", s.Projects, s.Kinds)
	}

	// A restart in the middle of the pod's run.
	time.Sleep(5 * time.Second)
	stopScheduler()
	if err := startScheduler(context.Background()); err != nil {
		t.Fatalf("restarting carve-scheduler: %v", err)
	}
	restarted := time.Now()
	waitSpend("metering after the restart", func(s *carvev1.WorkspaceSpend) bool { return s.MeteredUntil.After(restarted.Add(time.Second)) })
	time.Sleep(3 * time.Second)

	deletePod(t, "wsm-alice", "nb")
	ended := time.Now()
	// Ran from its binding (to the second) to its deletion: 4 CPUs.
	want := 4 * ended.Sub(bound).Hours()
	s = waitSpend("the pod's whole run", func(s *carvev1.WorkspaceSpend) bool {
		return s.MeteredUntil.After(ended.Add(time.Second))
	})
	got := num(s.Total.CPUHours)
	// Binding times are kept to the second, and the scheduler sees the
	// deletion a moment after it: 2 s of 4 CPUs either way.
	tolerance := 4 * 2.0 / 3600
	if math.Abs(got-want) > tolerance {
		t.Errorf("the pod ran %v core-hours (%.1f s of 4 CPUs) and was metered %v (%.1f s): off by more than 2 s through the restart", want, ended.Sub(bound).Seconds(), got, got/4*3600)
	}
	// The daily history holds the same run through the restart, neither
	// lost nor counted twice: its day (two across midnight) adds up to it.
	days := 0.0
	for _, d := range s.Days {
		days += num(d.Total.CPUHours)
	}
	if len(s.Days) == 0 || math.Abs(days-want) > tolerance {
		b, _ := json.Marshal(s.Days)
		t.Errorf("the pod ran %v core-hours and the days of the history hold %v: %s", want, days, b)
	}
	t.Logf("metered %.2f s of 4 CPUs for a run of %.2f s with a restart in the middle", got/4*3600, ended.Sub(bound).Seconds())
}
