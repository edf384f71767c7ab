// Package consolidation_test runs carve-controller (webhooks and the
// consolidation controller, with leader election) and carve-scheduler
// in-process, as their binaries do, against a real kube-apiserver, etcd and
// kube-controller-manager (Deployments, PodDisruptionBudgets), with kwok
// running the nodes and pods.
package consolidation_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/consolidation"
	"github.com/carve-dev/carve/pkg/controller"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/test/framework"
	"github.com/carve-dev/carve/test/framework/carvetest"
)

const (
	carveNS = "carve-system"
	// interval is how often the consolidation controller plans here.
	interval = 300 * time.Millisecond
	poll     = 100 * time.Millisecond
	timeout  = 60 * time.Second
)

var (
	cluster *framework.Cluster
	k8s     kubernetes.Interface
	cl      client.Client
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
	if err := start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func start(ctx context.Context) error {
	var err error
	cl, err = carvetest.StartCarve(ctx, cluster, carveNS, func(o *controller.Options) {
		o.LeaderElection = true
		// Pods the tests create count as no arrival, so that headroom
		// does not depend on how fast a test runs.
		o.Consolidation = &consolidation.Options{Interval: interval, ArrivalWindow: time.Nanosecond}
	}, nil)
	return err
}

func waitFor(t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), poll, timeout, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// holds checks that cond stays true for several planning rounds.
func holds(t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	end := time.Now().Add(8 * interval)
	for time.Now().Before(end) {
		ok, err := cond(t.Context())
		if err != nil {
			t.Fatalf("checking that %s: %v", what, err)
		}
		if !ok {
			t.Fatalf("%s no longer holds", what)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(poll):
		}
	}
}

// scene is one test's pool, profiles, workspace and project namespace.
type scene struct {
	pool, ws, ns string
}

// newScene creates a kwok NodePool of 8-CPU nodes with consolidation off
// (so nothing is retired while the test places its pods), profiles
// "<pool>-1", "<pool>-2" and "<pool>-5" of that many CPUs on it, the
// workspace "ws<pool>" allowing them (changed by edit) and the project
// namespace "<pool>-alice".
func newScene(t *testing.T, pool string, role carvev1.NodePoolRole, min int32, edit func(*ut.WorkspaceWrapper)) scene {
	t.Helper()
	ctx := t.Context()
	s := scene{pool: pool, ws: "ws" + pool, ns: pool + "-alice"}
	ws := ut.MakeWorkspace(s.ws, pool+"-1", pool+"-2", pool+"-5").Default(pool + "-1")
	if edit != nil {
		edit(ws)
	}
	objs := []client.Object{
		ut.MakeNodePool(pool, role, min, 10, "8", "32Gi").Consolidation(carvev1.ConsolidateNever).Obj(),
	}
	for _, c := range []string{"1", "2", "5"} {
		objs = append(objs, ut.MakeProfile(pool+"-"+c, c, "2Gi").Pools(pool).Obj())
	}
	objs = append(objs, ws.Obj(), ut.MakeNamespace(s.ns, ws.Name, ""))
	for _, o := range objs {
		if err := cl.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
		t.Cleanup(func() { _ = cl.Delete(context.Background(), o) })
	}
	waitFor(t, "default ServiceAccount in "+s.ns, func(ctx context.Context) (bool, error) {
		_, err := k8s.CoreV1().ServiceAccounts(s.ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	return s
}

// addNode adds a Ready kwok node of the pool, cordoned when cordon is set
// (the tests steer pods with cordons).
func (s scene) addNode(t *testing.T, name string, cordon bool) {
	t.Helper()
	ctx := t.Context()
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi")}
	if _, err := cluster.AddNode(ctx, name, capacity, map[string]string{carvev1.LabelNodePool: s.pool}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	if _, err := cluster.WaitNodeReady(ctx, name); err != nil {
		t.Fatal(err)
	}
	setCordon(t, name, cordon)
}

func setCordon(t *testing.T, name string, on bool) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%v}}`, on)
	if _, err := k8s.CoreV1().Nodes().Patch(t.Context(), name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("cordoning node %s: %v", name, err)
	}
}

// consolidate turns the pool's consolidation on.
func (s scene) consolidate(t *testing.T, budget int32) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"disruption":{"consolidation":"WhenUnderused","budget":%d}}}`, budget)
	np := &carvev1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: s.pool}}
	if err := cl.Patch(t.Context(), np, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatalf("turning consolidation on: %v", err)
	}
}

