package traces

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

func TestNodesFor(t *testing.T) {
	node := Resources{MilliCPU: 16000, Memory: 64 * Gi}
	gpuNode := Resources{MilliCPU: 32000, Memory: 128 * Gi, GPU: 4}
	for _, tc := range []struct {
		name     string
		demand   Resources
		capacity Resources
		want     int64
	}{
		{"nothing", Resources{}, node, 0},
		{"one CPU", Resources{MilliCPU: 1000, Memory: 4 * Gi}, node, 1},
		{"exactly one node", Resources{MilliCPU: 16000, Memory: 64 * Gi}, node, 1},
		{"one millicore over", Resources{MilliCPU: 16001, Memory: 4 * Gi}, node, 2},
		{"one byte over", Resources{MilliCPU: 1000, Memory: 64*Gi + 1}, node, 2},
		{"memory dominates", Resources{MilliCPU: 16000, Memory: 200 * Gi}, node, 4},
		{"CPU dominates", Resources{MilliCPU: 50000, Memory: 10 * Gi}, node, 4},
		{"GPUs dominate", Resources{MilliCPU: 8000, Memory: 32 * Gi, GPU: 9}, gpuNode, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NodesFor(tc.demand, tc.capacity); got != tc.want {
				t.Errorf("NodesFor(%v, %v) = %d, want %d", tc.demand, tc.capacity, got, tc.want)
			}
		})
	}
}

func TestNodesForMissingResourcePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NodesFor of a GPU demand on a node without GPUs did not panic")
		}
	}()
	NodesFor(Resources{GPU: 1}, CPUPool.Capacity)
}

func cpuPod(name string, cpu, memGi int64, arrive, depart time.Duration) Pod {
	return Pod{Name: name, Workload: carvev1.WorkloadSession, Pool: CPUPool.Name,
		Requests: Resources{MilliCPU: cpu * 1000, Memory: memGi * Gi}, Arrive: arrive, Depart: depart}
}

func TestLowerBound(t *testing.T) {
	h := time.Hour
	gpuJob := Pod{Name: "g", Workload: carvev1.WorkloadJob, Pool: GPUPool.Name,
		Requests: Resources{MilliCPU: 8000, Memory: 32 * Gi, GPU: 1}, Arrive: h, Depart: 2 * h}
	for _, tc := range []struct {
		name  string
		trace Trace
		pool  Pool
		want  []Bound
		hours float64
	}{
		{
			name:  "empty trace",
			trace: Trace{Horizon: 2 * h},
			pool:  CPUPool,
			want:  []Bound{{0, 2 * h, 0}},
		},
		{
			// 0–1h: a+c = 9 CPU, 92 GiB: memory needs 2 nodes.
			// 1–2h: +b = 17 CPU, 124 GiB: 2 nodes.
			// 2–3h: a leaves: 9 CPU, 92 GiB: 2 nodes.
			// 3–4h: b leaves: 1 CPU, 60 GiB: 1 node.
			name: "dominant resource changes",
			trace: Trace{Horizon: 4 * h, Pods: []Pod{
				cpuPod("a", 8, 32, 0, 2*h),
				cpuPod("c", 1, 60, 0, Forever),
				cpuPod("b", 8, 32, h, 3*h),
			}},
			pool:  CPUPool,
			want:  []Bound{{0, h, 2}, {h, 2 * h, 2}, {2 * h, 3 * h, 2}, {3 * h, 4 * h, 1}},
			hours: 7,
		},
		{
			// At 1h one 16-CPU pod leaves as another arrives: departures
			// come first, so one node suffices throughout.
			name: "departure and arrival at the same instant",
			trace: Trace{Horizon: 2 * h, Pods: []Pod{
				cpuPod("a", 16, 8, 0, h),
				cpuPod("b", 16, 8, h, 5*h),
			}},
			pool:  CPUPool,
			want:  []Bound{{0, h, 1}, {h, 2 * h, 1}},
			hours: 2,
		},
		{
			name: "other pools and pods after the horizon do not count",
			trace: Trace{Horizon: 2 * h, Pods: []Pod{
				cpuPod("a", 4, 16, 0, 30*time.Minute),
				gpuJob,
				cpuPod("late", 16, 64, 2*h, 3*h),
			}},
			pool:  CPUPool,
			want:  []Bound{{0, 30 * time.Minute, 1}, {30 * time.Minute, h, 0}, {h, 2 * h, 0}},
			hours: 0.5,
		},
		{
			name: "GPU pool",
			trace: Trace{Horizon: 3 * h, Pods: []Pod{
				cpuPod("a", 4, 16, 0, Forever),
				gpuJob,
			}},
			pool:  GPUPool,
			want:  []Bound{{0, h, 0}, {h, 2 * h, 1}, {2 * h, 3 * h, 0}},
			hours: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.trace.Validate(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, tc.trace.Bounds(tc.pool)); diff != "" {
				t.Errorf("Bounds (-want +got):\n%s", diff)
			}
			if got := tc.trace.LowerBound(tc.pool); got != tc.hours {
				t.Errorf("LowerBound = %v node-hours, want %v", got, tc.hours)
			}
		})
	}
}
