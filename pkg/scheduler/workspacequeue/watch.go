package workspacequeue

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// collectEvery is how often entries of pods that vanished without a seen
// deletion are dropped; collectAfter spares entries younger than that.
const (
	collectEvery = time.Minute
	collectAfter = time.Minute
)

// watch starts the plugin's own informers and waits until they have
// delivered every existing pod and Workspace. The plugin does not share
// kube-scheduler's pod informer: that one starts only after the plugins are
// built, and a held pod could be admitted while the bound pods that fill
// its quota are still being listed. Only workspace pods that have not
// finished are watched.
func (pl *WorkspaceQueue) watch(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	pods := coreinformers.NewFilteredPodInformer(pl.handle.ClientSet(), metav1.NamespaceAll, 0, cache.Indexers{}, func(o *metav1.ListOptions) {
		o.LabelSelector = carvev1.LabelWorkspace
		o.FieldSelector = "status.phase!=Succeeded,status.phase!=Failed"
	})
	if err := pods.SetTransform(dropManagedFields); err != nil {
		return err
	}
	podReg, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if pod, ok := obj.(*corev1.Pod); ok {
				pl.wake(logger, pl.tracker.observe(pod))
				pl.metering.meter.observe(pod, pl.tracker.namespace(pod.Namespace))
			}
		},
		UpdateFunc: func(_, obj any) {
			if pod, ok := obj.(*corev1.Pod); ok {
				pl.wake(logger, pl.tracker.observe(pod))
				pl.metering.meter.observe(pod, pl.tracker.namespace(pod.Namespace))
			}
		},
		DeleteFunc: func(obj any) {
			if pod, ok := unwrap(obj).(*corev1.Pod); ok {
				// Deleted, or finished (the informer watches unfinished
				// pods only, so a pod that ends leaves it).
				pl.metering.meter.end(pod)
				ws, started := pl.tracker.forget(pod)
				pl.wake(logger, started)
				pl.status.forget(pod.UID)
				if ws != "" {
					pl.status.changed(ws)
				}
			}
		},
	})
	if err != nil {
		return err
	}

	// Every namespace, for the workspace and team its labels give its pods.
	namespaces := coreinformers.NewNamespaceInformer(pl.handle.ClientSet(), 0, cache.Indexers{})
	if err := namespaces.SetTransform(dropManagedFields); err != nil {
		return err
	}
	setNamespace := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok {
			before, after := pl.tracker.setNamespace(ns.Name, identityOf(ns))
			pl.wake(logger, after)
			for _, ws := range before {
				pl.status.changed(ws)
			}
		}
	}
	nsReg, err := namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    setNamespace,
		UpdateFunc: func(_, obj any) { setNamespace(obj) },
		DeleteFunc: func(obj any) {
			if ns, ok := unwrap(obj).(*corev1.Namespace); ok {
				touched, woken := pl.tracker.deleteNamespace(ns.Name)
				pl.wake(logger, woken)
				for _, ws := range touched {
					pl.status.changed(ws)
				}
			}
		},
	})
	if err != nil {
		return err
	}

	dyn, err := dynamic.NewForConfig(pl.handle.KubeConfig())
	if err != nil {
		return fmt.Errorf("building a client for Workspaces: %w", err)
	}
	workspaces := dynamicinformer.NewFilteredDynamicInformer(dyn, carvev1.GroupVersion.WithResource("workspaces"), metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
	wsReg, err := workspaces.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { pl.logWorkspaceError(logger, pl.applyWorkspace(logger, nil, obj)) },
		UpdateFunc: func(old, obj any) {
			if sameSpec(old, obj) {
				// A status write (its own, wsstatus.go) or a metadata
				// change: nothing the queue decides with.
				return
			}
			pl.logWorkspaceError(logger, pl.applyWorkspace(logger, old, obj))
		},
		DeleteFunc: func(obj any) { pl.logWorkspaceError(logger, pl.applyWorkspace(logger, obj, nil)) },
	})
	if err != nil {
		return err
	}

	// NodePools, for the prices metering charges.
	pools := dynamicinformer.NewFilteredDynamicInformer(dyn, carvev1.GroupVersion.WithResource("nodepools"), metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
	if err := pools.SetTransform(dropManagedFields); err != nil {
		return err
	}
	factory := pl.handle.SharedInformerFactory()
	pl.metering.rates = nodeRates{nodes: factory.Core().V1().Nodes().Lister(), pools: pools.GetStore()}
	pl.metering.meter.ratesOf = pl.metering.rates.of
	pl.metering.pods = factory.Core().V1().Pods().Lister()
	pl.metering.nodes = factory.Core().V1().Nodes().Lister()
	pl.metering.workspaces = workspaces.GetStore()
	pl.wsStatus = newWSStatusWriter(dyn, pl.tracker, workspaces.GetStore(), pl.status.limiter)
	pl.wsStatus.meter = pl.metering.meter

	pl.tracker.beginStartup()
	go pods.Run(ctx.Done())
	go namespaces.Run(ctx.Done())
	go workspaces.Run(ctx.Done())
	go pools.Run(ctx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, pl.args.StartupSyncTimeout.Duration)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), podReg.HasSynced, nsReg.HasSynced, wsReg.HasSynced, pools.HasSynced) {
		return fmt.Errorf("rebuilding quota accounting: workspace pods, namespaces, Workspaces and NodePools were not listed within %s; check that the carve.dev CRDs are installed and that the scheduler may list and watch pods, namespaces, workspaces.carve.dev and nodepools.carve.dev", pl.args.StartupSyncTimeout.Duration)
	}
	// Metering: every bound pod, now that every namespace is known, from
	// where the persisted totals end.
	for _, obj := range pods.GetStore().List() {
		if pod, ok := obj.(*corev1.Pod); ok {
			pl.metering.meter.observe(pod, pl.tracker.namespace(pod.Namespace))
		}
	}
	pl.metering.seedAll(logger)
	// Pending pods listed at start are admitted in one ordered pass before
	// kube-scheduler asks PreEnqueue about any of them.
	admitted := pl.tracker.finishStartup()
	for _, name := range pl.tracker.workspaceNames() {
		pl.status.changed(name)
	}
	logger.Info("Rebuilt workspace quota accounting from the API", "admittedPending", len(admitted), "pods", len(pods.GetStore().ListKeys()), "workspaces", len(workspaces.GetStore().ListKeys()))

	go pl.collectLoop(ctx, logger, pods.GetStore())
	return nil
}

