// Package leader tells carve's scheduler plugins whether their process is
// the one that schedules. kube-scheduler builds its plugins, and feeds
// them pods from its informers, on every replica; only the holder of the
// leader-election lease schedules. What a plugin writes to the API (pod
// conditions, events) must come from that replica alone, or standbys
// would write stale status over the leader's.
//
// kube-scheduler tells plugins nothing about the lease, but client-go's
// leader election reports every change of leadership to a metrics
// provider: carve-scheduler installs one (keeping the
// leader_election_master_status gauge kube-scheduler would have) and reads
// the state from it. A process without leader election says so with
// Elect(false) and then always leads.
package leader

import (
	"sync"

	"k8s.io/client-go/tools/leaderelection"
	k8smetrics "k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

var (
	mu sync.Mutex
	// decided is set once the process knows whether it elects a leader.
	decided, elects, holds bool
	changed                = make(chan struct{})

	gauge = k8smetrics.NewGaugeVec(&k8smetrics.GaugeOpts{
		Name:           "leader_election_master_status",
		StabilityLevel: k8smetrics.ALPHA,
		Help:           "1 while this process holds the lease named by 'name', 0 while it waits for it.",
	}, []string{"name"})
	registerOnce sync.Once
)

// InstallMetricsProvider makes client-go's leader election report to this
// package. Call it before any leader elector is made; client-go keeps the
// first provider installed, so nothing else may install one (carve-scheduler
// does not import component-base's clientgo/leaderelection metrics).
func InstallMetricsProvider() { leaderelection.SetProvider(provider{}) }

// Elect records whether this process elects a leader; until it is
// called, Leading is false.
func Elect(enabled bool) {
	mu.Lock()
	defer mu.Unlock()
	decided, elects = true, enabled
	notifyLocked()
}

// Leading reports whether this process schedules: leader election is off,
// or on and this process holds the lease.
func Leading() bool {
	mu.Lock()
	defer mu.Unlock()
	return decided && (!elects || holds)
}

// Changed is closed at the next change of Leading's answer (or of what
// it is based on).
func Changed() <-chan struct{} {
	mu.Lock()
	defer mu.Unlock()
	return changed
}

func set(held bool) {
	mu.Lock()
	defer mu.Unlock()
	if holds != held {
		holds = held
		notifyLocked()
	}
}

func notifyLocked() {
	close(changed)
	changed = make(chan struct{})
}

type provider struct{}

func (provider) NewLeaderMetric() leaderelection.LeaderMetric {
	registerOnce.Do(func() { legacyregistry.MustRegister(gauge) })
	return metric{}
}

type metric struct{}

func (metric) On(name string)  { gauge.WithLabelValues(name).Set(1); set(true) }
func (metric) Off(name string) { gauge.WithLabelValues(name).Set(0); set(false) }

func (metric) SlowpathExercised(string) {}
