package validation_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/apis/carve/validation"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// fields lists the paths and types of errs: what a user is told to fix.
func fields(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func TestValidateResourceProfile(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *carvev1.ResourceProfile
		want []string
	}{
		{"valid", ut.MakeProfile("small", "1", "2Gi").CPULimit("2").EphemeralStorage("10Gi").Pools("cpu").Obj(), nil},
		{"valid gpu", ut.MakeProfile("gpu", "8", "32Gi").GPU(1, "amd.com/gpu").GPUProduct("MI300X").Obj(), nil},
		{"zero cpu", ut.MakeProfile("p", "0", "2Gi").Obj(), []string{"FieldValueInvalid spec.cpu"}},
		{"negative memory", ut.MakeProfile("p", "1", "-1Gi").Obj(), []string{"FieldValueInvalid spec.memory"}},
		{"burst below cpu", ut.MakeProfile("p", "2", "2Gi").CPULimit("1").Obj(), []string{"FieldValueInvalid spec.cpuLimit"}},
		{"gpu count zero", ut.MakeProfile("p", "1", "2Gi").GPU(0, "").Obj(), []string{"FieldValueInvalid spec.gpu.count"}},
		{"gpu name without domain", ut.MakeProfile("p", "1", "2Gi").GPU(1, "gpu").Obj(), []string{"FieldValueInvalid spec.gpu.resourceName"}},
		{"not a gpu resource", ut.MakeProfile("p", "1", "2Gi").GPU(1, "example.com/fpga").Obj(), []string{"FieldValueInvalid spec.gpu.resourceName"}},
		{"bad product", ut.MakeProfile("p", "1", "2Gi").GPU(1, "").GPUProduct("A 10").Obj(), []string{"FieldValueInvalid spec.gpu.product"}},
		{"duplicate pool", ut.MakeProfile("p", "1", "2Gi").Pools("cpu", "cpu").Obj(), []string{"FieldValueDuplicate spec.nodePools[1]"}},
		{"bad pool name", ut.MakeProfile("p", "1", "2Gi").Pools("CPU_pool").Obj(), []string{"FieldValueInvalid spec.nodePools[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, fields(validation.ValidateResourceProfile(tc.p))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateWorkspace(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    *carvev1.Workspace
		want []string
	}{
		{"valid", ut.MakeWorkspace("ml", "small", "large").Quota("32", "128Gi", "2", 50).ProjectQuota("8", "", "", -1).
			TeamQuota("vision", "16", "", "1", -1).Obj(), nil},
		{"zero quota is allowed", ut.MakeWorkspace("ml", "small").Quota("0", "", "0", 0).Obj(), nil},
		{"no profiles", ut.MakeWorkspace("ml").Default("small").Obj(), []string{
			"FieldValueRequired spec.allowedProfiles", "FieldValueInvalid spec.defaultProfile"}},
		{"default not allowed", ut.MakeWorkspace("ml", "small").Default("large").Obj(), []string{"FieldValueInvalid spec.defaultProfile"}},
		{"negative quota", func() *carvev1.Workspace {
			w := ut.MakeWorkspace("ml", "small").Quota("-1", "-1Gi", "", -1).Obj()
			w.Spec.Quota.Pods = ptr.To[int32](-2) // the builder takes negative as unset
			return w
		}(), []string{
			"FieldValueInvalid spec.quota.cpu", "FieldValueInvalid spec.quota.memory", "FieldValueInvalid spec.quota.pods"}},
		{"duplicate team", ut.MakeWorkspace("ml", "small").TeamQuota("a", "1", "", "", -1).TeamQuota("a", "2", "", "", -1).Obj(),
			[]string{"FieldValueDuplicate spec.teamQuotas[1].team"}},
		{"bad team name", ut.MakeWorkspace("ml", "small").TeamQuota("a team", "1", "", "", -1).Obj(),
			[]string{"FieldValueInvalid spec.teamQuotas[0].team"}},
		{"budgets", ut.MakeWorkspace("ml", "small").Budget(carvev1.BudgetWorkspace, "", carvev1.BudgetMonth, "cost", "500").
			Budget(carvev1.BudgetTeam, "vision", carvev1.BudgetWeek, "gpuHours", "40").Budget(carvev1.BudgetProject, "", carvev1.BudgetDay, "cpuHours", "100").Obj(), nil},
		{"bad budgets", func() *carvev1.Workspace {
			w := ut.MakeWorkspace("ml", "small").Budget(carvev1.BudgetWorkspace, "x", carvev1.BudgetMonth, "cost", "-1").
				Budget(carvev1.BudgetTeam, "", carvev1.BudgetWeek, "gpuHours", "40").
				Budget(carvev1.BudgetProject, "a", carvev1.BudgetDay, "cpuHours", "1").Budget(carvev1.BudgetProject, "a", carvev1.BudgetDay, "cpuHours", "2").Obj()
			w.Spec.Budgets[2].GPUHours = w.Spec.Budgets[2].CPUHours
			w.Spec.Budgets = append(w.Spec.Budgets, carvev1.Budget{Scope: "Galaxy", Period: "Year"})
			return w
		}(), []string{
			"FieldValueInvalid spec.budgets[0].name", "FieldValueInvalid spec.budgets[0].cost",
			"FieldValueRequired spec.budgets[1].name", "FieldValueInvalid spec.budgets[2]",
			"FieldValueNotSupported spec.budgets[4].scope", "FieldValueNotSupported spec.budgets[4].period", "FieldValueInvalid spec.budgets[4]",
		}},
		{"bad policy", func() *carvev1.Workspace {
			w := ut.MakeWorkspace("ml", "small").Obj()
			w.Spec.Queueing.Policy = "Lottery"
			return w
		}(), []string{"FieldValueNotSupported spec.queueing.policy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, fields(validation.ValidateWorkspace(tc.w))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateNodePool(t *testing.T) {
	cpu := func() *ut.NodePoolWrapper {
		return ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 10, "16", "64Gi")
	}
	for _, tc := range []struct {
		name string
		np   *carvev1.NodePool
		want []string
	}{
		{"valid", cpu().Price("0.768").Taint("spot", "true", corev1.TaintEffectNoSchedule).TemplateLabel("zone", "a").Obj(), nil},
		{"valid gpu", ut.MakeNodePool("gpu", carvev1.NodePoolRoleGPU, 0, 4, "8", "32Gi").Capacity("nvidia.com/gpu", "1").Obj(), nil},
		{"min above max", ut.MakeNodePool("p", carvev1.NodePoolRoleCPU, 5, 2, "4", "8Gi").Obj(), []string{"FieldValueInvalid spec.maxSize"}},
		{"base at zero", ut.MakeNodePool("p", carvev1.NodePoolRoleBase, 0, 1, "4", "8Gi").Obj(), []string{"FieldValueInvalid spec.minSize"}},
		{"gpu pool without gpus", ut.MakeNodePool("p", carvev1.NodePoolRoleGPU, 0, 1, "4", "8Gi").Obj(), []string{"FieldValueRequired spec.template.capacity"}},
		{"gpus in a cpu pool", cpu().Capacity("nvidia.com/gpu", "1").Obj(), []string{"FieldValueInvalid spec.role"}},
		{"no memory", func() *carvev1.NodePool {
			np := cpu().Obj()
			delete(np.Spec.Template.Capacity, corev1.ResourceMemory)
			return np
		}(), []string{"FieldValueRequired spec.template.capacity[memory]"}},
		{"allocatable above capacity", func() *carvev1.NodePool {
			np := cpu().Obj()
			np.Spec.Template.Allocatable = corev1.ResourceList{corev1.ResourceCPU: np.Spec.Template.Capacity[corev1.ResourceMemory]}
			return np
		}(), []string{"FieldValueInvalid spec.template.allocatable[cpu]"}},
		{"pool label set by hand", cpu().TemplateLabel(carvev1.LabelNodePool, "other").Obj(), []string{"FieldValueInvalid spec.template.labels[carve.dev/node-pool]"}},
		{"bad taint", cpu().Taint("a b", "", "Sometimes").Obj(), []string{
			"FieldValueInvalid spec.template.taints[0].key", "FieldValueNotSupported spec.template.taints[0].effect"}},
		{"carve's deleting taint", cpu().Taint(carvev1.TaintDeleting, "", corev1.TaintEffectNoSchedule).Obj(), []string{"FieldValueForbidden spec.template.taints[0].key"}},
		{"eks without settings", func() *carvev1.NodePool {
			np := cpu().Obj()
			np.Spec.Platform.Type = carvev1.PlatformEKS
			return np
		}(), []string{"FieldValueRequired spec.platform.eks"}},
		{"kwok with aks settings", func() *carvev1.NodePool {
			np := cpu().Obj()
			np.Spec.Platform.AKS = &carvev1.AKSPlatform{SubscriptionID: "s", ResourceGroup: "g", Cluster: "c", AgentPool: "p"}
			return np
		}(), []string{"FieldValueForbidden spec.platform.aks"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, fields(validation.ValidateNodePool(tc.np))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("platform type is immutable", func(t *testing.T) {
		old, updated := cpu().Obj(), cpu().Obj()
		updated.Spec.Platform = carvev1.Platform{Type: carvev1.PlatformEKS, EKS: &carvev1.EKSPlatform{Region: "r", AutoScalingGroup: "g"}}
		if diff := cmp.Diff([]string{"FieldValueForbidden spec.platform.type"}, fields(validation.ValidateNodePoolUpdate(old, updated))); diff != "" {
			t.Errorf("errors (-want +got):\n%s", diff)
		}
	})
}
