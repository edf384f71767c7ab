package packing

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/test/framework"
	"github.com/carve-dev/carve/test/traces"
)

// TestReplayHandMade replays a trace whose packing MostAllocated gets right
// by construction, and checks the harness's node-hours against arithmetic.
func TestReplayHandMade(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	ctx := context.Background()
	p := mostAllocated(t)

	h := time.Hour
	half := func(name string, depart time.Duration) traces.Pod {
		return traces.Pod{Name: name, Workload: carvev1.WorkloadSession, Pool: traces.CPUPool.Name,
			Requests: traces.Resources{MilliCPU: 8000, Memory: 32 * traces.Gi}, Arrive: 0, Depart: depart}
	}
	gpu := traces.Pod{Name: "train", Workload: carvev1.WorkloadJob, Pool: traces.GPUPool.Name,
		Requests: traces.Resources{MilliCPU: 8000, Memory: 32 * traces.Gi, GPU: 1}, Arrive: h, Depart: 3 * h}
	// Four half-nodes at 0: MostAllocated puts them two by two on two
	// nodes (a and b together, since they arrive first). a and b leave at
	// 1h, emptying one node. A GPU job runs 1h–3h on a GPU node.
	tr := traces.Trace{Name: "hand-made", Horizon: 4 * h, Pods: []traces.Pod{
		half("a", h), half("b", h), half("c", traces.Forever), half("d", traces.Forever), gpu,
	}}
	r := &Replayer{Client: env.client, Headroom: headroom, Healthy: p.healthy}
	got, err := r.Replay(ctx, tr, p.SchedulerName, fmt.Sprintf("r%d", env.runs.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]PoolResult{
		"cpu": {NodeHours: 2 + 1 + 1 + 1, LowerBound: 5, PeakNodes: 2, PeakBound: 2},
		"gpu": {NodeHours: 2, LowerBound: 2, PeakNodes: 1, PeakBound: 1},
	}
	if diff := cmp.Diff(want, got.Pools); diff != "" {
		t.Errorf("pool results (-want +got):\n%s", diff)
	}
	if got.Pods != 5 || got.Steps != 3 || got.Unschedulable != 0 {
		t.Errorf("replayed %d pods in %d steps with %d unschedulable, want 5 in 3 with none", got.Pods, got.Steps, got.Unschedulable)
	}
	// Nothing of the replay is left behind.
	nodes, err := env.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: replayLabel})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 0 {
		t.Errorf("%d nodes left after the replay", len(nodes.Items))
	}
}

// TestReplayConsolidation replays a trace in which consolidation must move
// a model replica off a node whose session left, so that the node is
// released; the node-hours are checked against arithmetic, and against the
// same replay without consolidation.
func TestReplayConsolidation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	ctx := context.Background()
	p := mostAllocated(t)

	h := time.Hour
	cpu := func(name string, w carvev1.Workload, n int64, arrive, depart time.Duration) traces.Pod {
		return traces.Pod{Name: name, Workload: w, Pool: traces.CPUPool.Name,
			Requests: traces.Resources{MilliCPU: n * 1000, Memory: n * 4 * traces.Gi}, Arrive: arrive, Depart: depart}
	}
	// s1 and s2 take a node each (11 + 12 CPUs do not share 16). The model
	// arrives at 30m and MostAllocated puts it beside s2, the fuller. s2
	// leaves at 1h: its node holds only the model, which fits beside s1.
	// A GPU job at 2h makes a step at which the move shows.
	tr := traces.Trace{Name: "hand-made", Horizon: 4 * h, Pods: []traces.Pod{
		cpu("s1", carvev1.WorkloadSession, 11, 0, traces.Forever),
		cpu("s2", carvev1.WorkloadSession, 12, 0, h),
		cpu("model", carvev1.WorkloadModel, 2, 30*time.Minute, traces.Forever),
		{Name: "train", Workload: carvev1.WorkloadJob, Pool: traces.GPUPool.Name,
			Requests: traces.Resources{MilliCPU: 8000, Memory: 32 * traces.Gi, GPU: 1}, Arrive: 2 * h, Depart: traces.Forever},
	}}
	for _, tc := range []struct {
		name      string
		cons      *Consolidation
		nodeHours float64
		moved     int
	}{
		// Two CPU nodes all along.
		{"without consolidation", nil, 8, 0},
		// Two until the step at 2h, then one: the model moved at 1h.
		{"with consolidation", &Consolidation{Budget: 1, ArrivalWindow: 10 * time.Minute}, 2*2 + 1*2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Replayer{Client: env.client, Headroom: headroom, Healthy: p.healthy, Consolidation: tc.cons}
			got, err := r.Replay(ctx, tr, p.SchedulerName, fmt.Sprintf("r%d", env.runs.Add(1)))
			if err != nil {
				t.Fatal(err)
			}
			if cpu := got.Pools["cpu"]; cpu.NodeHours != tc.nodeHours {
				t.Errorf("cpu node-hours %v, want %v", cpu.NodeHours, tc.nodeHours)
			}
			cs := got.Consolidation
			if cs.Moved != tc.moved || cs.ScaleUps != 0 || cs.MovedUnschedulable != 0 {
				t.Errorf("consolidation %+v: want %d moved, no scale-up, every move placed", cs, tc.moved)
			}
			if got.Pods != len(tr.Pods) {
				t.Errorf("%d pods replayed, want %d (moves are not arrivals)", got.Pods, len(tr.Pods))
			}
		})
	}
}

// mostAllocated starts stock kube-scheduler with MostAllocated scoring on
// the shared control plane, stopped when the test ends.
func mostAllocated(t *testing.T) *schedulerProcess {
	t.Helper()
	c := cluster(t)
	binDir, err := framework.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	p, err := startScheduler(context.Background(), StockSchedulers(binDir)[1], filepath.Join(c.Dir, "packing"), c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	return p
}
