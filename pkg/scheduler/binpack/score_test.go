package binpack

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/carve-dev/carve/pkg/apis/config"
	configv1 "github.com/carve-dev/carve/pkg/apis/config/v1"
)

func defaultArgs() *config.BinPackArgs {
	v1args := &configv1.BinPackArgs{}
	configv1.SetDefaultsBinPackArgs(v1args)
	out := &config.BinPackArgs{}
	configv1.ConvertBinPackArgsToConfig(v1args, out)
	return out
}

const gi = int64(1) << 30

func cpuNode(reqCPU, reqMemGi int64, mix [numKinds]float64) nodeState {
	return nodeState{
		alloc:     usage{milliCPU: 16000, memory: 64 * gi},
		requested: usage{milliCPU: reqCPU, memory: reqMemGi * gi},
		mix:       mix,
	}
}

func TestFullnessIsDominantShareAfterPlacement(t *testing.T) {
	cases := []struct {
		name string
		n    nodeState
		pod  usage
		want float64
	}{
		{"empty node, cpu-heavy pod", cpuNode(0, 0, [numKinds]float64{}), usage{milliCPU: 4000, memory: 4 * gi}, 0.25},
		{"memory dominates", cpuNode(2000, 32, [numKinds]float64{}), usage{milliCPU: 2000, memory: 16 * gi}, 0.75},
		{"capped at 1", cpuNode(16000, 0, [numKinds]float64{}), usage{milliCPU: 1000}, 1},
		{"GPUs count for GPU pods", nodeState{alloc: usage{milliCPU: 8000, memory: 64 * gi, gpu: 4}, requested: usage{gpu: 2}}, usage{milliCPU: 1000, memory: gi, gpu: 1}, 0.75},
	}
	for _, tc := range cases {
		if got := fullness(tc.n, tc.pod); got != tc.want {
			t.Errorf("%s: fullness = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestScoreOrdersNodes(t *testing.T) {
	pl := newPlugin(defaultArgs())
	session := usage{milliCPU: 2000, memory: 8 * gi}
	gpuNode := nodeState{alloc: usage{milliCPU: 16000, memory: 64 * gi, gpu: 4}, requested: usage{milliCPU: 14000, memory: 56 * gi}, gpuNode: true}
	drain := cpuNode(12000, 0, [numKinds]float64{kindSession: 0.75})
	drain.draining = true
	type cand struct {
		name string
		n    nodeState
	}
	cases := []struct {
		name string
		pod  usage
		kind kind
		// best first
		order []cand
	}{{
		name: "fuller node first, empty node last of the ordinary ones",
		pod:  session, kind: kindSession,
		order: []cand{
			{"half full of sessions", cpuNode(8000, 0, [numKinds]float64{kindSession: 0.5})},
			{"quarter full of sessions", cpuNode(4000, 0, [numKinds]float64{kindSession: 0.25})},
			{"empty", cpuNode(0, 0, [numKinds]float64{})},
			{"draining, nearly full", drain},
			{"GPU node, nearly full", gpuNode},
		},
	}, {
		name: "a job goes with jobs rather than with models on an equally full node",
		pod:  usage{milliCPU: 1000, memory: gi}, kind: kindJob,
		order: []cand{
			{"jobs", cpuNode(8000, 0, [numKinds]float64{kindJob: 0.5})},
			{"sessions", cpuNode(8000, 0, [numKinds]float64{kindSession: 0.5})},
			{"models", cpuNode(8000, 0, [numKinds]float64{kindModel: 0.5})},
		},
	}, {
		name: "a model endpoint joins the models",
		pod:  usage{milliCPU: 2000, memory: 4 * gi}, kind: kindModel,
		order: []cand{
			{"models, 40% full", cpuNode(6400, 0, [numKinds]float64{kindModel: 0.4})},
			{"sessions, 45% full", cpuNode(7200, 0, [numKinds]float64{kindSession: 0.45})},
			{"jobs, 50% full", cpuNode(8000, 0, [numKinds]float64{kindJob: 0.5})},
		},
	}, {
		name: "fullness still wins by a wide enough margin",
		pod:  usage{milliCPU: 1000, memory: gi}, kind: kindJob,
		order: []cand{
			{"models, 90% full", cpuNode(14400, 0, [numKinds]float64{kindModel: 0.9})},
			{"jobs, 10% full", cpuNode(1600, 0, [numKinds]float64{kindJob: 0.1})},
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prev := int64(101)
			for _, c := range tc.order {
				s := score(c.n, tc.pod, tc.kind, pl.args.LifetimeWeight, &pl.sim)
				if s < 0 || s > 100 {
					t.Fatalf("%s: score %d out of [0, 100]", c.name, s)
				}
				if s >= prev {
					t.Errorf("%s scored %d, not below the node before it (%d)", c.name, s, prev)
				}
				prev = s
			}
		})
	}
}

func TestGPUPodPrefersGPUNode(t *testing.T) {
	pl := newPlugin(defaultArgs())
	pod := usage{milliCPU: 4000, memory: 16 * gi, gpu: 1}
	gpu := nodeState{alloc: usage{milliCPU: 16000, memory: 64 * gi, gpu: 4}, gpuNode: true}
	if s := score(gpu, pod, kindJob, pl.args.LifetimeWeight, &pl.sim); s < 20 {
		t.Errorf("GPU pod on an empty GPU node scored %d, want the ordinary band (>= 20)", s)
	}
}

func TestSimilarity(t *testing.T) {
	pl := newPlugin(defaultArgs())
	if pl.sim[kindJob][kindJob] != 1 || pl.sim[kindModel][kindModel] != 1 {
		t.Error("a class is not fully similar to itself")
	}
	if got := pl.sim[kindJob][kindModel]; got != 0 {
		t.Errorf("job/model similarity %v, want 0 (the two ends of the range)", got)
	}
	// A session (4h) is closer to a job (30m) than to a model (168h).
	if s, j, m := pl.sim[kindSession][kindSession], pl.sim[kindSession][kindJob], pl.sim[kindSession][kindModel]; !(s > j && j > m) {
		t.Errorf("session similarities not ordered: self %v job %v model %v", s, j, m)
	}
	args := defaultArgs()
	for k := range args.Lifetimes {
		args.Lifetimes[k] = metav1.Duration{Duration: time.Hour}
	}
	if got := newPlugin(args).sim[kindJob][kindModel]; got != 1 {
		t.Errorf("with equal lifetimes job/model similarity = %v, want 1", got)
	}
}

// A node whose GPUs are MIG slices is a GPU node, and a pod asking for a
// slice needs a GPU, by the same definition the pod contract and the quota
// use; a configured gpuResources list overrides it.
func TestGPUResourcesOneDefinition(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mig"}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi"),
		"nvidia.com/mig-1g.5gb": resource.MustParse("7"), "example.com/fpga": resource.MustParse("2"),
	}}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), "nvidia.com/mig-1g.5gb": resource.MustParse("2")},
		Limits:   corev1.ResourceList{"nvidia.com/mig-1g.5gb": resource.MustParse("2")},
	}}}}}
	ni := framework.NewNodeInfo()
	ni.SetNode(node)

	pl := newPlugin(defaultArgs())
	if n := pl.nodeState(ni, node); !n.gpuNode || n.alloc.gpu != 7 {
		t.Errorf("MIG node: gpuNode=%v alloc.gpu=%d, want a GPU node with 7 GPUs", n.gpuNode, n.alloc.gpu)
	}
	if u := pl.request(pod); u.gpu != 2 {
		t.Errorf("a pod asking for 2 MIG slices needs %d GPUs, want 2", u.gpu)
	}

	args := defaultArgs()
	args.GPUResources = []corev1.ResourceName{"example.com/fpga"}
	pl = newPlugin(args)
	if n := pl.nodeState(ni, node); !n.gpuNode || n.alloc.gpu != 2 {
		t.Errorf("with gpuResources [example.com/fpga]: gpuNode=%v alloc.gpu=%d, want 2 from the listed resource only", n.gpuNode, n.alloc.gpu)
	}
}

// The per-node cache forgets nodes it has not computed for a while, so
// nodes that come and go leave nothing behind.
func TestNodeCacheIsSwept(t *testing.T) {
	pl := newPlugin(defaultArgs())
	now := time.Unix(1_800_000_000, 0)
	pl.now = func() time.Time { return now }
	info := func(name string) *framework.NodeInfo {
		ni := framework.NewNodeInfo()
		ni.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
		return ni
	}
	for i := range 100 {
		pl.mix(info(fmt.Sprint("gone-", i)), usage{milliCPU: 1000, memory: gi})
	}
	now = now.Add(11 * time.Minute)
	pl.mix(info("stays"), usage{milliCPU: 1000, memory: gi})
	n := 0
	pl.nodes.Range(func(k, _ any) bool { n++; return true })
	if n != 1 {
		t.Errorf("%d cache entries after the sweep, want 1 (the node computed just now)", n)
	}
}
