package consolidation

import (
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	resourcehelper "k8s.io/component-helpers/resource"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// Why a node is to be retired whatever the pool's load, as its
// carve.dev/retiring annotation says.
const (
	WhyUnderused = "Underused"
	WhyRequested = "Requested"
	WhyDrifted   = "Drifted"
)

// nodeView is one of a pool's nodes as the controller sees it.
type nodeView struct {
	node *corev1.Node
	// draining: the node carries the draining taint; since is when carve
	// tainted it (its carve.dev/retiring-since annotation).
	draining bool
	since    time.Time
	// retiring is why (its carve.dev/retiring annotation, or the reason
	// it is retired with this round).
	retiring string
	// why is the node's own reason to be retired (WhyRequested, WhyDrifted)
	// or "".
	why string
	// pods are the node's pods that have not ended, DaemonSet and mirror
	// pods left out (they go with the node).
	pods []*corev1.Pod
	// taken names a pod that started on the node after it began to drain
	// (or in the same second: the API keeps whole seconds): the pool had
	// no other room, so the node is needed again.
	taken string
}

// poolView is what the controller plans one pool from.
type poolView struct {
	pool  *carvev1.NodePool
	nodes []*nodeView
	input Pool
	// pods maps the planner's pod names to the pods.
	pods map[string]*corev1.Pod
}

// observe builds the planner's picture of a pool from its nodes (those
// labelled with its name), pods by node name, the pods waiting for a node,
// and Workspaces by name. Nodes that are cordoned, not Ready or being
// deleted by carve-cloudprovider take no part: they are neither retired
// nor counted as room.
func observe(pool *carvev1.NodePool, nodes []*corev1.Node, podsOn map[string][]*corev1.Pod, pending []*corev1.Pod, workspaces map[string]*carvev1.Workspace, o *Options, now time.Time) poolView {
	v := poolView{pool: pool, pods: map[string]*corev1.Pod{}}
	d := pool.Spec.Disruption
	v.input.Budget = 1
	if d.Budget != nil {
		v.input.Budget = int(*d.Budget)
	}
	v.input.RequestedOnly = d.Consolidation == carvev1.ConsolidateNever
	// A Base pool's minSize is at least 1 (its schema says so): its last
	// node is never retired.
	v.input.Keep = int(pool.Spec.MinSize)
	window := now.Add(-o.ArrivalWindow)
	arrived := func(p *corev1.Pod) {
		if p.CreationTimestamp.Time.After(window) {
			v.input.Headroom = v.input.Headroom.Add(podRequests(p))
		}
	}
	for _, n := range nodes {
		if !usable(n) {
			continue
		}
		nv := &nodeView{node: n, draining: hasTaint(n, carvev1.TaintDraining)}
		nv.retiring = n.Annotations[carvev1.AnnotationRetiring]
		if t, err := time.Parse(time.RFC3339, n.Annotations[carvev1.AnnotationRetiringSince]); err == nil {
			nv.since = t
		}
		switch {
		case retireRequested(n):
			nv.why = WhyRequested
		case drifted(pool, n):
			nv.why = WhyDrifted
		}
		alloc := toResources(n.Status.Allocatable)
		pn := Node{Name: n.Name, Requested: nv.why != "", Draining: nv.draining,
			Protected: n.Annotations[carvev1.AnnotationScaleDownDisabled] == "true"}
		for _, p := range podsOn[n.Name] {
			if ended(p) {
				continue
			}
			if goesWithNode(p) {
				alloc = alloc.Sub(podRequests(p))
				continue
			}
			nv.pods = append(nv.pods, p)
			arrived(p)
			name := p.Namespace + "/" + p.Name
			v.pods[name] = p
			pn.Pods = append(pn.Pods, Pod{
				Name:       name,
				Requests:   podRequests(p),
				Disruption: disruptionOf(p, workspaces[p.Labels[carvev1.LabelWorkspace]]),
				Ends:       ExpectedEnd(started(p), o.lifetime(p), now),
			})
			if nv.draining && nv.taken == "" && p.Labels[carvev1.LabelWorkspace] != "" && !nv.since.IsZero() && !started(p).Before(nv.since) {
				nv.taken = name
			}
		}
		if nv.taken != "" {
			// Un-retired before planning, so the planner may pick another
			// node in its place — not this one again in the same round.
			pn.Draining, pn.Protected = false, true
		}
		pn.Allocatable = alloc
		v.nodes = append(v.nodes, nv)
		v.input.Nodes = append(v.input.Nodes, pn)
	}
	for _, p := range pending {
		if !slices.Contains(carvev1.PodNodePools(p), pool.Name) {
			continue
		}
		arrived(p)
		name := p.Namespace + "/" + p.Name
		v.pods[name] = p
		v.input.Pending = append(v.input.Pending, Pod{Name: name, Requests: podRequests(p)})
	}
	return v
}

// usable reports whether a node may be planned with: Ready, not cordoned,
// and not being deleted.
func usable(n *corev1.Node) bool {
	if n.Spec.Unschedulable || n.DeletionTimestamp != nil || hasTaint(n, carvev1.TaintDeleting) {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasTaint(n *corev1.Node, key string) bool {
	return slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == key })
}

// retireRequested reports whether an admin asked for the node's retirement.
func retireRequested(n *corev1.Node) bool {
	v, ok := n.Annotations[carvev1.AnnotationRetire]
	return ok && v != "false"
}

// drifted reports whether the node lacks a label or taint its pool's
// template gives every node: the template changed after it was made.
func drifted(pool *carvev1.NodePool, n *corev1.Node) bool {
	for k, v := range pool.Spec.Template.Labels {
		if got, ok := n.Labels[k]; !ok || got != v {
			return true
		}
	}
	for _, t := range pool.Spec.Template.Taints {
		if !slices.ContainsFunc(n.Spec.Taints, func(h corev1.Taint) bool {
			return h.Key == t.Key && h.Value == t.Value && h.Effect == t.Effect
		}) {
			return true
		}
	}
	return false
}

func ended(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// goesWithNode reports whether a pod belongs to its node rather than to the
// pool's work: DaemonSet pods and static (mirror) pods.
func goesWithNode(p *corev1.Pod) bool {
	if _, ok := p.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		return true
	}
	for _, r := range p.OwnerReferences {
		if r.Kind == "DaemonSet" && r.Controller != nil && *r.Controller {
			return true
		}
	}
	return false
}

// disruptionOf says whether consolidation may move a pod: model replicas
// and (when their workspace says so) jobs may; sessions, other jobs, pods
// annotated safe-to-evict "false" and pods no controller would recreate
// may not.
func disruptionOf(p *corev1.Pod, ws *carvev1.Workspace) Disruption {
	if p.Annotations[carvev1.AnnotationSafeToEvict] == "false" {
		return Stays
	}
	switch carvev1.Workload(p.Labels[carvev1.LabelWorkload]) {
	case carvev1.WorkloadSession:
		return Stays
	case carvev1.WorkloadModel:
		return Movable
	case carvev1.WorkloadJob:
		if ws != nil && ws.Spec.Disruption != nil && ws.Spec.Disruption.Jobs == carvev1.JobsRestartable {
			return Movable
		}
		return Stays
	}
	if p.Labels[carvev1.LabelWorkspace] == "" && controlled(p) {
		return Movable
	}
	return Stays
}

func controlled(p *corev1.Pod) bool {
	return slices.ContainsFunc(p.OwnerReferences, func(r metav1.OwnerReference) bool { return r.Controller != nil && *r.Controller })
}

// started is when the pod began to run: its start time, else when it was
// scheduled, else when it was made.
func started(p *corev1.Pod) time.Time {
	if p.Status.StartTime != nil {
		return p.Status.StartTime.Time
	}
	if t := scheduledAt(p); !t.IsZero() {
		return t
	}
	return p.CreationTimestamp.Time
}

// scheduledAt is when the pod was bound to its node (its PodScheduled
// condition turned True), or the zero time.
func scheduledAt(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

func podRequests(p *corev1.Pod) Resources {
	return toResources(resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{}))
}

func toResources(l corev1.ResourceList) Resources {
	r := Resources{MilliCPU: l.Cpu().MilliValue(), Memory: l.Memory().Value()}
	for name, q := range l {
		if carvev1.IsGPUResource(name) {
			r.GPU += q.Value()
		}
	}
	return r
}

// TrimPod is the transform of the pod cache consolidation reads from: it
// drops what consolidation never reads and a large cluster's pods carry
// most of (managed fields, the last-applied annotation, environment and
// mounts), so that the leader's cache of every pod stays small.
func TrimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	p.ManagedFields = nil
	delete(p.Annotations, corev1.LastAppliedConfigAnnotation)
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			cs[i].Env, cs[i].EnvFrom, cs[i].VolumeMounts, cs[i].Command, cs[i].Args = nil, nil, nil, nil, nil
		}
	}
	p.Spec.Volumes = nil
	return p, nil
}
