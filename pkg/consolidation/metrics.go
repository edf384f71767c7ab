package consolidation

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics, labelled by NodePool (and reason or workload kind, a handful of
// values each), registered with carve-controller's metrics.
var (
	retired = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "carve_nodes_retired_total",
		Help: "Nodes carve-controller began to retire, by pool and reason (Underused, Requested, Drifted).",
	}, []string{"pool", "reason"})
	unretired = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "carve_nodes_unretired_total",
		Help: "Retiring nodes carve-controller took back because the pool needed them.",
	}, []string{"pool"})
	moved = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "carve_pods_moved_total",
		Help: "Pods evicted from retiring nodes, their replacements having room elsewhere, by pool and workload kind.",
	}, []string{"pool", "workload"})
	notified = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "carve_sessions_notified_total",
		Help: "Sessions told that their node is being retired.",
	}, []string{"pool"})
	stopped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "carve_sessions_stopped_total",
		Help: "Sessions evicted after their workspace's session deadline and notice.",
	}, []string{"pool"})
	draining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "carve_nodes_draining",
		Help: "Nodes of the pool being retired now.",
	}, []string{"pool"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(retired, unretired, moved, notified, stopped, draining)
}
