package workspacequeue

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
	k8smetrics "k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/scheduler/leader"
)

// Metrics of metering, on carve-scheduler's /metrics. Labels stay bounded
// by what admins create (workspaces, namespaces, profiles, pools, nodes),
// never by pods. The node price gauges have OpenCost's names.
var (
	meteredHours = k8smetrics.NewCounterVec(&k8smetrics.CounterOpts{
		Name: "carve_workspace_resource_hours_total",
		Help: "Resource-hours requested by workspace pods while bound to a node (resource: cpu in core-hours, memory in GiB-hours, gpu in GPU-hours).",
	}, []string{"workspace", "namespace", "profile", "kind", "resource"})
	meteredCost = k8smetrics.NewCounterVec(&k8smetrics.CounterOpts{
		Name: "carve_workspace_cost_total",
		Help: "What workspace pods cost while bound to a node, in the currency of the NodePools' pricePerHour.",
	}, []string{"workspace", "namespace", "profile", "kind"})
	poolCost = k8smetrics.NewCounterVec(&k8smetrics.CounterOpts{
		Name: "carve_nodepool_cost_total",
		Help: "What the pool's nodes cost (pricePerHour over the time they existed).",
	}, []string{"pool"})
	poolIdleCost = k8smetrics.NewCounterVec(&k8smetrics.CounterOpts{
		Name: "carve_nodepool_idle_cost_total",
		Help: "What the pool's nodes cost and no pod requested: what packing and scale-down leave on the table.",
	}, []string{"pool"})
	nodeHourlyCost = k8smetrics.NewGaugeVec(&k8smetrics.GaugeOpts{
		Name: "node_total_hourly_cost", Help: "What the node costs an hour (its NodePool's pricePerHour).",
	}, []string{"node", "pool"})
	nodeCPUHourlyCost = k8smetrics.NewGaugeVec(&k8smetrics.GaugeOpts{
		Name: "node_cpu_hourly_cost", Help: "The node's price of one CPU core-hour.",
	}, []string{"node", "pool"})
	nodeRAMHourlyCost = k8smetrics.NewGaugeVec(&k8smetrics.GaugeOpts{
		Name: "node_ram_hourly_cost", Help: "The node's price of one GiB-hour of memory.",
	}, []string{"node", "pool"})
	nodeGPUHourlyCost = k8smetrics.NewGaugeVec(&k8smetrics.GaugeOpts{
		Name: "node_gpu_hourly_cost", Help: "The node's price of one GPU-hour.",
	}, []string{"node", "pool"})
	registerMetrics sync.Once
)

var errNotNodePool = errors.New("not a NodePool")

func mustRegisterMetrics() {
	registerMetrics.Do(func() {
		legacyregistry.MustRegister(meteredHours, meteredCost, poolCost, poolIdleCost,
			nodeHourlyCost, nodeCPUHourlyCost, nodeRAMHourlyCost, nodeGPUHourlyCost)
	})
}

func recordAccrual(r *run, _ rates, s spend) {
	profile, kind := r.profile, r.kind
	for key, v := range map[string]float64{"cpu": s.cpuHours, "memory": s.memGiBHours, "gpu": s.gpuHours} {
		meteredHours.WithLabelValues(r.workspace, r.project, profile, kind, key).Add(v)
	}
	meteredCost.WithLabelValues(r.workspace, r.project, profile, kind).Add(s.cost)
}

// nodeRates reads a node's rates from the scheduler's node informer and the
// plugin's NodePool informer.
type nodeRates struct {
	nodes interface {
		Get(name string) (*corev1.Node, error)
	}
	pools cache.Store
}

func (n nodeRates) of(name string) rates {
	node, err := n.nodes.Get(name)
	if err != nil {
		return rates{}
	}
	return n.ofNode(node)
}

