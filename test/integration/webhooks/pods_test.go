package webhooks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

var quantityEq = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

func list(kv ...string) corev1.ResourceList {
	rl := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		rl[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return rl
}

// assertProfile checks that a pod stored by the apiserver carries profile
// small/large/... as carve applies it.
func assertProfile(t *testing.T, pod *corev1.Pod, profile string, workload carvev1.Workload, req, lim corev1.ResourceList) {
	t.Helper()
	if pod.Spec.SchedulerName != carvev1.SchedulerName {
		t.Errorf("%s: schedulerName = %q", pod.Name, pod.Spec.SchedulerName)
	}
	for k, want := range map[string]string{
		carvev1.LabelWorkspace: "ml", carvev1.LabelProfile: profile, carvev1.LabelWorkload: string(workload),
	} {
		if got := pod.Labels[k]; got != want {
			t.Errorf("%s: label %s = %q, want %q", pod.Name, k, got, want)
		}
	}
	if pod.Spec.Resources == nil {
		t.Fatalf("%s: no pod-level resources: %+v", pod.Name, pod.Spec)
	}
	if diff := cmp.Diff(corev1.ResourceRequirements{Requests: req, Limits: lim}, *pod.Spec.Resources, quantityEq); diff != "" {
		t.Errorf("%s: pod-level resources (-want +got):\n%s", pod.Name, diff)
	}
	_, protected := pod.Annotations[carvev1.AnnotationSafeToEvict]
	if protected != (workload == carvev1.WorkloadSession) {
		t.Errorf("%s: safe-to-evict annotation present = %v for a %s", pod.Name, protected, workload)
	}
	if a, ok := podcontract.AppliedOf(pod); !ok || a.Profile != profile {
		t.Errorf("%s: applied annotation = %q", pod.Name, pod.Annotations[carvev1.AnnotationApplied])
	}
}

func TestBarePodGetsDefaultProfile(t *testing.T) {
	ctx := context.Background()
	ns := workspaceNamespace(t, "vision")
	pod, err := k8s.CoreV1().Pods(ns).Create(ctx, ut.MakePod("notebook", ns).Container("main", "", "").Obj(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertProfile(t, pod, "small", carvev1.WorkloadSession, list("cpu", "1", "memory", "2Gi"), list("cpu", "1", "memory", "2Gi"))
	if pod.Labels[carvev1.LabelTeam] != "vision" {
		t.Errorf("team label = %q, want vision", pod.Labels[carvev1.LabelTeam])
	}
}

func TestGPUPodGetsPoolAndGPU(t *testing.T) {
	ctx := context.Background()
	ns := workspaceNamespace(t, "")
	pod, err := k8s.CoreV1().Pods(ns).Create(ctx, ut.MakePod("train", ns).Profile("gpu-1").Container("main", "", "").Obj(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertProfile(t, pod, "gpu-1", carvev1.WorkloadSession, list("cpu", "8", "memory", "32Gi"), list("cpu", "8", "memory", "32Gi"))
	if diff := cmp.Diff(list("nvidia.com/gpu", "1"), pod.Spec.Containers[0].Resources.Limits, quantityEq); diff != "" {
		t.Errorf("main container GPU limits (-want +got):\n%s", diff)
	}
	if pod.Spec.NodeSelector[carvev1.LabelNodePool] != "gpu" {
		t.Errorf("nodeSelector = %v, want pool gpu", pod.Spec.NodeSelector)
	}
	found := false
	for _, tol := range pod.Spec.Tolerations {
		found = found || (tol.Key == "nvidia.com/gpu" && tol.Effect == corev1.TaintEffectNoSchedule)
	}
	if !found {
		t.Errorf("no toleration for the GPU pool's taint: %v", pod.Spec.Tolerations)
	}
}

// waitPods waits until the controllers have created n pods matching sel.
func waitPods(t *testing.T, ns, sel string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		l, err := k8s.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, err
		}
		pods = l.Items
		return len(pods) >= n, nil
	})
	if err != nil {
		t.Fatalf("waiting for %d pods with %s in %s: %v (have %d)", n, sel, ns, err, len(pods))
	}
	return pods
}

func podTemplate(app, profile string) corev1.PodTemplateSpec {
	labels := map[string]string{"app": app}
	if profile != "" {
		labels[carvev1.LabelProfile] = profile
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: "registry.invalid/main"}},
		},
	}
}