// session creates a bare pod of the profile (a session, to carve), expected
// to run for expected, and waits until it runs on node.
func (s scene) session(t *testing.T, name, cpus string, expected time.Duration, node string) {
	t.Helper()
	p := ut.MakePod(name, s.ns).Profile(s.pool+"-"+cpus).Annotation(carvev1.AnnotationExpectedDuration, expected.String()).Obj()
	p.Spec.Containers = []corev1.Container{{Name: "main", Image: "jupyter"}}
	if err := cl.Create(t.Context(), p); err != nil {
		t.Fatalf("creating pod %s: %v", name, err)
	}
	t.Cleanup(func() { _ = cl.Delete(context.Background(), p) })
	waitRunningOn(t, s.ns, name, node)
}

// model creates a Deployment of replicas one-CPU model replicas and a
// PodDisruptionBudget allowing maxUnavailable of them to be down.
func (s scene) model(t *testing.T, name string, replicas int32, maxUnavailable int) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, carvev1.LabelProfile: s.pool + "-1"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "serve", Image: "model-server"}}},
			},
		},
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt(maxUnavailable)),
			Selector:       &metav1.LabelSelector{MatchLabels: labels},
		},
	}
	for _, o := range []client.Object{pdb, d} {
		if err := cl.Create(t.Context(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, name, err)
		}
		t.Cleanup(func() { _ = cl.Delete(context.Background(), o) })
	}
	waitFor(t, fmt.Sprintf("%d replicas of %s running", replicas, name), func(ctx context.Context) (bool, error) {
		pods, err := s.podsOf(ctx, name)
		return err == nil && len(pods) == int(replicas) && allRunning(pods), err
	})
}

// podsOf lists the pods of a Deployment that are not being deleted.
func (s scene) podsOf(ctx context.Context, app string) ([]corev1.Pod, error) {
	var l corev1.PodList
	if err := cl.List(ctx, &l, client.InNamespace(s.ns), client.MatchingLabels{"app": app}); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(l.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil }), nil
}

func allRunning(pods []corev1.Pod) bool {
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning || p.Spec.NodeName == "" {
			return false
		}
	}
	return true
}

func getPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	var p corev1.Pod
	err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p)
	return &p, err
}

func waitRunningOn(t *testing.T, ns, name, node string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("pod %s/%s running on %s", ns, name, node), func(ctx context.Context) (bool, error) {
		p, err := getPod(ctx, ns, name)
		if err != nil {
			return false, err
		}
		if p.Spec.NodeName != "" && p.Spec.NodeName != node {
			return false, fmt.Errorf("pod %s runs on %s, not %s", name, p.Spec.NodeName, node)
		}
		return p.Status.Phase == corev1.PodRunning, nil
	})
}

func getNode(ctx context.Context, name string) (*corev1.Node, error) {
	var n corev1.Node
	err := cl.Get(ctx, client.ObjectKey{Name: name}, &n)
	return &n, err
}

// drainTaint returns the node's carve.dev/draining taint, or nil.
func drainTaint(n *corev1.Node) *corev1.Taint {
	for i := range n.Spec.Taints {
		if n.Spec.Taints[i].Key == carvev1.TaintDraining {
			return &n.Spec.Taints[i]
		}
	}
	return nil
}

func draining(ctx context.Context, name string) (bool, error) {
	n, err := getNode(ctx, name)
	if err != nil {
		return false, err
	}
	return drainTaint(n) != nil, nil
}

func notDraining(name string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		d, err := draining(ctx, name)
		return !d, err
	}
}

func retiringCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == carvev1.PodConditionNodeRetiring {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// events returns the events.k8s.io Events of namespace ns about the object
// named name with the given reason.
func events(ctx context.Context, ns, name, reason string) ([]eventsv1.Event, error) {
	l, err := k8s.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(l.Items, func(e eventsv1.Event) bool {
		return e.Regarding.Name != name || e.Reason != reason
	}), nil
}

func waitEvent(t *testing.T, ns, name, reason string) eventsv1.Event {
	t.Helper()
	var got []eventsv1.Event
	waitFor(t, fmt.Sprintf("event %s on %s", reason, name), func(ctx context.Context) (bool, error) {
		var err error
		got, err = events(ctx, ns, name, reason)
		return len(got) > 0, err
	})
	return got[0]
}
