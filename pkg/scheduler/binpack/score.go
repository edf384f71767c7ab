package binpack

import (
	"math"

	corev1 "k8s.io/api/core/v1"
)

// Score bands. Every node of a better band outscores every node of a worse
// one, whatever their fullness: a CPU-only pod goes to a GPU node only when
// no CPU node fits, and to a draining node only when no other node fits.
const (
	bandNormal   = 0 // [20, 100]
	bandDraining = 1 // [10, 20)
	bandGPU      = 2 // [0, 10): GPU node for a pod that asks no GPU
)

// usage is an amount of the resources a node is packed by.
type usage struct {
	milliCPU, memory int64
	// gpu is the pod's request (or the node's allocatable) of GPU resources,
	// all vendors summed.
	gpu int64
}

// nodeState is what the score needs to know about a node.
type nodeState struct {
	alloc, requested usage
	gpuNode          bool
	draining         bool
	// mix is the node's load per lifetime class, weighted by each pod's
	// dominant share of the node.
	mix [numKinds]float64
}

// fullness is the node's dominant share after the pod lands: the fullest of
// CPU, memory and (on GPU nodes, for GPU pods) GPUs, in [0, 1].
func fullness(n nodeState, pod usage) float64 {
	f := 0.0
	share := func(used, alloc int64) {
		if alloc <= 0 {
			return
		}
		if s := float64(used) / float64(alloc); s > f {
			f = s
		}
	}
	share(n.requested.milliCPU+pod.milliCPU, n.alloc.milliCPU)
	share(n.requested.memory+pod.memory, n.alloc.memory)
	if pod.gpu > 0 {
		share(n.requested.gpu+pod.gpu, n.alloc.gpu)
	}
	return math.Min(f, 1)
}

// alignment is how well the pod's lifetime class matches the load already
// on the node, in [0, 1]: 1 when every pod there is expected to end about
// when this one does, 0 on an empty node (opening a node is never a reward)
// or one holding only the most distant class.
func alignment(n nodeState, k kind, sim *[numKinds][numKinds]float64) float64 {
	total, aligned := 0.0, 0.0
	for other, w := range n.mix {
		total += w
		aligned += w * sim[k][other]
	}
	if total == 0 {
		return 0
	}
	return aligned / total
}

// score is the node's score for the pod, in [0, 100]:
//
//	base  = (100 - w) * fullness + w * alignment      (w = lifetimeWeight)
//	score = 20 + 0.8 * base    on an ordinary node
//	        10 + 0.1 * base    on a draining node
//	         0 + 0.1 * base    on a GPU node, for a pod that asks no GPU
func score(n nodeState, pod usage, k kind, weight int32, sim *[numKinds][numKinds]float64) int64 {
	w := float64(weight)
	base := (100-w)*fullness(n, pod) + w*alignment(n, k, sim)
	var s float64
	switch band(n, pod) {
	case bandNormal:
		s = 20 + 0.8*base
	case bandDraining:
		s = 10 + 0.1*base
	default:
		s = 0.1 * base
	}
	return int64(math.Round(math.Min(math.Max(s, 0), 100)))
}

func band(n nodeState, pod usage) int {
	switch {
	case n.gpuNode && pod.gpu == 0:
		return bandGPU
	case n.draining:
		return bandDraining
	default:
		return bandNormal
	}
}

// similarity of two expected lifetimes: 1 for equal ones, falling linearly
// in the log of their ratio to 0 at the ratio of the longest to the
// shortest configured lifetime.
func similarity(a, b, spread float64) float64 {
	if spread <= 0 {
		return 1
	}
	return 1 - math.Min(math.Abs(math.Log(a/b))/spread, 1)
}

func hasDrainingTaint(node *corev1.Node, key string) bool {
	for _, t := range node.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}
