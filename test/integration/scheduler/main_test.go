// Package scheduler_test runs carve-scheduler in-process, as its binary
// does, against a real kube-apiserver, etcd and kube-controller-manager,
// with kwok running the nodes and the pods bound to them.
package scheduler_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/test/framework"
	"github.com/carve-dev/carve/test/framework/carvetest"
)

var (
	cluster *framework.Cluster
	k8s     kubernetes.Interface
	cl      client.Client
	// stopScheduler stops the running carve-scheduler.
	stopScheduler func()
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := framework.Start(ctx, framework.Options{ControllerManager: true, Kwok: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting control plane:", err)
		return 1
	}
	defer c.Stop()
	cluster, k8s = c, c.Client
	if err := carvetest.InstallCRDs(ctx, c.Config); err != nil {
		fmt.Fprintln(os.Stderr, "installing CRDs:", err)
		return 1
	}
	scheme := runtime.NewScheme()
	if err := carvev1.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if cl, err = client.New(c.Config, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := startScheduler(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { stopScheduler() }()
	return m.Run()
}

func startScheduler(ctx context.Context) error {
	config, err := carvetest.ShippedSchedulerConfig()
	if err != nil {
		return err
	}
	stop, err := carvetest.StartScheduler(ctx, cluster.Dir, cluster.Kubeconfig, config, func(cfg map[string]any) {
		// Status writes at once, so tests see positions without waiting.
		for _, p := range cfg["profiles"].([]any) {
			for _, pc := range p.(map[string]any)["pluginConfig"].([]any) {
				pc := pc.(map[string]any)
				if pc["name"] == "WorkspaceQueue" {
					pc["args"].(map[string]any)["statusUpdateInterval"] = "0s"
					pc["args"].(map[string]any)["statusUpdatesPerSecond"] = 200
					pc["args"].(map[string]any)["meteringInterval"] = "1s"
				}
			}
			plugins := p.(map[string]any)["plugins"].(map[string]any)
			preBind, _ := plugins["preBind"].(map[string]any)
			if preBind == nil {
				preBind = map[string]any{}
				plugins["preBind"] = preBind
			}
			enabled, _ := preBind["enabled"].([]any)
			preBind["enabled"] = append(enabled, map[string]any{"name": failPreBindOnceName})
		}
	}, app.WithPlugin(failPreBindOnceName, newFailPreBindOnce))
	if err != nil {
		return err
	}
	stopScheduler = stop
	return nil
}

const (
	poll    = 100 * time.Millisecond
	timeout = 60 * time.Second
)

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), poll, timeout, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// setup creates a Workspace with quota, its project namespaces and a kwok
// node of the given size labelled with pool (pods select it), and returns
// the pool label value.
func setup(t *testing.T, ws *carvev1.Workspace, namespaces []string, nodes int, cpu, memory string) string {
	t.Helper()
	ctx := t.Context()
	pool := ws.Name
	if err := cl.Create(ctx, ws); err != nil {
		t.Fatalf("creating workspace: %v", err)
	}
	t.Cleanup(func() { _ = cl.Delete(context.Background(), ws) })
	for _, ns := range namespaces {
		if _, err := k8s.CoreV1().Namespaces().Create(ctx, ut.MakeNamespace(ns, ws.Name, ""), metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating namespace %s: %v", ns, err)
		}
		t.Cleanup(func() { _ = k8s.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
		waitFor(t, "default ServiceAccount in "+ns, func(ctx context.Context) (bool, error) {
			_, err := k8s.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			return err == nil, nil
		})
	}
	for i := range nodes {
		name := fmt.Sprintf("%s-%d", pool, i)
		capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}
		if _, err := cluster.AddNode(ctx, name, capacity, map[string]string{carvev1.LabelNodePool: pool}, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8s.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
		if _, err := cluster.WaitNodeReady(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	return pool
}

// workspacePod is a pod as carve's webhook leaves it: carve's scheduler, the
// workspace labels, a pool selector and the profile's requests.
func workspacePod(ws, ns, name, pool, cpu string) *corev1.Pod {
	p := ut.MakePod(name, ns).Workspace(ws, "").Workload(carvev1.WorkloadJob).
		SchedulerName(carvev1.SchedulerName).NodeSelector(carvev1.LabelNodePool, pool).
		Container("main", cpu, "1Gi").Obj()
	p.Spec.Containers[0].Image = "busybox"
	return p
}

func create(t *testing.T, pods ...*corev1.Pod) {
	t.Helper()
	for _, p := range pods {
		if _, err := k8s.CoreV1().Pods(p.Namespace).Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod %s/%s: %v", p.Namespace, p.Name, err)
		}
	}
}

func deletePod(t *testing.T, ns, name string) {
	t.Helper()
	err := k8s.CoreV1().Pods(ns).Delete(t.Context(), name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("deleting pod %s/%s: %v", ns, name, err)
	}
}

func getPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return k8s.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
}

func condition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// waitBound waits until the pod is bound and returns its node.
func waitBound(t *testing.T, ns, name string) string {
	t.Helper()
	var node string
	waitFor(t, "pod "+ns+"/"+name+" bound", func(ctx context.Context) (bool, error) {
		p, err := getPod(ctx, ns, name)
		if err != nil {
			return false, err
		}
		node = p.Spec.NodeName
		return node != "", nil
	})
	return node
}

// waitWaiting waits until the pod carries carve's waiting condition with
// message (and maybe a wait estimate after it) and returns the pod.
func waitWaiting(t *testing.T, ns, name, message string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	waitFor(t, fmt.Sprintf("pod %s/%s waiting with %q", ns, name, message), func(ctx context.Context) (bool, error) {
		p, err := getPod(ctx, ns, name)
		if err != nil {
			return false, err
		}
		pod = p
		c := condition(p, carvev1.PodConditionAdmitted)
		// The message may end with the wait estimate, which depends on timing.
		return c != nil && c.Status == corev1.ConditionFalse && c.Reason == carvev1.ReasonWaitingForQuota &&
			(c.Message == message || strings.HasPrefix(c.Message, message+"; expected to start ")), nil
	})
	return pod
}
