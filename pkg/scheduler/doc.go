// Package scheduler names carve's kube-scheduler plugins for registration:
// cmd/carve-scheduler and the integration tests build the scheduler from
// the same list.
package scheduler
