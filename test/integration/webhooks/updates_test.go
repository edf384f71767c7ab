package webhooks_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func resourceMust(s string) resource.Quantity { return resource.MustParse(s) }

func TestPodEditsThatEscapeAreDenied(t *testing.T) {
	ctx := context.Background()
	ns := workspaceNamespace(t, "")
	pods := k8s.CoreV1().Pods(ns)
	pod, err := pods.Create(ctx, ut.MakePod("nb", ns).Container("main", "500m", "").Obj(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("relabel the profile", func(t *testing.T) {
		p := pod.DeepCopy()
		p.Labels[carvev1.LabelProfile] = "large"
		_, err := pods.Update(ctx, p, metav1.UpdateOptions{})
		if err == nil || !strings.Contains(err.Error(), string(podcontract.RuleImmutable)) {
			t.Errorf("relabelling: %v, want %s", err, podcontract.RuleImmutable)
		}
	})
	t.Run("unprotect the session", func(t *testing.T) {
		p := pod.DeepCopy()
		delete(p.Annotations, carvev1.AnnotationSafeToEvict)
		_, err := pods.Update(ctx, p, metav1.UpdateOptions{})
		if err == nil || !strings.Contains(err.Error(), carvev1.AnnotationSafeToEvict) {
			t.Errorf("removing safe-to-evict: %v, want a denial naming it", err)
		}
	})
	t.Run("add a toleration", func(t *testing.T) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists})
		_, err = pods.Update(ctx, p, metav1.UpdateOptions{})
		if err == nil || !strings.Contains(err.Error(), string(podcontract.RuleToleration)) {
			t.Errorf("adding a toleration of every taint: %v, want %s", err, podcontract.RuleToleration)
		}
	})
	t.Run("unprotect the session through pods/status", func(t *testing.T) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Annotations[carvev1.AnnotationSafeToEvict] = "true"
		_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if err == nil || !strings.Contains(err.Error(), carvev1.AnnotationSafeToEvict) {
			t.Errorf("changing safe-to-evict through pods/status: %v, want a denial naming it", err)
		}
		// A status write that leaves the metadata alone is never stopped.
		p, err = pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: "example.com/Probe", Status: corev1.ConditionTrue})
		if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Errorf("a plain status update: %v", err)
		}
	})
	t.Run("other labels may change", func(t *testing.T) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Labels["owner"] = "alice"
		if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Errorf("adding an unrelated label: %v", err)
		}
	})
	t.Run("resize above the profile", func(t *testing.T) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resourceMust("4")
		_, err = pods.UpdateResize(ctx, p.Name, p, metav1.UpdateOptions{})
		if err == nil {
			t.Fatal("resize above the profile was allowed")
		}
		// With pod-level resources the apiserver itself refuses containers
		// outgrowing the pod (so carve's own resize rule, unit-tested in
		// pkg/podcontract, is the second line here).
		if !strings.Contains(err.Error(), string(podcontract.RuleAboveProfile)) && !strings.Contains(err.Error(), "aggregate container requests") {
			t.Errorf("resize denial %q names neither %s nor the pod-level bound", err, podcontract.RuleAboveProfile)
		}
	})
	t.Run("shrink, then grow back in a quota workspace", func(t *testing.T) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Workspace ml caps CPU: the pod may give CPU back, not take it again.
		// Requests and limits move together: the pod's QoS class is fixed.
		p.Spec.Resources.Requests[corev1.ResourceCPU] = resourceMust("500m")
		p.Spec.Resources.Limits[corev1.ResourceCPU] = resourceMust("500m")
		if p, err = pods.UpdateResize(ctx, p.Name, p, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("resizing down: %v", err)
		}
		p.Spec.Resources.Requests[corev1.ResourceCPU] = resourceMust("1")
		p.Spec.Resources.Limits[corev1.ResourceCPU] = resourceMust("1")
		_, err = pods.UpdateResize(ctx, p.Name, p, metav1.UpdateOptions{})
		if err == nil || !strings.Contains(err.Error(), string(podcontract.RuleResizeAboveQuota)) {
			t.Errorf("resizing back up: %v, want %s", err, podcontract.RuleResizeAboveQuota)
		}
	})
	t.Run("debug container with resources", func(t *testing.T) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "registry.invalid/debug",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resourceMust("8")}},
			}})
		if _, err := pods.UpdateEphemeralContainers(ctx, p.Name, p, metav1.UpdateOptions{}); err == nil {
			t.Error("debug container with resources was added")
		}
	})
	t.Run("debug container without resources", func(t *testing.T) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "registry.invalid/debug",
				TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent}})
		if _, err := pods.UpdateEphemeralContainers(ctx, p.Name, p, metav1.UpdateOptions{}); err != nil {
			t.Errorf("plain debug container: %v", err)
		}
	})
}
