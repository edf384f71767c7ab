package kubectlcarve

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// diagnosePod reads what the answer for pod needs (its queue, its pools,
// its node) and answers.
func diagnosePod(ctx context.Context, c client.Client, pod *corev1.Pod) (Answer, error) {
	a := Answer{
		Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, Phase: string(pod.Status.Phase),
		Profile: pod.Labels[carvev1.LabelProfile], Workspace: pod.Labels[carvev1.LabelWorkspace],
	}
	ref := pod.Namespace + "/" + pod.Name
	managed := a.Workspace != ""
	switch {
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		a.Case = CaseFinished
		a.Summary = fmt.Sprintf("pod %s has finished (%s): it holds no quota and does not run again.", ref, pod.Status.Phase)
		return a, nil
	case pod.Spec.NodeName != "":
		a.Case = CaseRunning
		a.Running = &Running{Node: pod.Spec.NodeName}
		var node corev1.Node
		switch err := c.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, &node); {
		case err == nil:
			a.Running.Pool = node.Labels[carvev1.LabelNodePool]
		case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
			// Users seldom may read nodes: the pool the pod asked for.
			if pools := carvev1.PodNodePools(pod); len(pools) == 1 {
				a.Running.Pool = pools[0]
			}
		default:
			return a, fmt.Errorf("reading node %s: %w", pod.Spec.NodeName, err)
		}
		where := "node " + a.Running.Node
		if a.Running.Pool != "" {
			where += " of NodePool " + a.Running.Pool
		}
		if pod.Status.Phase == corev1.PodRunning {
			a.Summary = fmt.Sprintf("pod %s runs on %s.", ref, where)
		} else {
			a.Summary = fmt.Sprintf("pod %s is placed on %s; its containers are starting (%s).", ref, where, pod.Status.Phase)
		}
		if c := podCondition(pod, carvev1.PodConditionNodeRetiring); c != nil && c.Status == corev1.ConditionTrue && c.Message != "" {
			// carve-controller's own words: whether and when it may stop.
			a.Running.Retiring = c.Message
			a.Summary += " " + strings.ToUpper(c.Message[:1]) + c.Message[1:] + "."
		}
		if !managed {
			a.Summary += " carve does not manage it: it is not in a workspace."
		}
		return a, nil
	case !managed:
		a.Case = CaseNotManaged
		a.Summary = fmt.Sprintf("carve does not manage pod %s: it has no %s label (namespace %s is not in a workspace), so no profile, quota or queue applies.", ref, carvev1.LabelWorkspace, pod.Namespace)
		if s := podCondition(pod, corev1.PodScheduled); s != nil && s.Status == corev1.ConditionFalse {
			a.Message = s.Message
		} else {
			a.Message = fmt.Sprintf("%s, scheduler %s", pod.Status.Phase, schedulerOf(pod))
		}
		return a, nil
	}
	if ad := podCondition(pod, carvev1.PodConditionAdmitted); ad != nil && ad.Status == corev1.ConditionFalse && holds(ad.Reason) {
		return waitingAnswer(ctx, c, a, pod, ad)
	}
	if s := podCondition(pod, corev1.PodScheduled); s != nil && s.Status == corev1.ConditionFalse && s.Reason == corev1.PodReasonUnschedulable {
		names := carvev1.PodNodePools(pod)
		pools := map[string]*carvev1.NodePool{}
		for _, n := range names {
			var np carvev1.NodePool
			switch err := c.Get(ctx, client.ObjectKey{Name: n}, &np); {
			case err == nil:
				pools[n] = &np
			case !apierrors.IsNotFound(err):
				return a, fmt.Errorf("reading NodePool %s: %w", n, err)
			}
		}
		return unschedulableAnswer(a, pod, s.Message, names, pools), nil
	}
	a.Case = CasePending
	if schedulerOf(pod) != carvev1.SchedulerName {
		a.Summary = fmt.Sprintf("pod %s is pending and asks for scheduler %s, not %s: carve's queue does not see it.", ref, schedulerOf(pod), carvev1.SchedulerName)
	} else if ad := podCondition(pod, carvev1.PodConditionAdmitted); ad != nil && ad.Status == corev1.ConditionTrue {
		a.Summary = fmt.Sprintf("pod %s is admitted to the quota of workspace %s and waits for carve-scheduler to place it.", ref, a.Workspace)
		a.Message = ad.Message
	} else {
		a.Summary = fmt.Sprintf("pod %s is pending and carve-scheduler has not decided on it yet (no %s or PodScheduled condition); is carve-scheduler running?", ref, carvev1.PodConditionAdmitted)
	}
	return a, nil
}

