package framework_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/carve-dev/carve/test/framework"
)

// TestClusterRunsDeploymentOnKwokNode checks the whole chain the other tests
// rely on: the apiserver serves, kube-controller-manager turns a Deployment
// into pods and lifts the not-ready taint, kube-scheduler binds the pods, and
// kwok makes the node Ready and the pods Running.
func TestClusterRunsDeploymentOnKwokNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real control plane")
	}
	ctx := t.Context()

	begin := time.Now()
	c, err := framework.Start(ctx, framework.Options{
		Dir:               t.TempDir(),
		ControllerManager: true,
		Scheduler:         true,
		Kwok:              true,
	})
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Logf("control plane ready in %s (dir %s)", time.Since(begin).Round(time.Millisecond), c.Dir)
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
				t.Logf("--- end of %s log ---\n%s", name, tail(c.LogPath(name), 40))
			}
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})

	begin = time.Now()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("4"),
		corev1.ResourceMemory: resource.MustParse("16Gi"),
	}
	if _, err := c.AddNode(ctx, "kwok-node-0", capacity, map[string]string{"carve.dev/test": "true"}, nil); err != nil {
		t.Fatal(err)
	}
	node, err := c.WaitNodeReady(ctx, "kwok-node-0")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kwok node Ready and untainted in %s", time.Since(begin).Round(time.Millisecond))
	for _, taint := range node.Spec.Taints {
		if taint.Key == corev1.TaintNodeNotReady {
			t.Errorf("node still has taint %v", taint)
		}
	}
	if got := node.Labels["type"]; got != "kwok" {
		t.Errorf("node label type = %q, want kwok", got)
	}

	begin = time.Now()
	labels := map[string]string{"app": "framework-test"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "framework-test", Namespace: metav1.NamespaceDefault},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"type": "kwok"},
					Containers: []corev1.Container{{
						Name:  "app",
						Image: "registry.k8s.io/pause:3.10",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU:    resource.MustParse("500m"),
							corev1.ResourceMemory: resource.MustParse("256Mi"),
						}},
					}},
				},
			},
		},
	}
	if _, err := c.Client.AppsV1().Deployments(deploy.Namespace).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating deployment: %v", err)
	}

	var pods []corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := c.Client.CoreV1().Pods(deploy.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=framework-test"})
		if err != nil {
			return false, err
		}
		pods = list.Items
		running := 0
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName == "kwok-node-0" {
				running++
			}
		}
		return running == 2, nil
	})
	if err != nil {
		for _, p := range pods {
			t.Logf("pod %s: node %q phase %s conditions %v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.Conditions)
		}
		t.Fatalf("waiting for 2 running pods on kwok-node-0: %v", err)
	}
	t.Logf("2 deployment pods Running on the kwok node in %s", time.Since(begin).Round(time.Millisecond))

	begin = time.Now()
	if err := c.Stop(); err != nil {
		t.Fatalf("stopping the control plane: %v", err)
	}
	t.Logf("control plane stopped in %s", time.Since(begin).Round(time.Millisecond))
	if _, err := c.Client.Discovery().ServerVersion(); err == nil {
		t.Errorf("apiserver still answers after Stop")
	}
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestStartReportsEarlyExit checks that a component that dies during start-up
// makes Start fail fast with the reason from its log, and leaves nothing
// running.
func TestStartReportsEarlyExit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real control plane")
	}
	begin := time.Now()
	c, err := framework.Start(t.Context(), framework.Options{
		Dir:           t.TempDir(),
		APIServerArgs: []string{"--no-such-flag=1"},
	})
	if err == nil {
		c.Stop()
		t.Fatal("Start succeeded with an unknown kube-apiserver flag")
	}
	t.Logf("Start error: %v", err)
	for _, want := range []string{"kube-apiserver exited unexpectedly", "unknown flag: --no-such-flag"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start error does not contain %q:\n%v", want, err)
		}
	}
	if d := time.Since(begin); d > 30*time.Second {
		t.Errorf("Start took %s to notice the exit", d)
	}
}
