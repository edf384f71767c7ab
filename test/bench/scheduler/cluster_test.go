package scheduler

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/test/framework"
	"github.com/carve-dev/carve/test/framework/carvetest"
)

// The cluster every run gets: nodes of one pool, and pods spread over the
// project namespaces of one workspace.
const (
	poolName    = "bench"
	projects    = 5
	nodeCPU     = "32"
	nodeMemory  = "128Gi"
	nodePods    = "110"
	podCPU      = "500m"
	podMemory   = "1Gi"
	benchLabel  = "carve.dev/bench"
	benchValue  = "throughput"
	loadWorkers = 16
	// loadQPS is the rate limit of the benchmark's own clients: high
	// enough never to be what limits creating nodes and pods.
	loadQPS = 5000
)

// apiserverArgs are scheduler_perf's: no kube-controller-manager runs, so
// nothing would create ServiceAccounts or lift the not-ready taint that
// TaintNodesByCondition puts on new Nodes.
var apiserverArgs = []string{"--disable-admission-plugins=ServiceAccount,TaintNodesByCondition,Priority"}

// env is one run's control plane.
type env struct {
	cluster *framework.Cluster
	// client is the load generator's: protobuf, like the scheduler's, and
	// with a rate limit that never binds.
	client kubernetes.Interface
}

// startEnv starts a fresh etcd and kube-apiserver, installs carve's CRDs and
// creates ws, its project namespaces and the nodes. The caller stops it.
func startEnv(ctx context.Context, ws *carvev1.Workspace, nodes int) (_ *env, err error) {
	c, err := framework.Start(ctx, framework.Options{APIServerArgs: apiserverArgs})
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	e := &env{cluster: c}
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = loadQPS, loadQPS
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	if e.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if err := carvetest.InstallCRDs(ctx, c.Config); err != nil {
		return nil, fmt.Errorf("installing carve's CRDs: %w", err)
	}
	if err := createWorkspace(ctx, c.Config, ws); err != nil {
		return nil, err
	}
	for i := range projects {
		if _, err := e.client.CoreV1().Namespaces().Create(ctx, ut.MakeNamespace(project(i), ws.Name, ""), metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating namespace %s: %w", project(i), err)
		}
	}
	if err := parallel(ctx, nodes, func(ctx context.Context, i int) error {
		_, err := e.client.CoreV1().Nodes().Create(ctx, node(fmt.Sprintf("node-%d", i)), metav1.CreateOptions{})
		return err
	}); err != nil {
		return nil, fmt.Errorf("creating nodes: %w", err)
	}
	return e, nil
}

func createWorkspace(ctx context.Context, cfg *rest.Config, ws *carvev1.Workspace) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ws)
	if err != nil {
		return err
	}
	_, err = dyn.Resource(carvev1.GroupVersion.WithResource("workspaces")).
		Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating Workspace %s: %w", ws.Name, err)
	}
	return nil
}

func project(i int) string { return fmt.Sprintf("%s-p%d", workspaceName, i) }

// node is a Node as a kubelet would register it, Ready and untainted. No
// kubelet or kwok runs: binding is all that is measured.
func node(name string) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(nodeCPU),
		corev1.ResourceMemory: resource.MustParse(nodeMemory),
		corev1.ResourcePods:   resource.MustParse(nodePods),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			corev1.LabelHostname:   name,
			corev1.LabelOSStable:   "linux",
			corev1.LabelArchStable: "amd64",
			carvev1.LabelNodePool:  poolName,
		}},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}},
			Phase:       corev1.NodeRunning,
		},
	}
}

// pod is a workspace pod as carve's webhook leaves it (workspace and
// workload labels, the pool's node selector, the profile's requests),
// naming schedulerName. Every case schedules the same pods.
func pod(name, namespace, schedulerName string) *corev1.Pod {
	p := ut.MakePod(name, namespace).Workspace(workspaceName, "").Workload(carvev1.WorkloadJob).
		Profile("small").Label(benchLabel, benchValue).
		SchedulerName(schedulerName).NodeSelector(carvev1.LabelNodePool, poolName).
		Container("main", podCPU, podMemory).Obj()
	p.Spec.Containers[0].Image = "busybox"
	return p
}

// parallel calls f for 0..n-1 from loadWorkers goroutines and returns the
// first error; it stops handing out work once one is seen.
func parallel(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		failed   atomic.Bool
	)
	for range min(loadWorkers, n) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() { firstErr = err })
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}
