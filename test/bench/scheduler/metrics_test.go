package scheduler

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/component-base/metrics/testutil"
	schedmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"
)

// The in-process scheduler's own metrics (kube-scheduler's registry is
// process-wide, so counters are read as differences over one run).

// hintedPods counts the pods of profile that opportunistic batching placed
// on the node it hinted, without filtering and scoring every node.
func hintedPods(profile string) float64 {
	v, _ := testutil.GetCounterMetricValue(schedmetrics.BatchAttemptStats.WithLabelValues(profile, schedmetrics.BatchAttemptHintUsed))
	return v
}

// waitBindingsDone waits until no binding of the scheduler is in flight. A
// watch can show a pod bound before the scheduler has read the answer to
// its binding request; stopping the scheduler then would log each such
// binding as failed.
func waitBindingsDone(ctx context.Context) {
	_ = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		v, err := testutil.GetGaugeMetricValue(schedmetrics.Goroutines.WithLabelValues(schedmetrics.Binding))
		return err == nil && v == 0, nil
	})
}
