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
	c := cluster(t)
	binDir, err := framework.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	p, err := startScheduler(ctx, StockSchedulers(binDir)[1], filepath.Join(c.Dir, "packing"), c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()

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
