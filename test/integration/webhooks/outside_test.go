package webhooks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// plainNamespace creates a namespace outside every workspace for one test.
func plainNamespace(t *testing.T) string {
	t.Helper()
	ns, err := k8s.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "plain-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	return ns.Name
}

// A pod outside every workspace may not carry carve's labels: with them it
// would pass for a workspace pod. The ValidatingAdmissionPolicy that
// carve-controller installs refuses them on create, on update and through
// pods/status, and warns about a pod that asks for carve-scheduler there.
func TestCarveLabelsOutsideWorkspacesAreRefused(t *testing.T) {
	ctx := t.Context()
	ns := plainNamespace(t)
	squatter := ut.MakePod("squat", ns).Workspace("ml", "vision").SchedulerName(carvev1.SchedulerName).Container("c", "64", "1Gi").Obj()
	// The API server loads new policies in the background: wait until it
	// enforces this one.
	var err error
	if werr := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err = k8s.CoreV1().Pods(ns).Create(ctx, squatter, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil, nil
	}); werr != nil {
		t.Fatalf("a pod labelled %s=ml outside every workspace was accepted", carvev1.LabelWorkspace)
	}
	if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
		t.Errorf("refusal %v: want Forbidden or Invalid", err)
	}
	for _, s := range []string{"carve-pod-labels", carvev1.LabelWorkspace, "in no workspace", "remove the labels", "namespace labelled carve.dev/workspace=<workspace>"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("refusal %q does not say %q", err, s)
		}
	}

	// A pod without them is created, with a warning when it asks for
	// carve-scheduler; adding carve's labels later is refused too.
	warned := &warningRecorder{}
	wk := kubernetes.NewForConfigOrDie(restConfig(warned))
	plain, err := wk.CoreV1().Pods(ns).Create(ctx, ut.MakePod("plain", ns).SchedulerName(carvev1.SchedulerName).Container("c", "1", "1Gi").Obj(), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a pod without carve's labels outside every workspace: %v", err)
	}
	if !warned.saw("asks for carve-scheduler but its namespace is in no workspace") {
		t.Errorf("warnings %q: want one saying no profile, quota or queue applies", warned.all())
	}
	for _, label := range []string{carvev1.LabelWorkspace, carvev1.LabelTeam, carvev1.LabelProfile, carvev1.LabelWorkload} {
		p := plain.DeepCopy()
		p.Labels = map[string]string{label: "x"}
		if _, err := k8s.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{}); err == nil || !strings.Contains(err.Error(), "carve-pod-labels") {
			t.Errorf("adding %s on update: %v, want refused by carve-pod-labels", label, err)
		}
		if _, err := k8s.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err == nil || !strings.Contains(err.Error(), "carve-pod-labels") {
			t.Errorf("adding %s through pods/status: %v, want refused by carve-pod-labels", label, err)
		}
	}
	p := plain.DeepCopy()
	p.Labels = map[string]string{"app": "x"}
	if _, err := k8s.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Errorf("an update with labels of its own: %v", err)
	}
}

// A namespace that leaves its workspace keeps its pods: they may keep
// carve's labels, and updates that leave them alone pass.
func TestPodsOfANamespaceThatLeftItsWorkspace(t *testing.T) {
	ctx := t.Context()
	ns := workspaceNamespace(t, "vision")
	pod, err := k8s.CoreV1().Pods(ns).Create(ctx, ut.MakePod("nb", ns).Container("c", "", "").Obj(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Labels[carvev1.LabelWorkspace] != "ml" {
		t.Fatalf("workspace pod labels %v", pod.Labels)
	}
	n, err := k8s.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	delete(n.Labels, carvev1.LabelWorkspace)
	delete(n.Labels, carvev1.LabelTeam)
	if _, err := k8s.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The policy sees the namespace's new labels through an informer;
	// poll until a label change of carve's is refused, which proves it does.
	if werr := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := k8s.CoreV1().Pods(ns).Get(ctx, "nb", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		p.Labels[carvev1.LabelWorkspace] = "other"
		_, err = k8s.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "carve-pod-labels"), nil
	}); werr != nil {
		t.Fatal("changing carve.dev/workspace on a pod whose namespace left its workspace was never refused by carve-pod-labels")
	}
	p, err := k8s.CoreV1().Pods(ns).Get(ctx, "nb", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Labels["app"] = "kept"
	if _, err := k8s.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Errorf("an update that keeps carve's labels as they were: %v", err)
	}
}

// A pod created the moment its namespace is labelled is enforced, whether
// or not carve's namespace cache has seen the label yet (carve then reads
// the namespace live): never admitted untouched. Twenty namespaces, each
// with a pod created right after it.
func TestPodRightAfterItsNamespace(t *testing.T) {
	ctx := t.Context()
	for i := range 20 {
		ns := ut.MakeNamespace("", "ml", "")
		ns.GenerateName = "lag-"
		got, err := k8s.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8s.CoreV1().Namespaces().Delete(context.Background(), got.Name, metav1.DeleteOptions{}) })
		var pod *corev1.Pod
		// The namespace's ServiceAccount admission may refuse for a moment;
		// only that is retried.
		err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			p, err := k8s.CoreV1().Pods(got.Name).Create(ctx, ut.MakePod("nb", got.Name).Container("c", "", "").Obj(), metav1.CreateOptions{})
			if err != nil {
				if strings.Contains(err.Error(), "serviceaccount") || strings.Contains(err.Error(), "try again") {
					return false, nil
				}
				return false, err
			}
			pod = p
			return true, nil
		})
		if err != nil {
			t.Fatalf("namespace %d: %v", i, err)
		}
		if pod.Annotations[carvev1.AnnotationApplied] == "" || pod.Spec.SchedulerName != carvev1.SchedulerName {
			t.Errorf("pod in namespace %s, made right after it, was admitted untouched: scheduler %q, annotations %v",
				got.Name, pod.Spec.SchedulerName, pod.Annotations)
		}
	}
}
