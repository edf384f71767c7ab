package podcontract_test

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func TestAdmitDenials(t *testing.T) {
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		ns   *corev1.Namespace
		opts podcontract.Options
		rule podcontract.Rule
		// the message must name these, so the user knows what to change
		says []string
	}{
		{"workspace missing", ut.MakePod("p", "x").Container("c", "", "").Obj(),
			ut.MakeNamespace("x", "nope", ""), podLvl, podcontract.RuleWorkspaceMissing, []string{`"nope"`, "create it"}},
		{"profile not allowed", ut.MakePod("p", "alice").Profile("huge").Container("c", "", "").Obj(),
			mlNS, podLvl, podcontract.RuleProfileNotAllowed, []string{`"huge"`, "small, large, gpu-1"}},
		{"profile unknown", ut.MakePod("p", "alice").Profile("ghost").Container("c", "", "").Obj(),
			mlNS, podLvl, podcontract.RuleProfileUnknown, []string{`"ghost"`, "no ResourceProfile"}},
		{"bad workload label", ut.MakePod("p", "alice").Label(carvev1.LabelWorkload, "notebook").Container("c", "", "").Obj(),
			mlNS, podLvl, podcontract.RuleWorkloadInvalid, []string{"session, job or model"}},
		{"daemonset", ut.MakePod("p", "alice").Owner("apps/v1", "DaemonSet", "d").Container("c", "", "").Obj(),
			mlNS, podLvl, podcontract.RuleDaemonSet, []string{"namespace without"}},
		{"requests above profile", ut.MakePod("p", "alice").Container("a", "800m", "").Container("b", "800m", "").Obj(),
			mlNS, podLvl, podcontract.RuleAboveProfile, []string{"1600m cpu", `"small"`, "bigger profile"}},
		{"init container above profile", ut.MakePod("p", "alice").InitContainer("i", "", "3Gi").Container("c", "", "").Obj(),
			mlNS, podLvl, podcontract.RuleAboveProfile, []string{"3Gi memory"}},
		{"limit above profile", ut.MakePod("p", "alice").Container("c", "", "").Limit(corev1.ResourceCPU, "2").Obj(),
			mlNS, podLvl, podcontract.RuleAboveProfile, []string{`container "c"`, "cpu limit of 2"}},
		{"limit within burst", nil, nil, podLvl, "", nil},
		{"pod-level above profile", ut.MakePod("p", "alice").PodResources("2", "").Container("c", "", "").Obj(),
			mlNS, podLvl, podcontract.RuleAboveProfile, []string{"pod-level"}},
		{"gpu without gpu profile", ut.MakePod("p", "alice").Container("c", "", "").GPU("nvidia.com/gpu", "1").Obj(),
			mlNS, podLvl, podcontract.RuleGPUWithoutProfile, []string{`"small" has no GPU`, "GPU profile"}},
		{"amd gpu without gpu profile", ut.MakePod("p", "alice").Container("c", "", "").GPU("amd.com/gpu", "1").Obj(),
			mlNS, podLvl, podcontract.RuleGPUWithoutProfile, []string{"amd.com/gpu"}},
		{"other gpu resource", ut.MakePod("p", "alice").Profile("gpu-1").Container("c", "", "").GPU("nvidia.com/mig-1g.5gb", "1").Obj(),
			mlNS, podLvl, podcontract.RuleGPUWithoutProfile, []string{"gives its GPUs as nvidia.com/gpu"}},
		{"too many gpus", ut.MakePod("p", "alice").Profile("gpu-1").Container("c", "", "").GPU("nvidia.com/gpu", "2").Obj(),
			mlNS, podLvl, podcontract.RuleAboveProfile, []string{"2 nvidia.com/gpu"}},
		{"scheduler name", ut.MakePod("p", "alice").SchedulerName("volcano").Container("c", "", "").Obj(),
			mlNS, podLvl, podcontract.RuleSchedulerName, []string{`"volcano"`, "remove spec.schedulerName"}},
		{"node name", ut.MakePod("p", "alice").NodeName("n1").Container("c", "", "").Obj(),
			mlNS, podLvl, podcontract.RuleNodeName, []string{`"n1"`}},
		{"pool selector conflict", ut.MakePod("p", "alice").Profile("large").NodeSelector(carvev1.LabelNodePool, "gpu").Container("c", "", "").Obj(),
			mlNS, podLvl, podcontract.RulePlacement, []string{"runs on cpu"}},
		{"gpu product conflict", ut.MakePod("p", "alice").Profile("gpu-1").NodeSelector(podcontract.LabelGPUProduct, "H100").Container("c", "", "").Obj(),
			mlNS, podLvl, podcontract.RulePlacement, []string{"NVIDIA-A10G"}},
		{"tolerate everything", ut.MakePod("p", "alice").Container("c", "", "").
			Toleration(corev1.Toleration{Operator: corev1.TolerationOpExists}).Obj(),
			mlNS, podLvl, podcontract.RuleToleration, []string{"(every key)", `"small"`, "remove it"}},
		{"tolerate the GPU taint without a GPU profile", ut.MakePod("p", "alice").Profile("large").Container("c", "", "").
			Toleration(corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists}).Obj(),
			mlNS, podLvl, podcontract.RuleToleration, []string{"nvidia.com/gpu", `"large"`}},
		{"tolerate the control plane", ut.MakePod("p", "alice").Container("c", "", "").
			Toleration(corev1.Toleration{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}).Obj(),
			mlNS, podLvl, podcontract.RuleToleration, []string{"node-role.kubernetes.io/control-plane"}},
		{"tolerate any spot value", ut.MakePod("p", "alice").Profile("multi").Container("c", "", "").
			Toleration(corev1.Toleration{Key: "carve.dev/spot", Operator: corev1.TolerationOpExists}).Obj(),
			mlNS, podLvl, podcontract.RuleToleration, []string{"carve.dev/spot"}},
		{"tolerate a draining node", ut.MakePod("p", "alice").Container("c", "", "").
			Toleration(corev1.Toleration{Key: carvev1.TaintDraining, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}).Obj(),
			mlNS, podLvl, podcontract.RuleToleration, []string{carvev1.TaintDraining}},
		{"sidecars leave nothing (container mode)", ut.MakePod("p", "alice").Container("c", "", "").Sidecar("s", "1", "").Obj(),
			mlNS, ctrLvl, podcontract.RuleAboveProfile, []string{"leaving nothing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.pod == nil {
				// a CPU limit up to the profile's burst limit is allowed
				tc.pod = ut.MakePod("p", "alice").Profile("large").Container("c", "", "").Limit(corev1.ResourceCPU, "6").Obj()
				tc.ns = mlNS
			}
			_, err := podcontract.Admit(tc.pod, tc.ns, world(), tc.opts)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("Admit: %v", err)
				}
				return
			}
			var d *podcontract.Denial
			if !errors.As(err, &d) {
				t.Fatalf("Admit error = %v, want a *Denial", err)
			}
			if !d.Has(tc.rule) {
				t.Errorf("denial %q lacks rule %s", err, tc.rule)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("denial %q does not say %q", err, s)
				}
			}
			if !strings.Contains(err.Error(), string(tc.rule)) {
				t.Errorf("denial %q does not name its rule", err)
			}
		})
	}
}

func TestCheckRefusesUnenforcedPod(t *testing.T) {
	// A pod that skipped the mutating webhook passes no validation.
	pod := ut.MakePod("p", "alice").Container("c", "", "").Obj()
	err := podcontract.Check(pod, mlNS, world(), podLvl)
	var d *podcontract.Denial
	if !errors.As(err, &d) || !d.Has(podcontract.RuleNotEnforced) {
		t.Fatalf("Check = %v, want %s", err, podcontract.RuleNotEnforced)
	}
	// Neither does an admitted pod rewritten afterwards.
	admitted, err := podcontract.Admit(pod, mlNS, world(), podLvl)
	if err != nil {
		t.Fatal(err)
	}
	admitted.Spec.Resources.Limits[corev1.ResourceMemory] = q("64Gi")
	err = podcontract.Check(admitted, mlNS, world(), podLvl)
	if !errors.As(err, &d) {
		t.Fatalf("Check of a rewritten pod = %v, want a denial", err)
	}
	if !strings.Contains(err.Error(), "64Gi") && !d.Has(podcontract.RuleAboveProfile) {
		t.Errorf("Check of a rewritten pod = %v, want %s", err, podcontract.RuleAboveProfile)
	}
}