func TestControllerPodsCarryProfile(t *testing.T) {
	ctx := context.Background()
	ns := workspaceNamespace(t, "")

	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "etl", Namespace: ns},
		Spec:       batchv1.JobSpec{Template: podTemplate("etl", "large"), BackoffLimit: ptr.To[int32](0)},
	}
	if _, err := k8s.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tmpl := podTemplate("serve", "")
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyAlways
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "serve", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "serve"}},
			Template: tmpl,
		},
	}
	if _, err := k8s.AppsV1().Deployments(ns).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cron := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: ns},
		Spec: batchv1.CronJobSpec{Schedule: "* * * * *", JobTemplate: batchv1.JobTemplateSpec{
			Spec: batchv1.JobSpec{Template: podTemplate("nightly", "small")}}},
	}
	if _, err := k8s.BatchV1().CronJobs(ns).Create(ctx, cron, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	for _, p := range waitPods(t, ns, "app=etl", 1) {
		assertProfile(t, &p, "large", carvev1.WorkloadJob, list("cpu", "4", "memory", "16Gi"), list("cpu", "6", "memory", "16Gi"))
		if p.Spec.NodeSelector[carvev1.LabelNodePool] != "cpu" {
			t.Errorf("job pod nodeSelector = %v, want pool cpu", p.Spec.NodeSelector)
		}
	}
	for _, p := range waitPods(t, ns, "app=serve", 2) {
		assertProfile(t, &p, "small", carvev1.WorkloadModel, list("cpu", "1", "memory", "2Gi"), list("cpu", "1", "memory", "2Gi"))
	}
	// A CronJob makes its first Job at the next full minute.
	for _, p := range waitPods(t, ns, "app=nightly", 1) {
		assertProfile(t, &p, "small", carvev1.WorkloadJob, list("cpu", "1", "memory", "2Gi"), list("cpu", "1", "memory", "2Gi"))
	}
}

// A Deployment whose pods break a rule gets no pods, and its ReplicaSet says
// why in an event: the denial message reaches the user.
func TestDeniedControllerPodsExplainWhy(t *testing.T) {
	ctx := context.Background()
	ns := workspaceNamespace(t, "")
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "greedy", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "greedy"}},
			Template: podTemplate("greedy", "huge"),
		},
	}
	deploy.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
	if _, err := k8s.AppsV1().Deployments(ns).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := k8s.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == "FailedCreate" && strings.Contains(e.Message, string(podcontract.RuleProfileNotAllowed)) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no FailedCreate event naming %s: %v", podcontract.RuleProfileNotAllowed, err)
	}
}

func TestPodDenials(t *testing.T) {
	ctx := context.Background()
	ns := workspaceNamespace(t, "")
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		rule podcontract.Rule
		says string
	}{
		{"unknown profile", ut.MakePod("p", ns).Profile("nope").Container("c", "", "").Obj(), podcontract.RuleProfileNotAllowed, "small, large, gpu-1"},
		{"profile not allowed", ut.MakePod("p", ns).Profile("huge").Container("c", "", "").Obj(), podcontract.RuleProfileNotAllowed, `"huge"`},
		{"above profile", ut.MakePod("p", ns).Container("c", "2", "").Obj(), podcontract.RuleAboveProfile, "bigger profile"},
		{"gpu without gpu profile", ut.MakePod("p", ns).Container("c", "", "").GPU("nvidia.com/gpu", "1").Obj(), podcontract.RuleGPUWithoutProfile, "GPU profile"},
		{"other scheduler", ut.MakePod("p", ns).SchedulerName("volcano").Container("c", "", "").Obj(), podcontract.RuleSchedulerName, "remove spec.schedulerName"},
		{"node name", ut.MakePod("p", ns).NodeName("node-1").Container("c", "", "").Obj(), podcontract.RuleNodeName, "node-1"},
		{"toleration of every taint", ut.MakePod("p", ns).Container("c", "", "").Toleration(corev1.Toleration{Operator: corev1.TolerationOpExists}).Obj(), podcontract.RuleToleration, "remove it"},
		{"toleration of the control plane", ut.MakePod("p", ns).Container("c", "", "").
			Toleration(corev1.Toleration{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}).Obj(),
			podcontract.RuleToleration, "node-role.kubernetes.io/control-plane"},
		{"daemonset pod", ut.MakePod("p", ns).Owner("apps/v1", "DaemonSet", "ds").Container("c", "", "").Obj(), podcontract.RuleDaemonSet, "namespace without"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k8s.CoreV1().Pods(ns).Create(ctx, tc.pod, metav1.CreateOptions{})
			if err == nil {
				t.Fatal("pod was created, want a denial")
			}
			for _, s := range []string{string(tc.rule), tc.says} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("denial %q does not say %q", err, s)
				}
			}
		})
	}
}

func TestPodsOutsideWorkspacesAreUntouched(t *testing.T) {
	ctx := context.Background()
	ns, err := k8s.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "plain-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer k8s.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
	in := ut.MakePod("p", ns.Name).SchedulerName("volcano").Container("c", "64", "").Obj()
	pod, err := k8s.CoreV1().Pods(ns.Name).Create(ctx, in, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("pod outside a workspace was refused: %v", err)
	}
	if pod.Spec.SchedulerName != "volcano" || pod.Spec.Resources != nil || len(pod.Annotations) != 0 {
		t.Errorf("pod outside a workspace was changed: scheduler %q, resources %v, annotations %v",
			pod.Spec.SchedulerName, pod.Spec.Resources, pod.Annotations)
	}
	// carve's own namespace is excluded even when someone labels it.
	sys, err := k8s.CoreV1().Namespaces().Get(ctx, carveNS, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sys.Labels[carvev1.LabelWorkspace] = "ml"
	if _, err := k8s.CoreV1().Namespaces().Update(ctx, sys, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err = k8s.CoreV1().Pods(carveNS).Create(ctx, ut.MakePod("p", carveNS).SchedulerName("volcano").Container("c", "", "").Obj(), metav1.CreateOptions{})
	if err != nil || pod.Spec.SchedulerName != "volcano" {
		t.Errorf("pod in carve's namespace: err=%v scheduler=%q, want it untouched", err, pod.Spec.SchedulerName)
	}
}