func (pl *WorkspaceQueue) logWorkspaceError(logger klog.Logger, err error) {
	if err != nil {
		logger.Error(err, "Ignoring a Workspace the plugin cannot read")
	}
}

func (pl *WorkspaceQueue) collectLoop(ctx context.Context, logger klog.Logger, store cache.Store) {
	t := time.NewTicker(collectEvery)
	defer t.Stop()
	exists := func(pod *corev1.Pod) bool {
		obj, ok, err := store.GetByKey(pod.Namespace + "/" + pod.Name)
		if err != nil || !ok {
			return false
		}
		cur, isPod := obj.(*corev1.Pod)
		return isPod && cur.UID == pod.UID
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pl.wake(logger, pl.tracker.collect(exists, time.Now().Add(-collectAfter)))
		}
	}
}

// sameSpec says whether two versions of a Workspace have the same spec: the
// same object (uid) at the same generation.
func sameSpec(old, obj any) bool {
	a, okA := old.(metav1.Object)
	b, okB := obj.(metav1.Object)
	return okA && okB && a.GetUID() == b.GetUID() && a.GetGeneration() == b.GetGeneration() && a.GetGeneration() != 0
}

func dropManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.ObjectMetaAccessor); ok {
		m.GetObjectMeta().SetManagedFields(nil)
	}
	return obj, nil
}
