package workspacequeue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// hold tells admission which scopes have spent a budget; event
	// records the warnings on Workspaces.
	hold func(workspace string, spent map[scopeKey]spentBudget)
	// projectsOf lists a workspace's namespaces, for budgets of each
	// project.
	projectsOf func(workspace string) []string
	event      func(regarding runtime.Object, eventType, reason, note string)
	// warned is the last warning level (80, 100) of each budget this
	// period, by budgetStatusKey; budgetsMu serializes evaluations (after
	// checkpoints, and when a Workspace changes).
	budgetsMu sync.Mutex
	warned    map[string]int32
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
		mt.budgets(leading)
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
		mt.meter.seedNewer(ws.Name, ws.Status.Spend, ws.Status.Budgets)
	}
}

// budgetPeriodOf is a budget period's start and end around t.
func budgetPeriodOf(p carvev1.BudgetPeriod, t time.Time) (start, end time.Time) {
	switch p {
	case carvev1.BudgetDay:
		_, start, end = shortPeriodOf(periodDay, t)
	case carvev1.BudgetWeek:
		_, start, end = shortPeriodOf(periodWeek, t)
	default:
		_, start, end = periodOf(t)
	}
	return start, end
}

// budgetLimit is a budget's unit, its limit, and what of s counts against
// it.
func budgetLimit(b carvev1.Budget, s spend) (unit string, limit, used float64) {
	switch {
	case b.CPUHours != nil:
		return "cpuHours", b.CPUHours.AsApproximateFloat64(), s.cpuHours
	case b.GPUHours != nil:
		return "gpuHours", b.GPUHours.AsApproximateFloat64(), s.gpuHours
	case b.Cost != nil:
		return "cost", b.Cost.AsApproximateFloat64(), s.cost
	}
	return "", math.Inf(1), 0
}

func budgetStatusKey(ws string, st carvev1.BudgetStatus) string {
	return ws + "/" + string(st.Scope) + "/" + st.Name + "/" + string(st.Period) + "/" + st.Unit + "/" + st.PeriodStart.UTC().Format(time.RFC3339)
}

// budgets evaluates every Workspace's budgets after a checkpoint: how much
// of each is used (for the status), which scopes have spent one (their new
// pods wait), and, on the leader, a Warning Event on the Workspace when a
// budget passes 80 % and 100 % of its limit in a period.
func (mt *metering) budgets(leading bool) {
	for _, obj := range mt.workspaces.List() {
		mt.budgetsOf(obj, leading)
	}
}

// budgetsOf evaluates one Workspace's budgets; a Workspace event runs it at
// once, so that a budget that is spent already holds pods from the moment
// it is set.
func (mt *metering) budgetsOf(obj any, leading bool) {
	mt.budgetsMu.Lock()
	defer mt.budgetsMu.Unlock()
	now := mt.meter.now()
	if mt.warned == nil {
		mt.warned = map[string]int32{}
	}
	ws, err := toWorkspace(obj)
	if err != nil {
		return
	}
	if len(ws.Spec.Budgets) == 0 {
		mt.meter.setBudgets(ws.Name, nil)
		mt.hold(ws.Name, nil)
		return
	}
	// Warnings already given this period, before a restart.
	for _, st := range ws.Status.Budgets {
		if k := budgetStatusKey(ws.Name, st); mt.warned[k] < st.Warned {
			mt.warned[k] = st.Warned
		}
	}
	var statuses []carvev1.BudgetStatus
	spent := map[scopeKey]spentBudget{}
	for _, b := range ws.Spec.Budgets {
		names := []string{b.Name}
		if b.Scope == carvev1.BudgetProject && b.Name == "" {
			names = mt.meter.projects(ws.Name)
			if mt.projectsOf != nil {
				names = append(names, mt.projectsOf(ws.Name)...)
				slices.Sort(names)
				names = slices.Compact(names)
			}
		}
		start, end := budgetPeriodOf(b.Period, now)
		for _, name := range names {
			unit, limit, used := budgetLimit(b, mt.meter.used(ws.Name, b, name, now))
			st := carvev1.BudgetStatus{
				Scope: b.Scope, Name: name, Period: b.Period, Unit: unit,
				Used: strconv.FormatFloat(used, 'f', 6, 64), Limit: strconv.FormatFloat(limit, 'f', -1, 64),
				PeriodStart: metav1.NewTime(start), ResetsAt: metav1.NewTime(end), Spent: used >= limit,
			}
			key := budgetStatusKey(ws.Name, st)
			level := int32(0)
			switch {
			case used >= limit:
				level = 100
			case used >= 0.8*limit:
				level = 80
			}
			if level > mt.warned[key] && leading {
				whose := "workspace " + ws.Name
				if b.Scope != carvev1.BudgetWorkspace {
					whose = strings.ToLower(string(b.Scope)) + " " + name + " of workspace " + ws.Name
				}
				reason, note := "BudgetAlmostSpent", fmt.Sprintf("%s has used %s of its %s %s budget of %s (%d %%) this %s, which ends at %s",
					whose, st.Used, strings.ToLower(string(b.Period)), unit, st.Limit, int(100*used/limit), strings.ToLower(string(b.Period)), end.Format("2006-01-02 15:04 MST"))
				if level == 100 {
					reason = "BudgetSpent"
					note += "; its new pods wait until then (running pods keep running); raise the budget to let them start"
				}
				if ro, ok := unwrap(obj).(runtime.Object); ok {
					mt.event(ro, corev1.EventTypeWarning, reason, note)
				}
				mt.warned[key] = level
			}
			if leading {
				st.Warned = mt.warned[key]
			} else {
				st.Warned = max(st.Warned, mt.warned[key])
			}
			statuses = append(statuses, st)
			if st.Spent {
				k := scopeKey{scope: map[carvev1.BudgetScope]scope{carvev1.BudgetWorkspace: scopeWorkspace, carvev1.BudgetTeam: scopeTeam, carvev1.BudgetProject: scopeProject}[b.Scope], name: name}
				if _, dup := spent[k]; !dup {
					spent[k] = spentBudget{hold: budgetHold{period: b.Period, unit: unit, resets: end},
						used: int64(math.Round(used * 1e6)), limit: int64(math.Round(limit * 1e6))}
				}
			}
		}
	}
	mt.meter.setBudgets(ws.Name, statuses)
	mt.hold(ws.Name, spent)
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
