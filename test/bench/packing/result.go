package packing

import (
	"math"
	"time"
)

// Result is what one replay measured.
type Result struct {
	// Pools holds the figures of each pool, by name.
	Pools map[string]PoolResult
	// Steps and Pods count the instants and pods replayed.
	Steps, Pods int
	// NodesCreated counts the Node objects created.
	NodesCreated int
	// Unschedulable counts the pods that found no room among the offered
	// nodes and were given a node of their own.
	Unschedulable int
	// Revived counts nodes deleted at a step's start that the scheduler
	// nevertheless bound a pod to (it had not yet seen the deletion); they
	// are created again and counted as in use.
	Revived int
	// Consolidation is what carve's consolidation did, when it ran.
	Consolidation ConsolidationStats
	// Elapsed is the wall time of the replay.
	Elapsed time.Duration
}

// PoolResult holds one pool's figures.
type PoolResult struct {
	// NodeHours integrates the number of nodes in use over the horizon;
	// LowerBound is the trace's lower bound for the pool (see traces).
	NodeHours, LowerBound float64
	// PeakNodes and PeakBound are the largest node count in use and the
	// largest lower bound at any step.
	PeakNodes, PeakBound int64
}

// Ratio is NodeHours / LowerBound: 1 when both are 0, +Inf when only the
// bound is.
func (p PoolResult) Ratio() float64 {
	if p.LowerBound == 0 {
		if p.NodeHours == 0 {
			return 1
		}
		return math.Inf(1)
	}
	return p.NodeHours / p.LowerBound
}

// Total sums the figures of every pool (its peaks are the sums of the pools'
// peaks, which need not coincide in time).
func (r Result) Total() PoolResult {
	var t PoolResult
	for _, p := range r.Pools {
		t.NodeHours += p.NodeHours
		t.LowerBound += p.LowerBound
		t.PeakNodes += p.PeakNodes
		t.PeakBound += p.PeakBound
	}
	return t
}
