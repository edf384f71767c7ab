package run

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// cacheOptions keeps in the informers only what carve-cloudprovider reads.
// Nothing reads managedFields. Of a Node, the server and the status writer
// read metadata, spec, status conditions and allocatable (the writer
// compares it with the pool's template); a real Node's status is mostly
// the images on it (tens, with their names and sizes), and with 100 000
// Nodes in the cache every garbage collection marks them all, which is what
// the tail of the RPC latency is made of (docs/benchmarks.md). Code that
// needs more of a Node reads it live.
func cacheOptions(scheme *runtime.Scheme) cache.Options {
	return cache.Options{
		Scheme:           scheme,
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject:         map[client.Object]cache.ByObject{&corev1.Node{}: {Transform: trimNode}},
	}
}

// trimNode keeps a Node's metadata (without managedFields), its spec, and
// its status conditions and allocatable.
func trimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		// A tombstone of a deleted Node: stripped as other objects are.
		return cache.TransformStripManagedFields()(obj)
	}
	n.ManagedFields = nil
	n.Status = corev1.NodeStatus{Conditions: n.Status.Conditions, Allocatable: n.Status.Allocatable}
	return n, nil
}
