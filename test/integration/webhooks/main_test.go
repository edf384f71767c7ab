// Package webhooks_test runs carve's webhooks against a real kube-apiserver,
// etcd and kube-controller-manager: carve-controller runs in-process as the
// binary does, registered with the apiserver over TLS.
package webhooks_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/controller"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/test/framework"
	"github.com/carve-dev/carve/test/framework/carvetest"
)

var (
	k8s     *kubernetes.Clientset
	cl      client.Client
	baseCfg *rest.Config
)

// restConfig is the admin config with its own warning handler.
func restConfig(h rest.WarningHandler) *rest.Config {
	c := rest.CopyConfig(baseCfg)
	c.WarningHandler = h
	return c
}

const carveNS = "carve-system"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := framework.Start(ctx, framework.Options{ControllerManager: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting control plane:", err)
		return 1
	}
	defer c.Stop()
	if err := setup(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "setting up carve:", err)
		return 1
	}
	return m.Run()
}

func setup(ctx context.Context, c *framework.Cluster) error {
	var err error
	baseCfg = c.Config
	if k8s, err = kubernetes.NewForConfig(c.Config); err != nil {
		return err
	}
	if cl, err = client.New(c.Config, client.Options{Scheme: controller.Scheme()}); err != nil {
		return err
	}
	if err := carvetest.InstallCRDs(ctx, c.Config); err != nil {
		return err
	}
	if _, err := k8s.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: carveNS}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := carvetest.StartController(ctx, c.Config, carveNS, controller.PodLevelAuto); err != nil {
		return err
	}
	for _, obj := range []client.Object{
		ut.MakeNodePool("base", carvev1.NodePoolRoleBase, 1, 1, "4", "16Gi").Obj(),
		ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 10, "16", "64Gi").Price("0.68").Obj(),
		ut.MakeNodePool("gpu", carvev1.NodePoolRoleGPU, 0, 4, "32", "128Gi").Capacity("nvidia.com/gpu", "4").
			Taint("nvidia.com/gpu", "", corev1.TaintEffectNoSchedule).TemplateLabel("nvidia.com/gpu.present", "true").Obj(),
		ut.MakeProfile("small", "1", "2Gi").Obj(),
		ut.MakeProfile("large", "4", "16Gi").CPULimit("6").Pools("cpu").Obj(),
		ut.MakeProfile("gpu-1", "8", "32Gi").GPU(1, "").Pools("gpu").Obj(),
		ut.MakeProfile("huge", "32", "256Gi").Pools("cpu").Obj(),
		ut.MakeWorkspace("ml", "small", "large", "gpu-1").Quota("64", "256Gi", "4", 100).Obj(),
	} {
		if err := cl.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}

// workspaceNamespace creates a namespace of workspace ml for one test.
func workspaceNamespace(t *testing.T, team string) string {
	t.Helper()
	ns := ut.MakeNamespace("", "ml", team)
	ns.GenerateName = "ws-"
	got, err := k8s.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = k8s.CoreV1().Namespaces().Delete(context.Background(), got.Name, metav1.DeleteOptions{})
	})
	return got.Name
}
