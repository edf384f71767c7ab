// Package packing measures how well a scheduler packs ML work onto nodes: it
// replays a trace from test/traces through a real kube-scheduler (any
// binary with any KubeSchedulerConfiguration: stock, or carve-scheduler) and
// a real kube-apiserver and etcd, in compressed virtual time, and reports the
// node-hours the trace kept in use against the trace's lower bound.
//
// The node model is an instant autoscaler with a little headroom (see
// Replayer): a node holding no pod counts as released at once; before each
// step every pool that has arrivals offers exactly enough empty nodes to hold
// them by their lower bound, plus Headroom more; a pod that still finds no
// room gets a node added for it. Nodes are plain Node objects; no kubelet or
// kwok runs, since binding is all that is measured.
//
// With Replayer.Consolidation set, carve's consolidation planner runs
// between steps, in virtual time (see Consolidation): the configuration
// carve-consolidation of BenchmarkPacking.
//
// Every configuration scores all nodes (percentageOfNodesToScore 100 unless
// its configuration says otherwise), so that what is compared is how nodes
// are scored, not how many are sampled.
//
//	make bench-packing   (go test ./test/bench/packing -bench BenchmarkPacking -benchtime 1x)
package packing
