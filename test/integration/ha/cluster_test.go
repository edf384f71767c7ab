package ha_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carve-dev/carve/test/framework"
	"github.com/carve-dev/carve/test/framework/carvetest"
)

// startCluster starts a control plane of the test's own (with
// kube-controller-manager, for namespaces' ServiceAccounts), installs
// carve's CRDs and creates carve's namespace. Its clientset does no
// client-side throttling, so a test's load arrives at its rate.
func startCluster(t *testing.T, ctx context.Context) (*framework.Cluster, kubernetes.Interface) {
	t.Helper()
	c, err := framework.Start(ctx, framework.Options{ControllerManager: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() }) // after the tests' own cleanups, which read the logs
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = -1, 0
	k8s := kubernetes.NewForConfigOrDie(cfg)
	if err := carvetest.InstallCRDs(ctx, c.Config); err != nil {
		t.Fatal(err)
	}
	if _, err := k8s.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: carveNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c, k8s
}
