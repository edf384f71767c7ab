package consolidation

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	configv1 "github.com/carve-dev/carve/pkg/apis/config/v1"
)

// Defaults of Options.
const (
	DefaultInterval      = 10 * time.Second
	DefaultArrivalWindow = 10 * time.Minute
	// DefaultSessionNotice is the least time between telling a session's
	// owner it will be stopped and stopping it, when the Workspace sets a
	// deadline and no notice.
	DefaultSessionNotice = time.Hour
)

// Options configure the consolidation controller.
type Options struct {
	// Interval is how often every pool is planned.
	Interval time.Duration
	// ArrivalWindow: a pool keeps free, on the nodes that stay, the
	// requests of the pods that arrived in it during this window.
	ArrivalWindow time.Duration
	// Lifetimes are the expected lifetimes of the workload kinds (the same
	// as carve-scheduler's BinPack lifetimes); a pod's
	// carve.dev/expected-duration annotation overrides its kind's.
	Lifetimes map[carvev1.Workload]time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Complete fills in the defaults and checks the rest.
func (o *Options) Complete() error {
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.ArrivalWindow == 0 {
		o.ArrivalWindow = DefaultArrivalWindow
	}
	if o.Interval < 0 || o.ArrivalWindow < 0 {
		return fmt.Errorf("consolidation: interval %v and arrival window %v must not be negative", o.Interval, o.ArrivalWindow)
	}
	if o.Lifetimes == nil {
		o.Lifetimes = map[carvev1.Workload]time.Duration{}
	}
	for k, d := range configv1.DefaultLifetimes {
		if _, ok := o.Lifetimes[carvev1.Workload(k)]; !ok {
			o.Lifetimes[carvev1.Workload(k)] = d
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// lifetime is how long the pod is expected to run in all.
func (o *Options) lifetime(p *corev1.Pod) time.Duration {
	if d, err := time.ParseDuration(p.Annotations[carvev1.AnnotationExpectedDuration]); err == nil && d > 0 {
		return d
	}
	kind := carvev1.Workload(p.Labels[carvev1.LabelWorkload])
	if d, ok := o.Lifetimes[kind]; ok {
		return d
	}
	return o.Lifetimes[carvev1.WorkloadOther]
}
