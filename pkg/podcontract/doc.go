// Package podcontract decides carve's contract on workspace pods: which
// profile and workload kind a pod has, what carve writes onto it (resources,
// scheduler, node pool placement, scale-down protection, labels), and which
// pods and pod edits it refuses.
//
// Every decision here is a pure function of the pod and of the objects it
// depends on (namespace, Workspace, ResourceProfile, NodePools), reached
// through Lookup. The webhooks in pkg/webhooks only fetch those objects and
// turn the answers into admission responses. docs/pod-contract.md is the
// user-facing description of the same rules.
package podcontract
