package podcontract

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// Lookup finds the cluster-scoped objects a pod's contract depends on. A
// missing object is (nil, false), never an error: the webhooks read them from
// an informer cache.
type Lookup interface {
	Workspace(name string) (*carvev1.Workspace, bool)
	Profile(name string) (*carvev1.ResourceProfile, bool)
	NodePool(name string) (*carvev1.NodePool, bool)
	PriorityClasses
}

// Options are the cluster facts that change how the contract is applied.
type Options struct {
	// PodLevelResources says the apiserver keeps pod-level spec.resources.
	// When false, the profile is applied to the pod's main container instead.
	PodLevelResources bool
}

// Target is what a pod's contract was resolved to: the objects that decide
// it. Resolve returns it; Apply and Check use it.
type Target struct {
	Workspace *carvev1.Workspace
	Team      string
	Profile   *carvev1.ResourceProfile
	Workload  carvev1.Workload
	Pools     []*carvev1.NodePool
}

// WorkspaceOf returns the workspace a namespace belongs to, or "".
func WorkspaceOf(ns *corev1.Namespace) string {
	if ns == nil {
		return ""
	}
	return ns.Labels[carvev1.LabelWorkspace]
}

// Resolve finds the workspace, profile, workload kind and node pools of a pod
// created in namespace ns. It fails with a *Denial when any of them is
// missing or not allowed.
func Resolve(pod *corev1.Pod, ns *corev1.Namespace, l Lookup) (*Target, error) {
	var vs violations
	wsName := WorkspaceOf(ns)
	ws, ok := l.Workspace(wsName)
	if !ok {
		vs.add(RuleWorkspaceMissing, fmt.Sprintf(
			"namespace %q is labelled %s=%s but no Workspace %q exists; ask an admin to create it, or remove the label from the namespace",
			ns.Name, carvev1.LabelWorkspace, wsName, wsName))
		return nil, vs.err()
	}
	t := &Target{Workspace: ws, Team: ns.Labels[carvev1.LabelTeam]}

	name, picked := pod.Labels[carvev1.LabelProfile]
	if !picked || name == "" {
		name = ws.Spec.DefaultProfile
	}
	allowed := strings.Join(ws.Spec.AllowedProfiles, ", ")
	if !ws.Allows(name) {
		vs.add(RuleProfileNotAllowed, fmt.Sprintf(
			"workspace %q does not allow profile %q; set label %s to one of: %s",
			ws.Name, name, carvev1.LabelProfile, allowed))
	} else if p, ok := l.Profile(name); !ok {
		vs.add(RuleProfileUnknown, fmt.Sprintf(
			"workspace %q allows profile %q but no ResourceProfile %q exists; pick another of %s with label %s, or ask an admin to create it",
			ws.Name, name, name, allowed, carvev1.LabelProfile))
	} else {
		t.Profile = p
		for _, poolName := range p.Spec.NodePools {
			pool, ok := l.NodePool(poolName)
			if !ok {
				vs.add(RuleNodePoolMissing, fmt.Sprintf(
					"profile %q runs on node pool %q, which does not exist; ask an admin to create NodePool %q or fix the profile",
					p.Name, poolName, poolName))
				continue
			}
			t.Pools = append(t.Pools, pool)
		}
	}

	w, err := WorkloadOf(pod)
	if err != nil {
		vs = append(vs, err.(*Denial).Violations...)
	}
	t.Workload = w
	if e := vs.err(); e != nil {
		return nil, e
	}
	return t, nil
}

// WorkloadOf returns the pod's workload kind: the carve.dev/workload label if
// set, else inferred from the pod's controller. Jobs (and so CronJobs) run
// jobs, ReplicaSets (Deployments) serve models, and StatefulSets, bare pods
// and pods of other controllers are sessions: a session is never evicted, the
// safe guess for work carve does not know. DaemonSet pods are refused: they
// run one per node and cannot follow a profile's placement.
func WorkloadOf(pod *corev1.Pod) (carvev1.Workload, error) {
	if v, ok := pod.Labels[carvev1.LabelWorkload]; ok {
		w := carvev1.Workload(v)
		if !slices.Contains(carvev1.Workloads, w) {
			return "", &Denial{Violations: []Violation{{RuleWorkloadInvalid, fmt.Sprintf(
				"label %s=%q is not a workload kind; use session, job or model, or remove the label to let carve infer it",
				carvev1.LabelWorkload, v)}}}
		}
		return w, nil
	}
	owner := metav1.GetControllerOfNoCopy(pod)
	if owner == nil {
		return carvev1.WorkloadSession, nil
	}
	switch owner.Kind {
	case "Job":
		return carvev1.WorkloadJob, nil
	case "ReplicaSet", "Deployment":
		return carvev1.WorkloadModel, nil
	case "DaemonSet":
		return "", &Denial{Violations: []Violation{{RuleDaemonSet,
			"DaemonSet pods cannot run in a workspace namespace: they run on every node and cannot follow a resource profile; run the DaemonSet in a namespace without the " +
				carvev1.LabelWorkspace + " label"}}}
	default:
		return carvev1.WorkloadSession, nil
	}
}
