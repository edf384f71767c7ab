// Package traces generates reference workloads for carve's scheduling
// benchmarks: a seeded, deterministic day of the work a CML-like ML platform
// runs — notebook sessions of 1/2/4/8 CPU that last hours, batch jobs that
// last minutes, a few GPU jobs, and model endpoints that live for days — with
// a working-hours arrival rate, and a static variant where everything arrives
// at once.
//
// It also owns the yardstick such benchmarks are read against: the lower
// bound of node-hours a pool needs, which at each instant is the number of
// nodes that the pool's demand in its dominant resource fills
// (NodesFor), integrated over time (Trace.LowerBound). No scheduler can use
// fewer nodes, since no pod spans two.
//
// Everything here is pure data and arithmetic; test/bench/packing replays a
// trace through a real scheduler and apiserver.
package traces
