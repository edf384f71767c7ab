package consolidation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// Controller plans every NodePool each Options.Interval and carries the
// plans out: it taints the nodes it retires, takes back those a pool needs
// again, evicts the pods that may move once their replacements have room,
// tells sessions on retiring nodes that nothing will stop them (or when
// their workspace's deadline will), and counts retiring nodes in each
// NodePool's status. Everything it knows is in the cluster (taints,
// annotations, pod conditions), so a restarted or new leader carries on.
// It needs the leader-election lease: two would fight over the taints.
type Controller struct {
	client   client.Client
	recorder events.EventRecorder
	o        Options
}

// New returns a Controller that reads through c (a cache is best) and
// writes through it, with events recorded by recorder.
func New(c client.Client, recorder events.EventRecorder, o Options) (*Controller, error) {
	if err := o.Complete(); err != nil {
		return nil, err
	}
	return &Controller{client: c, recorder: recorder, o: o}, nil
}

// NeedLeaderElection: only the lease holder retires nodes.
func (c *Controller) NeedLeaderElection() bool { return true }

// Start plans every pool each interval until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	log := klog.FromContext(ctx).WithName("consolidation")
	ctx = klog.NewContext(ctx, log)
	t := time.NewTicker(c.o.Interval)
	defer t.Stop()
	for {
		if err := c.Reconcile(ctx); err != nil {
			log.Error(err, "Consolidating node pools")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Reconcile plans and acts on every NodePool once.
func (c *Controller) Reconcile(ctx context.Context) error {
	now := c.o.Now()
	var (
		pools carvev1.NodePoolList
		nodes corev1.NodeList
		pods  corev1.PodList
		wss   carvev1.WorkspaceList
	)
	for _, l := range []client.ObjectList{&pools, &nodes, &pods, &wss} {
		if err := c.client.List(ctx, l); err != nil {
			return fmt.Errorf("listing %T: %w", l, err)
		}
	}
	workspaces := map[string]*carvev1.Workspace{}
	for i := range wss.Items {
		workspaces[wss.Items[i].Name] = &wss.Items[i]
	}
	podsOn := map[string][]*corev1.Pod{}
	var pending []*corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		switch {
		case p.Spec.NodeName != "":
			podsOn[p.Spec.NodeName] = append(podsOn[p.Spec.NodeName], p)
		case p.DeletionTimestamp == nil && unschedulable(p):
			pending = append(pending, p)
		}
	}
	var errs []error
	for i := range pools.Items {
		pool := &pools.Items[i]
		var mine []*corev1.Node
		for j := range nodes.Items {
			if nodes.Items[j].Labels[carvev1.LabelNodePool] == pool.Name {
				mine = append(mine, &nodes.Items[j])
			}
		}
		v := observe(pool, mine, podsOn, pending, workspaces, &c.o, now)
		plan := PlanPool(v.input, now)
		if err := c.apply(ctx, &v, plan, workspaces, now); err != nil {
			errs = append(errs, fmt.Errorf("node pool %s: %w", pool.Name, err))
		}
	}
	return errors.Join(errs...)
}

// unschedulable reports whether the scheduler found no node for the pod.
func unschedulable(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
		}
	}
	return false
}

