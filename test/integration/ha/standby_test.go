package ha_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/controller"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/test/framework"
	"github.com/carve-dev/carve/test/framework/carvetest"
)

// TestStandbySchedulerWritesNothing runs carve-scheduler, as its binary
// runs with the shipped configuration, while another replica (the test)
// holds the leader lease: a pod held for quota gets no condition from the
// standby. Once the lease is free the process leads and writes it.
func TestStandbySchedulerWritesNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, k8s := startCluster(t, ctx)
	cl, err := client.New(c.Config, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ns := "standby"
	for _, obj := range []client.Object{
		ut.MakeWorkspace("wsstandby", "small").Quota("500m", "1Gi", "0", 10).Obj(),
		ut.MakeProfile("small", "1", "1Gi").Obj(),
		ut.MakeNamespace(ns, "wsstandby", ""),
	} {
		if err := cl.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	// Another replica holds the lease and keeps renewing it.
	now := metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "carve-scheduler", Namespace: metav1.NamespaceSystem},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("other-replica"), LeaseDurationSeconds: ptr.To[int32](15),
			AcquireTime: &now, RenewTime: &now},
	}
	if _, err := k8s.CoordinationV1().Leases(metav1.NamespaceSystem).Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	renewCtx, stopRenewing := context.WithCancel(ctx)
	go func() {
		for renewCtx.Err() == nil {
			l, err := k8s.CoordinationV1().Leases(metav1.NamespaceSystem).Get(renewCtx, "carve-scheduler", metav1.GetOptions{})
			if err == nil {
				l.Spec.RenewTime = ptr.To(metav1.NewMicroTime(time.Now()))
				_, _ = k8s.CoordinationV1().Leases(metav1.NamespaceSystem).Update(renewCtx, l, metav1.UpdateOptions{})
			}
			select {
			case <-renewCtx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	defer stopRenewing()

	bins, err := framework.BuildBinaries(ctx, t.TempDir(), "./cmd/carve-scheduler")
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := carvetest.ShippedSchedulerConfig()
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(t.TempDir(), "config.yaml")
	data := "clientConnection:\n  kubeconfig: " + c.Kubeconfig + "\n" + string(shipped)
	if err := os.WriteFile(config, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	proc, err := framework.StartProcess("carve-scheduler-standby", bins["carve-scheduler"],
		[]string{"--config=" + config, "--secure-port=0"}, nil, filepath.Join(c.Dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = proc.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("carve-scheduler:\n%s", proc.Tail(40))
		}
	})
	// Set up and waiting for the lease: it has seen the pod below by the
	// time it would write.
	waitLog(t, ctx, proc, "Attempting to acquire leader lease")

	pod := ut.MakePod("held", ns).Label(carvev1.LabelWorkspace, "wsstandby").Container("main", "1", "1Gi").Obj()
	pod.Spec.SchedulerName = carvev1.SchedulerName
	pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	if _, err := k8s.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A leader writes the condition within a second (a new waiting pod is
	// written at once); give a standby five to show it does not.
	var written *corev1.PodCondition
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		c, err := condition(ctx, k8s, ns, "held")
		if ctx.Err() != nil {
			// The poll's time is up in the middle of the read.
			return false, nil
		}
		written = c
		return written != nil, err
	})
	switch {
	case err == nil:
		t.Fatalf("a standby wrote the pod's condition: %+v", written)
	case !wait.Interrupted(err):
		t.Fatalf("reading the pod: %v", err)
	}

	// The other replica goes away; this one takes the lease and writes.
	stopRenewing()
	if err := k8s.CoordinationV1().Leases(metav1.NamespaceSystem).Delete(ctx, "carve-scheduler", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		c, err := condition(ctx, k8s, ns, "held")
		return c != nil && c.Status == corev1.ConditionFalse && c.Reason == carvev1.ReasonWaitingForQuota, err
	})
	if err != nil {
		t.Fatalf("the new leader did not write the held pod's condition: %v", err)
	}
}

// condition is the pod's carve.dev/Admitted condition, nil when it has none.
func condition(ctx context.Context, k8s kubernetes.Interface, ns, name string) (*corev1.PodCondition, error) {
	p, err := k8s.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == carvev1.PodConditionAdmitted {
			return &p.Status.Conditions[i], nil
		}
	}
	return nil, nil
}

func waitLog(t *testing.T, ctx context.Context, p *framework.Process, line string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		if err := p.Exited(); err != nil {
			return false, err
		}
		data, _ := os.ReadFile(p.LogPath())
		return strings.Contains(string(data), line), nil
	})
	if err != nil {
		t.Fatalf("waiting for %q in the log: %v\n%s", line, err, p.Tail(30))
	}
}
