// Package scheduler measures scheduling throughput, scheduler_perf-style:
// pods per second that carve-scheduler binds, against the stock
// kube-scheduler, on a real kube-apiserver and etcd holding 1000 plain Node
// objects, when 5000 pods are created as fast as the apiserver takes them.
//
// Both schedulers run in the benchmark's process through kube-scheduler's
// own Setup and Run (carve's with its plugins registered, as its binary
// does; the stock one with none), with the same client QPS, burst and
// parallelism and leader election off, so that they differ only in their
// plugins and configuration. Every measured run gets a fresh control plane.
// The sub-benchmarks alternate within each round (see
// BenchmarkSchedulingThroughput), so that a noisy machine disturbs each
// scheduler alike.
//
//	make bench-scheduler   (go test ./test/bench/scheduler -bench . -benchtime 1x -count 5)
package scheduler