func schedulerOf(pod *corev1.Pod) string {
	if pod.Spec.SchedulerName == "" {
		return corev1.DefaultSchedulerName
	}
	return pod.Spec.SchedulerName
}

// waitingAnswer is the answer for a pod held for quota, with the pods
// ahead of it in its workspace's queue, or for a spent budget. A user who
// may not list the workspace's pods in every namespace sees those of the
// pod's own.
func waitingAnswer(ctx context.Context, c client.Client, a Answer, pod *corev1.Pod, cond *corev1.PodCondition) (Answer, error) {
	w, ok := ParseWaiting(cond.Message)
	a.Case = CaseWaitingForQuota
	a.Waiting = &WaitingAnswer{Waiting: w, Parsed: ok, Message: cond.Message, Since: cond.LastTransitionTime, Ahead: []PodRef{}}
	ref := pod.Namespace + "/" + pod.Name
	if cond.Reason == carvev1.ReasonOverBudget || w.Budget != nil {
		a.Case = CaseOverBudget
		if !ok || w.Budget == nil {
			a.Waiting.Parsed = false
			a.Summary = fmt.Sprintf("pod %s waits for a spent budget to reset.", ref)
			return a, nil
		}
		a.Summary = fmt.Sprintf("pod %s waits for a budget: %s is spent until %s.", ref, w.BudgetName(), w.Budget.Resets())
		return a, nil
	}
	switch {
	case !ok:
		a.Summary = fmt.Sprintf("pod %s waits for quota.", ref)
		return a, nil
	case w.Scope == ScopeNamespace:
		a.Summary = fmt.Sprintf("pod %s waits for carve-scheduler to see namespace %s; this takes a moment.", ref, w.Namespace)
		return a, nil
	case w.NeverFits:
		a.Summary = fmt.Sprintf("pod %s waits for quota that can never hold it: it needs more %s than %s allows.", ref, w.Resource, w.QuotaName())
		return a, nil
	}
	a.Summary = fmt.Sprintf("pod %s waits for %s (%s is full).", ref, w.QuotaName(), w.Resource)
	if w.Position > 0 {
		a.Summary = fmt.Sprintf("pod %s waits for quota: %s in the queue of workspace %s.", ref, ordinal(w.Position), w.Workspace)
	}
	if w.Position <= 1 {
		return a, nil
	}
	queue, err := listWaiting(ctx, c, "", w.Workspace)
	if apierrors.IsForbidden(err) || meta.IsNoMatchError(err) {
		a.Waiting.Visible = pod.Namespace
		queue, err = listWaiting(ctx, c, pod.Namespace, w.Workspace)
	}
	if err != nil {
		return a, err
	}
	a.Waiting.Ahead = ahead(queue, w.Workspace, w.Position)
	return a, nil
}

// ahead are the pods of workspace's queue before position, front first.
func ahead(queue []QueuedPod, workspace string, position int) []PodRef {
	out := []PodRef{}
	for _, q := range queue {
		if q.Workspace == workspace && q.Waiting.Position > 0 && q.Waiting.Position < position {
			out = append(out, PodRef{Namespace: q.Namespace, Name: q.Name, Position: q.Waiting.Position})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Position < out[j].Position })
	return out
}

// unschedulableAnswer is the answer for an admitted pod no node fits:
// what each of its pools does about it (pools has the ones that exist).
func unschedulableAnswer(a Answer, pod *corev1.Pod, message string, names []string, pools map[string]*carvev1.NodePool) Answer {
	ref := pod.Namespace + "/" + pod.Name
	a.Case = CaseUnschedulable
	reqs := podRequests(pod)
	u := &Unschedulable{Message: message, Requests: requestsOf(pod), Pools: []PoolAnswer{}}
	a.Unschedulable = u
	never := len(names) > 0
	for _, n := range names {
		p := poolAnswer(n, pools[n], reqs)
		if p.State != PoolMissing && p.State != PoolTooSmall {
			never = false
		}
		u.Pools = append(u.Pools, p)
	}
	admitted := "carve admitted it to the quota of workspace " + a.Workspace
	switch {
	case len(names) == 0:
		a.Summary = fmt.Sprintf("pod %s fits no node: %s, and its profile names no NodePool, so it may run on any node that fits.", ref, admitted)
	case never:
		a.Summary = fmt.Sprintf("pod %s fits no node and never will: %s, but no NodePool of its profile exists or has nodes big enough.", ref, admitted)
	default:
		a.Summary = fmt.Sprintf("pod %s waits for a node: %s, but no node fits it yet (PodScheduled=False, Unschedulable).", ref, admitted)
	}
	return a
}

