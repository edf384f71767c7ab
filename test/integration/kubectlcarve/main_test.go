// Package kubectlcarve_test runs `kubectl carve` in-process against a real
// kube-apiserver, etcd, kube-controller-manager and kwok, with
// carve-controller's webhooks and carve-scheduler running in-process as
// their binaries do, and compares what each command prints with golden
// files in testdata (go test -update rewrites them).
//
// The scene: workspace ml-team with a team quota of 2 CPUs for team
// vision (namespace ml-alice: two notebooks run, two wait for that quota)
// and namespace ml-bob (team nlp, no team quota), whose GPU pod waits for
// a node of pool gpu (scaling up), whose 15-CPU pod fits no node of pool
// cpu (at its maxSize), and whose Deployment's pods carve's webhook
// refuses (a profile the workspace does not allow). Team nlp has a weekly
// budget of 10 GPU-hours, unused. Workspace capped (namespace ds-carol) has
// a daily budget of 0: it is spent from the start and holds its notebook.
// carve-scheduler meters every second, so the spend of ml-alice's running
// notebooks shows at once. carve-cloudprovider does not run: the test
// writes the NodePools' status as it would.
package kubectlcarve_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider/poolstatus"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/test/framework"
	"github.com/carve-dev/carve/test/framework/carvetest"
)

var (
	cluster *framework.Cluster
	k8s     kubernetes.Interface
	cl      client.Client
)

const carveNS = "carve-system"

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
	if err := scene(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "setting up the scene:", err)
		return 1
	}
	return m.Run()
}

