package binpack

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	resourcehelper "k8s.io/component-helpers/resource"
	fwk "k8s.io/kube-scheduler/framework"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/apis/config"
	"github.com/carve-dev/carve/pkg/apis/config/validation"
)

// Name is the plugin's name in the scheduler configuration.
const Name = "BinPack"

// kind is a lifetime class: the carve.dev/workload label of a pod.
type kind int

const (
	kindSession kind = iota
	kindJob
	kindModel
	kindOther
	numKinds
)

var kindNames = [numKinds]string{
	string(carvev1.WorkloadSession), string(carvev1.WorkloadJob), string(carvev1.WorkloadModel), string(carvev1.WorkloadOther),
}

func kindOf(pod *corev1.Pod) kind {
	switch carvev1.Workload(pod.Labels[carvev1.LabelWorkload]) {
	case carvev1.WorkloadSession:
		return kindSession
	case carvev1.WorkloadJob:
		return kindJob
	case carvev1.WorkloadModel:
		return kindModel
	}
	return kindOther
}

// BinPack scores nodes so that pods pack onto as few nodes as possible and
// nodes empty out whole: fuller nodes first, nodes whose pods will end about
// when this one does first, GPU nodes last for pods that need no GPU,
// draining nodes last of all but those.
type BinPack struct {
	args *config.BinPackArgs
	// gpu says whether a resource is a GPU: in args.GPUResources when that
	// is set, else carvev1.IsGPUResource. Answers are memoized: Score asks
	// for every scalar resource of every node.
	gpu func(corev1.ResourceName) bool
	sim [numKinds][numKinds]float64

	// nodes caches each node's lifetime mix by node generation, which
	// changes whenever a pod lands on or leaves the node.
	nodes sync.Map // node name -> *cachedMix
	// lastSweep is when nodes was last swept of old entries (unix seconds).
	lastSweep atomic.Int64
	now       func() time.Time
}

type cachedMix struct {
	generation int64
	mix        [numKinds]float64
	// stored is when the entry was computed (unix seconds); sweep drops
	// old entries so that deleted nodes leave nothing behind.
	stored int64
}

// sweepEvery is how often, and how old, cache entries are dropped. An entry
// of a node that still exists is just computed again when next needed.
const sweepEvery = 10 * 60 // seconds

var (
	_ fwk.PreScorePlugin = (*BinPack)(nil)
	_ fwk.ScorePlugin    = (*BinPack)(nil)
	_ fwk.SignPlugin     = (*BinPack)(nil)
)

// New builds the plugin from validated args.
func New(_ context.Context, obj runtime.Object, _ fwk.Handle) (fwk.Plugin, error) {
	args, ok := obj.(*config.BinPackArgs)
	if !ok {
		return nil, fmt.Errorf("%s: want args of type BinPackArgs, got %T", Name, obj)
	}
	if err := validation.ValidateBinPackArgs(field.NewPath("args"), args); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	return newPlugin(args), nil
}

func newPlugin(args *config.BinPackArgs) *BinPack {
	pl := &BinPack{args: args, gpu: gpuResources(args.GPUResources), now: time.Now}
	var life [numKinds]float64
	lo, hi := math.Inf(1), 0.0
	for k, name := range kindNames {
		life[k] = float64(args.Lifetimes[name].Duration) / float64(time.Second)
		lo, hi = math.Min(lo, life[k]), math.Max(hi, life[k])
	}
	spread := math.Log(hi / lo)
	for a := range numKinds {
		for b := range numKinds {
			pl.sim[a][b] = similarity(life[a], life[b], spread)
		}
	}
	return pl
}

// Name returns the plugin's name.
func (pl *BinPack) Name() string { return Name }

const stateKey fwk.StateKey = Name

// podState is the pod's request and class, computed once per cycle.
type podState struct {
	req  usage
	kind kind
}

func (s *podState) Clone() fwk.StateData { return s }

func (pl *BinPack) request(pod *corev1.Pod) usage {
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{UseStatusResources: true, InPlacePodLevelResourcesVerticalScalingEnabled: true})
	u := usage{milliCPU: reqs.Cpu().MilliValue(), memory: reqs.Memory().Value()}
	for name, q := range reqs {
		if pl.gpu(name) {
			u.gpu += q.Value()
		}
	}
	return u
}

// PreScore computes the pod's request and lifetime class.
func (pl *BinPack) PreScore(_ context.Context, state fwk.CycleState, pod *corev1.Pod, _ []fwk.NodeInfo) *fwk.Status {
	state.Write(stateKey, &podState{req: pl.request(pod), kind: kindOf(pod)})
	return nil
}

