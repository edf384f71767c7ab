package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// TestRestartAdmitsInQueueOrder: 50 pods of mixed priority wait while
// carve-scheduler is down, and the pods that held the quota finish in the
// meantime. The restarted scheduler admits in queue order (priority first),
// not in the order its informer lists the pods: the low-priority pods have
// names that list first.
func TestRestartAdmitsInQueueOrder(t *testing.T) {
	const quota, high, low = 5, 10, 40
	ctx := t.Context()
	for name, value := range map[string]int32{"wso-high": 1000, "wso-low": 10} {
		pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value, PreemptionPolicy: ptr.To(corev1.PreemptNever)}
		if _, err := k8s.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = k8s.SchedulingV1().PriorityClasses().Delete(context.Background(), name, metav1.DeleteOptions{})
		})
	}
	ws := ut.MakeWorkspace("wso", "small").Quota("", "", "", quota).Obj()
	pool := setup(t, ws, []string{"wso-alice"}, 1, "64", "256Gi")
	ns := "wso-alice"
	for i := range quota {
		create(t, workspacePod("wso", ns, fmt.Sprint("filler-", i), pool, "1"))
	}
	for i := range quota {
		waitBound(t, ns, fmt.Sprint("filler-", i))
	}

	stopScheduler()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := startScheduler(context.Background()); err != nil {
				t.Errorf("restarting carve-scheduler: %v", err)
			}
		}
	})
	// Low-priority pods are older and list first.
	for i := range low {
		p := workspacePod("wso", ns, fmt.Sprintf("a-low-%02d", i), pool, "1")
		p.Spec.PriorityClassName = "wso-low"
		create(t, p)
	}
	for i := range high {
		p := workspacePod("wso", ns, fmt.Sprintf("z-high-%02d", i), pool, "1")
		p.Spec.PriorityClassName = "wso-high"
		create(t, p)
	}
	for i := range quota {
		deletePod(t, ns, fmt.Sprint("filler-", i))
	}
	waitFor(t, "the fillers to go", func(ctx context.Context) (bool, error) {
		list, err := k8s.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, p := range list.Items {
			if strings.HasPrefix(p.Name, "filler-") {
				return false, nil
			}
		}
		return true, nil
	})

	if err := startScheduler(context.Background()); err != nil {
		t.Fatalf("restarting carve-scheduler: %v", err)
	}
	restarted = true
	var boundNames []string
	waitFor(t, fmt.Sprint(quota, " pods bound after the restart"), func(ctx context.Context) (bool, error) {
		list, err := k8s.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		boundNames = boundNames[:0]
		for _, p := range list.Items {
			if p.Spec.NodeName != "" {
				boundNames = append(boundNames, p.Name)
			}
		}
		return len(boundNames) >= quota, nil
	})
	for _, name := range boundNames {
		if !strings.HasPrefix(name, "z-high-") {
			t.Errorf("after the restart %v were bound; want only high-priority pods (the first %d of them)", boundNames, quota)
			break
		}
	}
	for _, want := range []string{"z-high-00", "z-high-01", "z-high-02", "z-high-03", "z-high-04"} {
		found := false
		for _, name := range boundNames {
			found = found || name == want
		}
		if !found {
			t.Errorf("bound %v; want the oldest high-priority pods, %s among them", boundNames, want)
		}
	}
	if len(boundNames) > quota {
		t.Errorf("%d pods bound, quota is %d", len(boundNames), quota)
	}
}