// poolAnswer says what NodePool name (np, nil when it does not exist) does
// for a pod requesting reqs that no node fits.
func poolAnswer(name string, np *carvev1.NodePool, reqs corev1.ResourceList) PoolAnswer {
	p := PoolAnswer{Name: name}
	if np == nil {
		p.State = PoolMissing
		p.Detail = "does not exist: an admin creates it, or fixes the profile's nodePools"
		return p
	}
	p.MinSize, p.MaxSize = np.Spec.MinSize, np.Spec.MaxSize
	p.CurrentSize, p.TargetSize = np.Status.CurrentSize, np.Status.TargetSize
	if short := tooSmall(np, reqs); short != "" {
		p.State = PoolTooSmall
		p.Detail = short + ": it never fits there; pick a smaller profile, or an admin gives the pool bigger nodes"
		return p
	}
	sizes := fmt.Sprintf("current %d, target %d, max %d", p.CurrentSize, p.TargetSize, p.MaxSize)
	if c := meta.FindStatusCondition(np.Status.Conditions, carvev1.NodePoolReady); c != nil && c.Status == "False" {
		p.State = PoolUnavailable
		p.Detail = fmt.Sprintf("not offered to the autoscaler (%s): %s", c.Reason, c.Message)
		return p
	}
	if c := meta.FindStatusCondition(np.Status.Conditions, carvev1.NodePoolScalingUp); c != nil && c.Status == "True" && p.TargetSize > p.CurrentSize {
		p.State = PoolScalingUp
		p.Detail = fmt.Sprintf("scaling up (%s): %d node(s) asked for and on their way; the pod starts on one once it is Ready", sizes, p.TargetSize-p.CurrentSize)
		return p
	}
	if p.CurrentSize >= p.MaxSize || p.TargetSize >= p.MaxSize {
		p.State = PoolAtMaxSize
		p.Detail = fmt.Sprintf("at its maxSize (%s): it cannot grow; wait for pods on it to finish, or an admin raises maxSize", sizes)
		return p
	}
	if c := meta.FindStatusCondition(np.Status.Conditions, carvev1.NodePoolScaleRefused); c != nil && c.Status == "True" {
		p.State = PoolScaleRefused
		p.Detail = fmt.Sprintf("carve refused the latest size change (%s, %s): %s", c.Reason, sizes, c.Message)
		return p
	}
	p.State = PoolNotScaling
	p.Detail = fmt.Sprintf("may grow (%s), but no node is asked for yet: the cluster-autoscaler adds one for an Unschedulable pod; if none comes, check that it runs", sizes)
	return p
}

// tooSmall says which request one node of the pool cannot hold ("" when
// it holds them all), from the pool's template (allocatable, else
// capacity): the autoscaler scales from zero on it.
func tooSmall(np *carvev1.NodePool, reqs corev1.ResourceList) string {
	node := np.Spec.Template.Allocatable
	if len(node) == 0 {
		node = np.Spec.Template.Capacity
	}
	names := make([]string, 0, len(reqs))
	for n := range reqs {
		names = append(names, string(n))
	}
	sort.Strings(names)
	for _, n := range names {
		want := reqs[corev1.ResourceName(n)]
		if want.IsZero() {
			continue
		}
		have, ok := node[corev1.ResourceName(n)]
		if !ok {
			have, ok = np.Spec.Template.Capacity[corev1.ResourceName(n)]
		}
		if !ok {
			return fmt.Sprintf("its nodes have no %s, the pod needs %s", n, want.String())
		}
		if have.Cmp(want) < 0 {
			return fmt.Sprintf("a node has %s %s, the pod needs %s", n, have.String(), want.String())
		}
	}
	return ""
}