// Score is documented in score.go and the package README.
func (pl *BinPack) Score(_ context.Context, state fwk.CycleState, pod *corev1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	ps := &podState{}
	if data, err := state.Read(stateKey); err == nil {
		if s, ok := data.(*podState); ok {
			ps = s
		}
	} else {
		ps = &podState{req: pl.request(pod), kind: kindOf(pod)}
	}
	node := nodeInfo.Node()
	if node == nil {
		return 0, fwk.NewStatus(fwk.Error, "node not found")
	}
	return score(pl.nodeState(nodeInfo, node), ps.req, ps.kind, pl.args.LifetimeWeight, &pl.sim), nil
}

func (pl *BinPack) nodeState(nodeInfo fwk.NodeInfo, node *corev1.Node) nodeState {
	alloc, req := nodeInfo.GetAllocatable(), nodeInfo.GetRequested()
	n := nodeState{
		alloc:     usage{milliCPU: alloc.GetMilliCPU(), memory: alloc.GetMemory()},
		requested: usage{milliCPU: req.GetMilliCPU(), memory: req.GetMemory()},
		draining:  hasDrainingTaint(node, pl.args.DrainingTaintKey),
	}
	allocScalar, reqScalar := alloc.GetScalarResources(), req.GetScalarResources()
	for name, q := range allocScalar {
		if pl.gpu(name) {
			n.alloc.gpu += q
			n.requested.gpu += reqScalar[name]
		}
	}
	n.gpuNode = n.alloc.gpu > 0
	n.mix = pl.mix(nodeInfo, n.alloc)
	return n
}

// gpuResources is the GPU test of a BinPack configured with names (empty:
// carve's definition).
func gpuResources(names []corev1.ResourceName) func(corev1.ResourceName) bool {
	if len(names) > 0 {
		set := map[corev1.ResourceName]bool{}
		for _, n := range names {
			set[n] = true
		}
		return func(n corev1.ResourceName) bool { return set[n] }
	}
	var memo sync.Map // corev1.ResourceName -> bool
	return func(n corev1.ResourceName) bool {
		if v, ok := memo.Load(n); ok {
			return v.(bool)
		}
		v := carvev1.IsGPUResource(n)
		memo.Store(n, v)
		return v
	}
}

// mix is the node's load per lifetime class; cached by node generation.
func (pl *BinPack) mix(nodeInfo fwk.NodeInfo, alloc usage) [numKinds]float64 {
	name, gen := nodeInfo.Node().Name, nodeInfo.GetGeneration()
	if c, ok := pl.nodes.Load(name); ok && c.(*cachedMix).generation == gen {
		return c.(*cachedMix).mix
	}
	var mix [numKinds]float64
	for _, pi := range nodeInfo.GetPods() {
		// The scheduler caches each pod's requests in its PodInfo; summing
		// PodRequests again here was a quarter of carve-scheduler's CPU in
		// the throughput benchmark, since every bind changes the generation.
		r := pi.CalculateResource().Resource
		w := 0.0
		if alloc.milliCPU > 0 {
			w = float64(r.GetMilliCPU()) / float64(alloc.milliCPU)
		}
		if alloc.memory > 0 {
			w = math.Max(w, float64(r.GetMemory())/float64(alloc.memory))
		}
		mix[kindOf(pi.GetPod())] += w
	}
	now := pl.now().Unix()
	pl.nodes.Store(name, &cachedMix{generation: gen, mix: mix, stored: now})
	if last := pl.lastSweep.Load(); now-last >= sweepEvery && pl.lastSweep.CompareAndSwap(last, now) {
		pl.nodes.Range(func(k, v any) bool {
			if now-v.(*cachedMix).stored >= sweepEvery {
				pl.nodes.Delete(k)
			}
			return true
		})
	}
	return mix
}

// ScoreExtensions is nil: scores are already in [0, 100].
func (pl *BinPack) ScoreExtensions() fwk.ScoreExtensions { return nil }

// SignPod puts everything Score reads from the pod in its signature, so
// kube-scheduler's opportunistic batching stays on: the pod's requests and
// its workload label.
func (pl *BinPack) SignPod(_ context.Context, pod *corev1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	r := pl.request(pod)
	return []fwk.SignFragment{
		{Key: "carve.dev/BinPack.Request()", Value: [3]int64{r.milliCPU, r.memory, r.gpu}},
		{Key: "v1.Pod.Labels[carve.dev/workload]", Value: pod.Labels[carvev1.LabelWorkload]},
	}, nil
}