func (c *Controller) apply(ctx context.Context, v *poolView, plan Plan, workspaces map[string]*carvev1.Workspace, now time.Time) error {
	log := klog.FromContext(ctx)
	pool := v.pool.Name
	byName := map[string]*nodeView{}
	for _, nv := range v.nodes {
		byName[nv.node.Name] = nv
	}
	var errs []error
	// Take back first: a node a pod started on, or the planner needs.
	back := map[string]string{}
	for _, nv := range v.nodes {
		if nv.taken != "" {
			back[nv.node.Name] = fmt.Sprintf("pod %s started on it: the pool had no other room", nv.taken)
		}
	}
	for _, u := range plan.Unretire {
		if _, ok := back[u.Node]; ok {
			continue
		}
		switch u.Reason {
		case ReasonSwapped:
			back[u.Node] = "another node, expected to empty much sooner, is retired in its place"
		case ReasonProtected:
			back[u.Node] = "the pool must keep it"
		default:
			back[u.Node] = "pods waiting for room fit on it, so it is kept instead of buying a node"
		}
	}
	for name, why := range back {
		nv := byName[name]
		if !nv.draining {
			continue // the planner took back a node it swapped in this round
		}
		if err := c.setDraining(ctx, nv.node, ""); err != nil {
			errs = append(errs, err)
			continue
		}
		nv.draining = false
		unretired.WithLabelValues(pool).Inc()
		c.recorder.Eventf(nv.node, nil, corev1.EventTypeNormal, "Unretired", "Unretire", "Node %s is no longer being retired: %s", name, why)
		log.Info("Un-retired node", "pool", pool, "node", name, "why", why)
	}
	for _, r := range plan.Retire {
		nv := byName[r.Node]
		why := WhyUnderused
		if r.Reason == ReasonRequested {
			why = nv.why
		}
		if err := c.setDraining(ctx, nv.node, why); err != nil {
			errs = append(errs, err)
			continue
		}
		nv.draining, nv.since, nv.retiring = true, now, why
		retired.WithLabelValues(pool, why).Inc()
		c.recorder.Eventf(nv.node, nil, corev1.EventTypeNormal, "Retiring", "Retire", "Node %s is being retired: %s. New work starts on other nodes; sessions here run until they end",
			r.Node, whyText(why, v.pool))
		log.Info("Retiring node", "pool", pool, "node", r.Node, "why", why)
	}
	for _, m := range plan.Move {
		p := v.pods[m.Pod]
		if p == nil || p.DeletionTimestamp != nil || !byName[m.Node].draining {
			continue
		}
		if err := c.evict(ctx, p); err != nil {
			if apierrors.IsTooManyRequests(err) {
				log.V(2).Info("Eviction refused for now (a PodDisruptionBudget)", "pod", m.Pod, "err", err.Error())
				continue
			}
			errs = append(errs, fmt.Errorf("evicting %s: %w", m.Pod, err))
			continue
		}
		moved.WithLabelValues(pool, workloadLabel(p)).Inc()
		c.recorder.Eventf(p, nil, corev1.EventTypeNormal, "Moved", "Evict", "Evicted from node %s, which is being retired; its replacement has room on another node", m.Node)
		log.Info("Moved pod", "pool", pool, "pod", m.Pod, "node", m.Node)
	}

	count := 0
	for _, nv := range v.nodes {
		if nv.draining {
			count++
		}
		for _, p := range nv.pods {
			if err := c.notify(ctx, nv, p, workspaces[p.Labels[carvev1.LabelWorkspace]], pool, now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	draining.WithLabelValues(pool).Set(float64(count))
	if v.pool.Status.DrainingNodes != int32(count) {
		patch := []byte(fmt.Sprintf(`{"status":{"drainingNodes":%d}}`, count))
		np := &carvev1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: pool}}
		if err := c.client.Status().Patch(ctx, np, client.RawPatch(types.MergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("writing status.drainingNodes: %w", err))
		}
	}
	return errors.Join(errs...)
}

func whyText(why string, pool *carvev1.NodePool) string {
	switch why {
	case WhyRequested:
		return "an admin asked (annotation " + carvev1.AnnotationRetire + ")"
	case WhyDrifted:
		return fmt.Sprintf("it no longer matches node pool %s's template", pool.Name)
	}
	return fmt.Sprintf("node pool %s's work fits on its other nodes, and this one empties soonest", pool.Name)
}

func workloadLabel(p *corev1.Pod) string {
	if w := p.Labels[carvev1.LabelWorkload]; w != "" {
		return w
	}
	return string(carvev1.WorkloadOther)
}

// setDraining taints the node and records why and since when (why != ""),
// or removes both. A conflict is left for the next round.
func (c *Controller) setDraining(ctx context.Context, n *corev1.Node, why string) error {
	upd := n.DeepCopy()
	var taints []corev1.Taint
	for _, t := range upd.Spec.Taints {
		if t.Key != carvev1.TaintDraining {
			taints = append(taints, t)
		}
	}
	if upd.Annotations == nil {
		upd.Annotations = map[string]string{}
	}
	delete(upd.Annotations, carvev1.AnnotationRetiring)
	delete(upd.Annotations, carvev1.AnnotationRetiringSince)
	if why != "" {
		taints = append(taints, corev1.Taint{Key: carvev1.TaintDraining, Value: why, Effect: corev1.TaintEffectPreferNoSchedule})
		upd.Annotations[carvev1.AnnotationRetiring] = why
		upd.Annotations[carvev1.AnnotationRetiringSince] = c.o.Now().UTC().Format(time.RFC3339)
	}
	upd.Spec.Taints = taints
	if err := c.client.Update(ctx, upd); err != nil {
		return fmt.Errorf("updating the draining taint of node %s: %w", n.Name, err)
	}
	return nil
}

// evict asks the Eviction API to remove the pod, so that its
// PodDisruptionBudgets are honoured.
func (c *Controller) evict(ctx context.Context, p *corev1.Pod) error {
	target := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
	return c.client.SubResource("eviction").Create(ctx, target, &policyv1.Eviction{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
	})
}

// notify keeps a session's NodeRetiring condition true to its node: set
// (with an event) while the node is retired, and, when its workspace sets a
// deadline, stops the session once the deadline and its notice have passed;
// turned False once the node is kept.
func (c *Controller) notify(ctx context.Context, nv *nodeView, p *corev1.Pod, ws *carvev1.Workspace, pool string, now time.Time) error {
	if p.Labels[carvev1.LabelWorkload] != string(carvev1.WorkloadSession) {
		return nil
	}
	cur := condition(p)
	if !nv.draining {
		if cur == nil || cur.Status != corev1.ConditionTrue {
			return nil
		}
		return c.setCondition(ctx, p, corev1.ConditionFalse, carvev1.ReasonNodeKept,
			fmt.Sprintf("node %s is no longer being retired", nv.node.Name), now)
	}
	// The API keeps whole seconds: rounding up never shortens a notice
	// counted from the condition's time.
	told := now.Truncate(time.Second)
	if told.Before(now) {
		told = told.Add(time.Second)
	}
	if cur != nil && cur.Status == corev1.ConditionTrue {
		told = cur.LastTransitionTime.Time
	}
	var deadline, notice time.Duration
	if ws != nil && ws.Spec.Disruption != nil && ws.Spec.Disruption.SessionDeadline != nil {
		deadline, notice = ws.Spec.Disruption.SessionDeadline.Duration, DefaultSessionNotice
		if n := ws.Spec.Disruption.SessionNotice; n != nil {
			notice = n.Duration
		}
	}
	why := nv.retiring
	msg := fmt.Sprintf("node %s is being retired (%s): this session keeps running until it ends and nothing will stop it; new work starts on other nodes", nv.node.Name, why)
	var stopAt time.Time
	if deadline > 0 {
		since := nv.since
		if since.IsZero() {
			since = told
		}
		stopAt = since.Add(deadline)
		if t := told.Add(notice); t.After(stopAt) {
			stopAt = t
		}
		msg = fmt.Sprintf("node %s is being retired (%s): workspace %s lets sessions keep a retiring node %v, so this session may be stopped after %s; save your work",
			nv.node.Name, why, ws.Name, deadline, stopAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if cur == nil || cur.Status != corev1.ConditionTrue || cur.Message != msg {
		if err := c.setCondition(ctx, p, corev1.ConditionTrue, carvev1.ReasonNodeRetiring, msg, told); err != nil {
			return err
		}
		if cur == nil || cur.Status != corev1.ConditionTrue {
			notified.WithLabelValues(pool).Inc()
			c.recorder.Eventf(p, nil, corev1.EventTypeNormal, carvev1.ReasonNodeRetiring, "Notify", "%s", msg)
		}
	}
	if !stopAt.IsZero() && !now.Before(stopAt) {
		if err := c.evict(ctx, p); err != nil {
			if apierrors.IsTooManyRequests(err) || apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("stopping session %s/%s after its deadline: %w", p.Namespace, p.Name, err)
		}
		stopped.WithLabelValues(pool).Inc()
		c.recorder.Eventf(p, nil, corev1.EventTypeWarning, "SessionStopped", "Evict", "Stopped: node %s is being retired and workspace %s's session deadline (%v) and notice have passed", nv.node.Name, ws.Name, deadline)
	}
	return nil
}

func condition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == carvev1.PodConditionNodeRetiring {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// setCondition writes the pod's NodeRetiring condition by a strategic merge
// patch, which leaves its other conditions alone.
func (c *Controller) setCondition(ctx context.Context, p *corev1.Pod, status corev1.ConditionStatus, reason, msg string, since time.Time) error {
	cond := corev1.PodCondition{
		Type: carvev1.PodConditionNodeRetiring, Status: status, Reason: reason, Message: msg,
		LastTransitionTime: metav1.NewTime(since),
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.PodCondition{cond}}})
	if err != nil {
		return err
	}
	target := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
	if err := c.client.Status().Patch(ctx, target, client.RawPatch(types.StrategicMergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("writing condition %s of pod %s/%s: %w", carvev1.PodConditionNodeRetiring, p.Namespace, p.Name, err)
	}
	return nil
}
