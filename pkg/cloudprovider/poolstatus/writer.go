package poolstatus

import (
	"context"
	"errors"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"gopkg.in/inf.v0"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/server"
)

// Writer keeps each NodePool's status (target, current and ready
// sizes, and the conditions of Conditions) current. It is driven by
// NodePool and Node events from the provider's informers and by changes of
// the pools' scale outcomes; pools of platforms that cache their cloud are
// also looked at again every minute (from that cache, no cloud call). It
// writes only when
// something changed, so `kubectl get np` shows what the autoscaler sees.
type Writer struct {
	informers cache.Informers
	cache     client.Reader
	writer    client.StatusClient
	platforms map[carvev1.PlatformType]cloudprovider.Platform
	outcomes  *server.ScaleOutcomes
	now       func() metav1.Time
	queue     workqueue.TypedRateLimitingInterface[string]
}

// NewWriter builds a Writer; Start runs it. outcomes, shared
// with the server.Server (server.WithOutcomes), feeds the ScaleRefused condition; nil
// leaves that condition at NoneRefused.
func NewWriter(informers cache.Informers, reader client.Reader, writer client.StatusClient, platforms map[carvev1.PlatformType]cloudprovider.Platform, outcomes *server.ScaleOutcomes) *Writer {
	return &Writer{
		informers: informers, cache: reader, writer: writer, platforms: platforms, outcomes: outcomes, now: metav1.Now,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodepool-status"}),
	}
}

// Start registers the event handlers and writes statuses until ctx ends.
func (w *Writer) Start(ctx context.Context) error {
	pools, err := w.informers.GetInformer(ctx, &carvev1.NodePool{})
	if err != nil {
		return err
	}
	if _, err := pools.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.enqueuePool(obj) },
		UpdateFunc: func(_, obj any) { w.enqueuePool(obj) },
		// So that sync forgets the pool's scale outcome.
		DeleteFunc: func(obj any) { w.enqueuePool(obj) },
	}); err != nil {
		return err
	}
	nodes, err := w.informers.GetInformer(ctx, &corev1.Node{})
	if err != nil {
		return err
	}
	if _, err := nodes.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.enqueueNode(obj) },
		UpdateFunc: func(_, obj any) { w.enqueueNode(obj) },
		DeleteFunc: func(obj any) { w.enqueueNode(obj) },
	}); err != nil {
		return err
	}
	w.outcomes.Notify(func(pool string) { w.queue.Add(pool) })
	go func() {
		<-ctx.Done()
		w.queue.ShutDown()
	}()
	for w.next(ctx) {
	}
	return nil
}

func (w *Writer) enqueuePool(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if p, ok := obj.(*carvev1.NodePool); ok {
		w.queue.Add(p.Name)
	}
}

func (w *Writer) enqueueNode(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if n, ok := obj.(*corev1.Node); ok {
		if pool := n.Labels[carvev1.LabelNodePool]; pool != "" {
			w.queue.Add(pool)
		}
	}
}

func (w *Writer) next(ctx context.Context) bool {
	name, shutdown := w.queue.Get()
	if shutdown {
		return false
	}
	defer w.queue.Done(name)
	if err := w.sync(ctx, name); err != nil {
		klog.FromContext(ctx).Error(err, "Updating NodePool status", "nodePool", name)
		w.queue.AddRateLimited(name)
		return true
	}
	w.queue.Forget(name)
	return true
}

