package podcontract_test

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func TestCheckUpdate(t *testing.T) {
	admitted := func(t *testing.T, pod *corev1.Pod) *corev1.Pod {
		t.Helper()
		out, err := podcontract.Admit(pod, mlNS, world(), podLvl)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	session := ut.MakePod("s", "alice").Container("c", "500m", "").Obj()
	job := ut.MakePod("j", "alice").Owner("batch/v1", "Job", "j").Container("c", "", "").Obj()

	for _, tc := range []struct {
		name        string
		old         *corev1.Pod
		edit        func(*corev1.Pod)
		subresource string
		rule        podcontract.Rule // "" = allowed
	}{
		{"unrelated label", session, func(p *corev1.Pod) { p.Labels["app"] = "x" }, "", ""},
		{"change profile", session, func(p *corev1.Pod) { p.Labels[carvev1.LabelProfile] = "large" }, "", podcontract.RuleImmutable},
		{"drop workspace label", session, func(p *corev1.Pod) { delete(p.Labels, carvev1.LabelWorkspace) }, "", podcontract.RuleImmutable},
		{"claim a team", session, func(p *corev1.Pod) { p.Labels[carvev1.LabelTeam] = "vision" }, "", podcontract.RuleImmutable},
		{"unprotect a session", session, func(p *corev1.Pod) { p.Annotations[carvev1.AnnotationSafeToEvict] = "true" }, "", podcontract.RuleImmutable},
		{"job may become evictable", job, func(p *corev1.Pod) { p.Annotations[carvev1.AnnotationSafeToEvict] = "true" }, "", ""},
		{"rewrite applied record", job, func(p *corev1.Pod) { p.Annotations[carvev1.AnnotationApplied] = "{}" }, "", podcontract.RuleImmutable},
		{"resize within profile", session, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = q("1")
		}, podcontract.SubresourceResize, ""},
		{"resize above profile", session, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = q("2")
		}, podcontract.SubresourceResize, podcontract.RuleAboveProfile},
		{"pod-level resize above profile", session, func(p *corev1.Pod) {
			p.Spec.Resources.Limits[corev1.ResourceMemory] = q("8Gi")
		}, podcontract.SubresourceResize, podcontract.RuleAboveProfile},
		{"add a toleration", session, func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists})
		}, "", podcontract.RuleToleration},
		{"shorten a default toleration", ut.MakePod("s", "alice").Container("c", "", "").
			Toleration(corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}).Obj(),
			func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr.To[int64](60) }, "", ""},
		{"debug container", session, func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg", Image: "busybox"}})
		}, podcontract.SubresourceEphemeralContainers, ""},
		{"debug container with resources", session, func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg", Image: "busybox",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("4")}}}})
		}, podcontract.SubresourceEphemeralContainers, podcontract.RuleEphemeralResources},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := admitted(t, tc.old)
			updated := old.DeepCopy()
			tc.edit(updated)
			err := podcontract.CheckUpdate(old, updated, tc.subresource, nil)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("CheckUpdate: %v", err)
				}
				return
			}
			var d *podcontract.Denial
			if !errors.As(err, &d) || !d.Has(tc.rule) {
				t.Fatalf("CheckUpdate = %v, want rule %s", err, tc.rule)
			}
		})
	}

	t.Run("pods carve never admitted are left alone", func(t *testing.T) {
		old := ut.MakePod("legacy", "alice").Container("c", "", "").Obj()
		updated := old.DeepCopy()
		updated.Labels = map[string]string{carvev1.LabelProfile: "huge"}
		if err := podcontract.CheckUpdate(old, updated, "", nil); err != nil {
			t.Fatalf("CheckUpdate: %v", err)
		}
	})
}

// In a workspace whose quota caps CPU, a running pod may shrink but not
// grow back: the shrink's quota may already be held by a pod that waited
// for it (shrink N, start N more, grow the first N back would hold twice the
// quota).
func TestResizeUpInAQuotaWorkspace(t *testing.T) {
	for _, tc := range []struct {
		name string
		ws   *carvev1.Workspace
		rule podcontract.Rule
	}{
		{"cpu quota", ut.MakeWorkspace("ml", "small", "large").Quota("8", "", "", -1).Obj(), podcontract.RuleResizeAboveQuota},
		{"project memory quota", ut.MakeWorkspace("ml", "small", "large").ProjectQuota("", "64Gi", "", -1).Obj(), podcontract.RuleResizeAboveQuota},
		{"another team's quota", ut.MakeWorkspace("ml", "small", "large").TeamQuota("vision", "8", "", "", -1).Obj(), ""},
		{"gpu quota only", ut.MakeWorkspace("ml", "small", "large").Quota("", "", "4", -1).Obj(), ""},
		{"no quota", ut.MakeWorkspace("ml", "small", "large").Obj(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := world()
			w.Workspaces["ml"] = tc.ws
			pod, err := podcontract.Admit(ut.MakePod("p", "alice").Profile("large").Container("c", "", "").Obj(), mlNS, w, podLvl)
			if err != nil {
				t.Fatal(err)
			}
			smaller := pod.DeepCopy()
			smaller.Spec.Resources.Requests[corev1.ResourceCPU] = q("2")
			smaller.Spec.Resources.Requests[corev1.ResourceMemory] = q("8Gi")
			if err := podcontract.CheckUpdate(pod, smaller, podcontract.SubresourceResize, w); err != nil {
				t.Fatalf("resize down: %v", err)
			}
			back := smaller.DeepCopy()
			back.Spec.Resources.Requests[corev1.ResourceCPU] = q("4")
			back.Spec.Resources.Requests[corev1.ResourceMemory] = q("16Gi")
			err = podcontract.CheckUpdate(smaller, back, podcontract.SubresourceResize, w)
			if tc.rule == "" {
				if err != nil {
					t.Errorf("resize back up within the profile: %v, want allowed", err)
				}
				return
			}
			var d *podcontract.Denial
			if !errors.As(err, &d) || !d.Has(tc.rule) {
				t.Fatalf("resize back up: %v, want %s", err, tc.rule)
			}
			for _, s := range []string{"up from", "may only shrink", "create a new pod"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("denial %q does not say %q", err, s)
				}
			}
		})
	}
}