func (n nodeRates) ofNode(node *corev1.Node) rates {
	pool := node.Labels[carvev1.LabelNodePool]
	price, priced := 0.0, false
	if pool != "" && n.pools != nil {
		if obj, ok, _ := n.pools.GetByKey(pool); ok {
			if np, err := toNodePool(obj); err == nil && np.Spec.PricePerHour != nil {
				price, priced = np.Spec.PricePerHour.AsApproximateFloat64(), true
			}
		}
	}
	return ratesOf(pool, price, priced, node.Status.Allocatable)
}

func toNodePool(obj any) (*carvev1.NodePool, error) {
	switch o := unwrap(obj).(type) {
	case *carvev1.NodePool:
		return o, nil
	case *unstructured.Unstructured:
		np := &carvev1.NodePool{}
		return np, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, np)
	default:
		return nil, errNotNodePool
	}
}

type metering struct {
	meter *meter
	rates nodeRates
	// pods lists every pod the scheduler knows, for idle cost.
	pods interface {
		List(labels.Selector) ([]*corev1.Pod, error)
	}
	nodes interface {
		List(labels.Selector) ([]*corev1.Node, error)
	}
	workspaces cache.Store
	lastIdle   time.Time
	every      time.Duration
}

// run checkpoints the meter every meterEvery, and takes the persisted
// totals again whenever this replica starts leading (another leader may have
// metered since).
func (mt *metering) run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	t := time.NewTicker(mt.every)
	defer t.Stop()
	leading := leader.Leading()
	for {
		select {
		case <-ctx.Done():
			return
		case <-leader.Changed():
			if now := leader.Leading(); now != leading {
				leading = now
				if leading {
					mt.seedAll(logger)
				}
			}
			continue
		case <-t.C:
		}
		mt.meter.checkpoint()
		mt.idle()
	}
}

// seedAll takes every Workspace's persisted totals that are newer than the
// meter's.
func (mt *metering) seedAll(logger klog.Logger) {
	for _, obj := range mt.workspaces.List() {
		ws, err := toWorkspace(obj)
		if err != nil {
			logger.Error(err, "Ignoring a Workspace's spend")
			continue
		}
		mt.meter.seedNewer(ws.Name, ws.Status.Spend)
	}
}

// idle adds, for every priced pool, what its nodes cost since the last call
// and what of that no pod requested; and sets the node price gauges.
func (mt *metering) idle() {
	now := mt.meter.now()
	last := mt.lastIdle
	mt.lastIdle = now
	nodes, err := mt.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	pods, err := mt.pods.List(labels.Everything())
	if err != nil {
		return
	}
	for _, g := range []*k8smetrics.GaugeVec{nodeHourlyCost, nodeCPUHourlyCost, nodeRAMHourlyCost, nodeGPUHourlyCost} {
		g.Reset() // nodes that are gone
	}
	onNode := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if p.Spec.NodeName != "" && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			onNode[p.Spec.NodeName] = append(onNode[p.Spec.NodeName], p)
		}
	}
	for _, node := range nodes {
		rt := mt.rates.ofNode(node)
		if !rt.priced {
			continue
		}
		nodeHourlyCost.WithLabelValues(node.Name, rt.pool).Set(rt.nodePrice)
		nodeCPUHourlyCost.WithLabelValues(node.Name, rt.pool).Set(rt.cpu)
		nodeRAMHourlyCost.WithLabelValues(node.Name, rt.pool).Set(rt.memGiB)
		nodeGPUHourlyCost.WithLabelValues(node.Name, rt.pool).Set(rt.gpu)
		if last.IsZero() {
			continue
		}
		hours := now.Sub(last).Hours()
		paid := rt.nodePrice * hours
		used := 0.0
		for _, p := range onNode[node.Name] {
			used += rt.costOf(requestOf(p), hours).cost
		}
		poolCost.WithLabelValues(rt.pool).Add(paid)
		poolIdleCost.WithLabelValues(rt.pool).Add(max(0, paid-used))
	}
}