func scene(ctx context.Context) error {
	var err error
	cl, err = carvetest.StartCarve(ctx, cluster, carveNS, nil, func(cfg map[string]any) {
		// Positions are written at once, so the scene settles quickly, and
		// running pods are metered every second.
		for _, p := range cfg["profiles"].([]any) {
			for _, pc := range p.(map[string]any)["pluginConfig"].([]any) {
				if pc := pc.(map[string]any); pc["name"] == "WorkspaceQueue" {
					pc["args"].(map[string]any)["statusUpdateInterval"] = "0s"
					pc["args"].(map[string]any)["meteringInterval"] = "1s"
				}
			}
		}
	})
	if err != nil {
		return err
	}

	small := ut.MakeProfile("small", "1", "2Gi").CPULimit("2").Pools("cpu").Obj()
	small.Spec.Description = "Notebooks and light exploration"
	gpu1 := ut.MakeProfile("gpu-1", "2", "8Gi").GPU(1, "").GPUProduct("NVIDIA-A10G").Pools("gpu").Obj()
	gpu1.Spec.Description = "One A10G for training and inference"
	wide := ut.MakeProfile("wide", "15", "4Gi").Pools("cpu").Obj()
	wide.Spec.Description = "A whole CPU node"
	for _, obj := range []client.Object{
		ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 1, "16", "64Gi").Price("0.68").Obj(),
		ut.MakeNodePool("gpu", carvev1.NodePoolRoleGPU, 0, 2, "8", "32Gi").Capacity("nvidia.com/gpu", "1").Price("1.006").
			Taint("nvidia.com/gpu", "", corev1.TaintEffectNoSchedule).TemplateLabel("nvidia.com/gpu.product", "NVIDIA-A10G").Obj(),
		small, gpu1, wide,
		ut.MakeWorkspace("ml-team", "small", "gpu-1", "wide", "missing").Quota("24", "96Gi", "1", 20).TeamQuota("vision", "2", "", "", -1).
			Budget(carvev1.BudgetTeam, "nlp", carvev1.BudgetWeek, "gpuHours", "10").Obj(),
		ut.MakeWorkspace("capped", "small").Budget(carvev1.BudgetWorkspace, "", carvev1.BudgetDay, "cost", "0").Obj(),
		ut.MakeNamespace("ml-alice", "ml-team", "vision"),
		ut.MakeNamespace("ml-bob", "ml-team", "nlp"),
		ut.MakeNamespace("ds-carol", "capped", ""),
		ut.MakeNamespace("plain", "", ""),
	} {
		if err := cl.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	// The pools' status as carve-cloudprovider writes it: cpu has its one
	// node (its maxSize), gpu was asked for a node that is not there yet.
	if err := poolStatus(ctx, "cpu", 1, 1, 1, metav1.Condition{Type: carvev1.NodePoolScalingUp, Status: metav1.ConditionFalse, Reason: "NodesReady", Message: "every node asked for is Ready"}); err != nil {
		return err
	}
	if err := poolStatus(ctx, "gpu", 1, 0, 0, metav1.Condition{Type: carvev1.NodePoolScalingUp, Status: metav1.ConditionTrue, Reason: "WaitingForNodes", Message: "1 node asked for is not Ready yet"}); err != nil {
		return err
	}
	node := "cpu-0"
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi"), corev1.ResourcePods: resource.MustParse("110")}
	if _, err := cluster.AddNode(ctx, node, capacity, map[string]string{carvev1.LabelNodePool: "cpu"}, nil); err != nil {
		return err
	}
	if _, err := cluster.WaitNodeReady(ctx, node); err != nil {
		return err
	}
	for _, ns := range []string{"ml-alice", "ml-bob", "ds-carol", "plain"} {
		if err := poll(ctx, "default ServiceAccount in "+ns, func(ctx context.Context) (bool, error) {
			var sa corev1.ServiceAccount
			return cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "default"}, &sa) == nil, nil
		}); err != nil {
			return err
		}
	}

	// Two notebooks run and fill team vision's 2 CPUs; the next two wait,
	// in this order.
	for _, name := range []string{"nb-1", "nb-2"} {
		if err := createPod(ctx, "ml-alice", name, ""); err != nil {
			return err
		}
		if err := waitPod(ctx, "ml-alice", name, "running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }); err != nil {
			return err
		}
	}
	// nb-2's node is being retired, as carve-controller tells a session.
	retiring := []byte(`{"status":{"conditions":[{"type":"` + carvev1.PodConditionNodeRetiring + `","status":"True","reason":"` + carvev1.ReasonNodeRetiring +
		`","message":"node cpu-0 is being retired (Underused): this session keeps running until it ends and nothing will stop it; new work starts on other nodes"}]}}`)
	nb2 := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ml-alice", Name: "nb-2"}}
	if err := cl.Status().Patch(ctx, nb2, client.RawPatch(types.StrategicMergePatchType, retiring)); err != nil {
		return fmt.Errorf("telling nb-2 its node retires: %w", err)
	}
	for i, name := range []string{"nb-3", "nb-4"} {
		if err := createPod(ctx, "ml-alice", name, ""); err != nil {
			return err
		}
		place := []string{"1st", "2nd"}[i]
		if err := waitPod(ctx, "ml-alice", name, "waiting "+place, func(p *corev1.Pod) bool {
			c := condition(p, carvev1.PodConditionAdmitted)
			// With the wait estimate, which the golden files mask.
			return c != nil && c.Status == corev1.ConditionFalse && strings.HasPrefix(c.Message,
				"waiting for team vision quota in workspace ml-team: needs cpu 1, 2/2 in use; "+place+" in queue; expected to start around ")
		}); err != nil {
			return err
		}
	}
	// Admitted, and no node fits: a GPU pod (pool gpu has no node yet) and
	// one of 15 CPUs (14 are free on cpu-0, and pool cpu is at its max).
	for name, profile := range map[string]string{"train": "gpu-1", "wide": "wide"} {
		if err := createPod(ctx, "ml-bob", name, profile); err != nil {
			return err
		}
		if err := waitPod(ctx, "ml-bob", name, "Unschedulable", func(p *corev1.Pod) bool {
			c := condition(p, corev1.PodScheduled)
			return c != nil && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
		}); err != nil {
			return err
		}
	}
	// A Deployment whose pods carve refuses.
	web := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ml-bob", Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", carvev1.LabelProfile: "huge"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.invalid/web"}}},
			},
		},
	}
	if err := cl.Create(ctx, web); err != nil {
		return err
	}
	if err := poll(ctx, "FailedCreate of deployment web's ReplicaSet", func(ctx context.Context) (bool, error) {
		var evs corev1.EventList
		if err := cl.List(ctx, &evs, client.InNamespace("ml-bob")); err != nil {
			return false, err
		}
		for _, ev := range evs.Items {
			if ev.Reason == "FailedCreate" && ev.InvolvedObject.Kind == "ReplicaSet" {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return err
	}
	// Workspace capped's budget is spent: its notebook waits for the day's
	// end.
	if err := createPod(ctx, "ds-carol", "nb", ""); err != nil {
		return err
	}
	if err := waitPod(ctx, "ds-carol", "nb", "over budget", func(p *corev1.Pod) bool {
		c := condition(p, carvev1.PodConditionAdmitted)
		return c != nil && c.Status == corev1.ConditionFalse && c.Reason == carvev1.ReasonOverBudget
	}); err != nil {
		return err
	}
	// A pod carve does not manage: no scheduler runs for it.
	if err := createPod(ctx, "plain", "hello", ""); err != nil {
		return err
	}
	// The workspaces' status has caught up with all of it, spend and
	// budgets included.
	if err := poll(ctx, "workspace ml-team status", func(ctx context.Context) (bool, error) {
		var ws carvev1.Workspace
		if err := cl.Get(ctx, client.ObjectKey{Name: "ml-team"}, &ws); err != nil {
			return false, err
		}
		s := ws.Status
		return s.Waiting == 2 && s.Admitted.Pods == 4 && s.ProjectCount == 2 && len(s.Teams) == 2 && len(s.Projects) == 2 &&
			s.Spend != nil && s.Spend.Total.CPUHours != "0.000000" && len(s.Spend.Projects) == 1 && len(s.Budgets) == 1, nil
	}); err != nil {
		return err
	}
	return poll(ctx, "workspace capped status", func(ctx context.Context) (bool, error) {
		var ws carvev1.Workspace
		if err := cl.Get(ctx, client.ObjectKey{Name: "capped"}, &ws); err != nil {
			return false, err
		}
		s := ws.Status
		return s.ProjectCount == 1 && len(s.Budgets) == 1 && s.Budgets[0].Spent &&
			meta.IsStatusConditionTrue(s.Conditions, carvev1.WorkspaceOverBudget), nil
	})
}

// poolStatus writes a NodePool's status as carve-cloudprovider would.
func poolStatus(ctx context.Context, name string, target, current, ready int32, scaling metav1.Condition) error {
	var np carvev1.NodePool
	if err := cl.Get(ctx, client.ObjectKey{Name: name}, &np); err != nil {
		return err
	}
	np.Status = carvev1.NodePoolStatus{
		TargetSize: target, CurrentSize: current, ReadySize: ready,
		CostPerHour:        poolstatus.CostPerHour(np.Spec.PricePerHour, current),
		ObservedGeneration: np.Generation,
	}
	scaling.ObservedGeneration = np.Generation
	meta.SetStatusCondition(&np.Status.Conditions, metav1.Condition{Type: carvev1.NodePoolReady, Status: metav1.ConditionTrue, Reason: "Served", Message: "offered to the autoscaler", ObservedGeneration: np.Generation})
	meta.SetStatusCondition(&np.Status.Conditions, scaling)
	return cl.Status().Update(ctx, &np)
}

// createPod creates a bare pod as a user would: carve's webhook gives it
// its profile (the workspace default when profile is empty).
func createPod(ctx context.Context, ns, name, profile string) error {
	p := ut.MakePod(name, ns).Obj()
	if profile != "" {
		p.Labels = map[string]string{carvev1.LabelProfile: profile}
	}
	p.Spec.Containers = []corev1.Container{{Name: "main", Image: "registry.invalid/jupyter"}}
	if err := cl.Create(ctx, p); err != nil {
		return fmt.Errorf("creating pod %s/%s: %w", ns, name, err)
	}
	return nil
}

func waitPod(ctx context.Context, ns, name, what string, cond func(*corev1.Pod) bool) error {
	return poll(ctx, fmt.Sprintf("pod %s/%s %s", ns, name, what), func(ctx context.Context) (bool, error) {
		var p corev1.Pod
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
			return false, err
		}
		return cond(&p), nil
	})
}

func poll(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, cond); err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

func condition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}