// sync writes one pool's status from the cache and its platform.
func (w *Writer) sync(ctx context.Context, name string) error {
	pool := &carvev1.NodePool{}
	if err := w.cache.Get(ctx, client.ObjectKey{Name: name}, pool); err != nil {
		if apierrors.IsNotFound(err) {
			w.outcomes.Forget(name)
		}
		return client.IgnoreNotFound(err)
	}
	var nodes corev1.NodeList
	if err := w.cache.List(ctx, &nodes, client.MatchingLabels{carvev1.LabelNodePool: name}); err != nil {
		return err
	}
	want := pool.Status.DeepCopy()
	want.ObservedGeneration = pool.Generation
	want.CurrentSize, want.ReadySize = NodeCounts(nodes.Items)
	want.CostPerHour = CostPerHour(pool.Spec.PricePerHour, want.CurrentSize)
	obs := Observed{ReadySize: want.ReadySize, Now: w.now()}
	var p cloudprovider.Platform
	if p, obs.Served = w.platforms[pool.Spec.Platform.Type]; obs.Served {
		// A failing platform is shown in the Ready condition; the error
		// is still returned, so the pool is retried with backoff.
		if target, err := p.TargetSize(ctx, pool); err != nil {
			obs.TargetErr = err
		} else {
			want.TargetSize = target
		}
	}
	obs.TargetSize = want.TargetSize
	obs.Refusal, obs.OutcomeKnown = w.outcomes.Last(name)
	obs.TemplateDiffs, obs.TemplateChecked = w.templateDiffs(ctx, pool, p, nodes.Items)
	if r, ok := p.(cloudprovider.Refuser); ok {
		obs.RefusedReason, obs.RefusedMessage = r.Refusal(pool)
	}
	want.Conditions = Conditions(pool, obs)
	if _, caches := p.(cloudprovider.Refresher); caches || isTemplateChecker(p) || isRefuser(p) {
		// What these platforms say changes without an event here (a
		// refresh, a MachineSet's annotations): look again later.
		w.queue.AddAfter(name, resyncPeriod)
	}
	if equalStatus(want, &pool.Status) {
		return obs.TargetErr
	}
	patched := pool.DeepCopy()
	patched.Status = *want
	err := w.writer.Status().Patch(ctx, patched, client.MergeFrom(pool))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return errors.Join(obs.TargetErr, err)
}

// CostPerHour is what nodes of the given price cost an hour, exactly
// (decimal, no rounding), e.g. "1.152" for 3 nodes at 0.384; empty without a
// price.
func CostPerHour(price *resource.Quantity, nodes int32) string {
	if price == nil {
		return ""
	}
	p := price.DeepCopy() // AsDec changes the quantity it is called on
	cost := new(inf.Dec).Mul(p.AsDec(), inf.NewDec(int64(nodes), 0))
	out := cost.String()
	if strings.Contains(out, ".") {
		out = strings.TrimSuffix(strings.TrimRight(out, "0"), ".")
	}
	return out
}

// resyncPeriod is how often the status of a pool whose platform caches its
// cloud is written again from that cache.
const resyncPeriod = time.Minute

func isRefuser(p cloudprovider.Platform) bool {
	_, ok := p.(cloudprovider.Refuser)
	return ok
}

func isTemplateChecker(p cloudprovider.Platform) bool {
	_, ok := p.(cloudprovider.TemplateChecker)
	return ok
}

// templateDiffs gathers what the platform (from its cache) and the first
// Ready node say differs from the pool's template.
func (w *Writer) templateDiffs(ctx context.Context, pool *carvev1.NodePool, p cloudprovider.Platform, nodes []corev1.Node) (diffs []string, checked bool) {
	if tc, ok := p.(cloudprovider.TemplateChecker); ok {
		d, err := tc.TemplateDifferences(ctx, pool)
		if err == nil {
			diffs, checked = d, true
		} else {
			klog.FromContext(ctx).V(2).Info("Platform could not compare its nodes with the NodePool template", "pool", pool.Name, "err", err)
		}
	}
	if firstReady(nodes) != nil {
		diffs, checked = append(diffs, NodeDifferences(pool, nodes)...), true
	}
	return diffs, checked
}

// NodeCounts counts the nodes that are not being deleted, and of those the
// Ready ones.
func NodeCounts(nodes []corev1.Node) (current, ready int32) {
	for i := range nodes {
		n := &nodes[i]
		if n.DeletionTimestamp != nil {
			continue
		}
		current++
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return current, ready
}

func equalStatus(a, b *carvev1.NodePoolStatus) bool {
	return a.TargetSize == b.TargetSize && a.CurrentSize == b.CurrentSize && a.CostPerHour == b.CostPerHour &&
		a.ReadySize == b.ReadySize && a.ObservedGeneration == b.ObservedGeneration &&
		equality.Semantic.DeepEqual(a.Conditions, b.Conditions)
}
