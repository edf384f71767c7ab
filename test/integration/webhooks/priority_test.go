package webhooks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func createClass(t *testing.T, pc *schedulingv1.PriorityClass) {
	t.Helper()
	if _, err := k8s.SchedulingV1().PriorityClasses().Create(t.Context(), pc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = k8s.SchedulingV1().PriorityClasses().Delete(context.Background(), pc.Name, metav1.DeleteOptions{})
	})
}

// TestPriorityClasses runs the workspace's priority class policy through
// the real admission chain, where the API server's Priority plugin resolves
// the class before carve's webhook and checks again after it: a class the
// workspace does not allow is refused, a session may not preempt, and the
// workspace's default class replaces the cluster's globalDefault with a
// value and preemption policy the Priority plugin accepts.
func TestPriorityClasses(t *testing.T) {
	ctx := t.Context()
	createClass(t, ut.MakePriorityClass("prio-preempt", 1000, corev1.PreemptLowerPriority, false))
	createClass(t, ut.MakePriorityClass("prio-calm", 900, corev1.PreemptNever, false))
	ws := ut.MakeWorkspace("prio", "small").PriorityClasses("prio-calm", "", "prio-calm", "prio-preempt").Obj()
	if err := cl.Create(ctx, ws); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Delete(context.Background(), ws) })
	nsObj, err := k8s.CoreV1().Namespaces().Create(ctx, ut.MakeNamespace("prio-alice", "prio", ""), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns := nsObj.Name
	t.Cleanup(func() { _ = k8s.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })

	podWith := func(name, class string, workload carvev1.Workload) *corev1.Pod {
		p := ut.MakePod(name, ns).Label(carvev1.LabelWorkload, string(workload)).Container("c", "", "").Obj()
		p.Spec.PriorityClassName = class
		return p
	}
	refused := func(p *corev1.Pod, says ...string) {
		t.Helper()
		_, err := k8s.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err == nil {
			t.Errorf("pod %s with class %q was admitted", p.Name, p.Spec.PriorityClassName)
			return
		}
		for _, s := range says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("refusal of %s: %q does not say %q", p.Name, err, s)
			}
		}
	}
	refused(podWith("critical", "system-cluster-critical", carvev1.WorkloadSession),
		"PriorityClassNotAllowed", `"system-cluster-critical"`, "prio-calm, prio-preempt")
	refused(podWith("jumper", "prio-preempt", carvev1.WorkloadSession),
		"SessionMayPreempt", `"prio-preempt"`, "preemptionPolicy: Never")

	admitted := func(p *corev1.Pod, class string, value int32, policy corev1.PreemptionPolicy) {
		t.Helper()
		got, err := k8s.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Errorf("pod %s: %v", p.Name, err)
			return
		}
		if got.Spec.PriorityClassName != class || ptr.Deref(got.Spec.Priority, 0) != value || ptr.Deref(got.Spec.PreemptionPolicy, "") != policy {
			t.Errorf("pod %s: class %q priority %d preemption %s; want %q %d %s", p.Name, got.Spec.PriorityClassName,
				ptr.Deref(got.Spec.Priority, 0), ptr.Deref(got.Spec.PreemptionPolicy, ""), class, value, policy)
		}
	}
	admitted(podWith("batch", "prio-preempt", carvev1.WorkloadJob), "prio-preempt", 1000, corev1.PreemptLowerPriority)
	admitted(podWith("nb", "", carvev1.WorkloadSession), "prio-calm", 900, corev1.PreemptNever)

	// With a cluster-wide default class the Priority plugin gives it first;
	// carve replaces it with the workspace's default.
	createClass(t, ut.MakePriorityClass("prio-global", 10, corev1.PreemptLowerPriority, true))
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := k8s.CoreV1().Pods(ns).Create(ctx, podWith("nb2", "", carvev1.WorkloadSession), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, err
		}
		// Until carve's cache has the new class, carve cannot tell it is
		// the cluster's default, and the pod keeps it.
		return got.Spec.PriorityClassName == "prio-calm" && ptr.Deref(got.Spec.Priority, 0) == 900, nil
	})
	if err != nil {
		t.Errorf("a session naming no class under a cluster default class: %v; want the workspace's default prio-calm", err)
	}
}
