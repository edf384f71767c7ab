// Package server is carve's cluster-autoscaler cloud provider: it serves the
// externalgrpc protocol (package externalgrpc) over NodePools and dispatches
// every change of capacity to the pool's Platform (package cloudprovider).
// It owns the rules that hold whatever the autoscaler asks — never below
// minSize, never above maxSize, never the Base pool's last node, never a node
// running a session (guards.go) — the refusals that name the rule broken and
// what to do instead (refusal.go), the Events and outcomes it reports
// (events.go, outcomes.go), a lock per pool around changes, and the
// once-per-loop Refresh of platforms that cache their cloud.
package server
