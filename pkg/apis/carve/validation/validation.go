package validation

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// ValidateResourceProfile checks a profile on create and update.
func ValidateResourceProfile(p *carvev1.ResourceProfile) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	errs = append(errs, positive(spec.Child("cpu"), p.Spec.CPU)...)
	errs = append(errs, positive(spec.Child("memory"), p.Spec.Memory)...)
	if l := p.Spec.CPULimit; l != nil {
		errs = append(errs, positive(spec.Child("cpuLimit"), *l)...)
		if l.Cmp(p.Spec.CPU) < 0 {
			errs = append(errs, field.Invalid(spec.Child("cpuLimit"), l.String(),
				fmt.Sprintf("must not be below cpu (%s): it is the most a pod may burst to", p.Spec.CPU.String())))
		}
	}
	if e := p.Spec.EphemeralStorage; e != nil {
		errs = append(errs, positive(spec.Child("ephemeralStorage"), *e)...)
	}
	if g := p.Spec.GPU; g != nil {
		gp := spec.Child("gpu")
		if g.Count < 1 {
			errs = append(errs, field.Invalid(gp.Child("count"), g.Count, "must be at least 1; remove gpu for a CPU-only profile"))
		}
		if g.ResourceName != "" {
			if msgs := validation.IsQualifiedName(g.ResourceName); len(msgs) > 0 || !strings.Contains(g.ResourceName, "/") {
				errs = append(errs, field.Invalid(gp.Child("resourceName"), g.ResourceName,
					"must be an extended resource name such as nvidia.com/gpu"))
			} else if !carvev1.IsGPUResource(corev1.ResourceName(g.ResourceName)) {
				errs = append(errs, field.Invalid(gp.Child("resourceName"), g.ResourceName,
					"is not a GPU resource name (expected vendor.com/gpu, vendor.com/mig-..., or gpu.vendor.com/...)"))
			}
		}
		if g.Product != "" {
			for _, msg := range validation.IsValidLabelValue(g.Product) {
				errs = append(errs, field.Invalid(gp.Child("product"), g.Product, msg))
			}
		}
	}
	errs = append(errs, names(spec.Child("nodePools"), p.Spec.NodePools)...)
	return errs
}

// ValidateWorkspace checks a workspace on create and update.
func ValidateWorkspace(w *carvev1.Workspace) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if len(w.Spec.AllowedProfiles) == 0 {
		errs = append(errs, field.Required(spec.Child("allowedProfiles"), "name at least one ResourceProfile the workspace's pods may use"))
	}
	errs = append(errs, names(spec.Child("allowedProfiles"), w.Spec.AllowedProfiles)...)
	switch {
	case w.Spec.DefaultProfile == "":
		errs = append(errs, field.Required(spec.Child("defaultProfile"), "name the profile of pods that pick none"))
	case !w.Allows(w.Spec.DefaultProfile):
		errs = append(errs, field.Invalid(spec.Child("defaultProfile"), w.Spec.DefaultProfile,
			fmt.Sprintf("must be one of allowedProfiles (%s): add it there or pick one of them", strings.Join(w.Spec.AllowedProfiles, ", "))))
	}
	errs = append(errs, quota(spec.Child("quota"), w.Spec.Quota)...)
	errs = append(errs, quota(spec.Child("projectQuota"), w.Spec.ProjectQuota)...)
	seen := map[string]bool{}
	for i, tq := range w.Spec.TeamQuotas {
		p := spec.Child("teamQuotas").Index(i)
		for _, msg := range validation.IsValidLabelValue(tq.Team) {
			errs = append(errs, field.Invalid(p.Child("team"), tq.Team, msg))
		}
		if seen[tq.Team] {
			errs = append(errs, field.Duplicate(p.Child("team"), tq.Team))
		}
		seen[tq.Team] = true
		errs = append(errs, quota(p.Child("quota"), &tq.Quota)...)
	}
	switch w.Spec.Queueing.Policy {
	case "", carvev1.QueueingFairShare, carvev1.QueueingFIFO:
	default:
		errs = append(errs, field.NotSupported(spec.Child("queueing", "policy"), w.Spec.Queueing.Policy,
			[]carvev1.QueueingPolicy{carvev1.QueueingFairShare, carvev1.QueueingFIFO}))
	}
	errs = append(errs, budgets(spec.Child("budgets"), w.Spec.Budgets)...)
	return errs
}

// budgets checks a workspace's budgets: one limit each, a name where the
// scope needs one, no two budgets of the same scope, period and unit.
func budgets(p *field.Path, bs []carvev1.Budget) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, b := range bs {
		bp := p.Index(i)
		switch b.Scope {
		case carvev1.BudgetWorkspace:
			if b.Name != "" {
				errs = append(errs, field.Invalid(bp.Child("name"), b.Name, "a Workspace budget names no team or project: remove name"))
			}
		case carvev1.BudgetTeam:
			if b.Name == "" {
				errs = append(errs, field.Required(bp.Child("name"), "name the team (the carve.dev/team label value) this budget caps"))
			}
			for _, msg := range validation.IsValidLabelValue(b.Name) {
				errs = append(errs, field.Invalid(bp.Child("name"), b.Name, msg))
			}
		case carvev1.BudgetProject:
			if b.Name != "" {
				for _, msg := range validation.IsDNS1123Label(b.Name) {
					errs = append(errs, field.Invalid(bp.Child("name"), b.Name, msg))
				}
			}
		default:
			errs = append(errs, field.NotSupported(bp.Child("scope"), b.Scope, []carvev1.BudgetScope{carvev1.BudgetWorkspace, carvev1.BudgetTeam, carvev1.BudgetProject}))
		}
		switch b.Period {
		case carvev1.BudgetDay, carvev1.BudgetWeek, carvev1.BudgetMonth:
		default:
			errs = append(errs, field.NotSupported(bp.Child("period"), b.Period, []carvev1.BudgetPeriod{carvev1.BudgetDay, carvev1.BudgetWeek, carvev1.BudgetMonth}))
		}
		unit, n := "", 0
		for _, f := range []struct {
			name string
			v    *resource.Quantity
		}{{"cpuHours", b.CPUHours}, {"gpuHours", b.GPUHours}, {"cost", b.Cost}} {
			if f.v == nil {
				continue
			}
			n++
			unit = f.name
			if f.v.Sign() < 0 {
				errs = append(errs, field.Invalid(bp.Child(f.name), f.v.String(), "must not be negative (0 lets no new pod of the scope start)"))
			}
		}
		if n != 1 {
			errs = append(errs, field.Invalid(bp, n, "set exactly one of cpuHours, gpuHours and cost"))
		}
		key := string(b.Scope) + "/" + b.Name + "/" + string(b.Period) + "/" + unit
		if seen[key] {
			errs = append(errs, field.Duplicate(bp, fmt.Sprintf("%s %q %s %s", b.Scope, b.Name, b.Period, unit)))
		}
		seen[key] = true
	}
	return errs
}

// ValidateNodePool checks a node pool on create; ValidateNodePoolUpdate adds
// the rules for updates.
func ValidateNodePool(np *carvev1.NodePool) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	switch np.Spec.Role {
	case carvev1.NodePoolRoleBase, carvev1.NodePoolRoleCPU, carvev1.NodePoolRoleGPU:
	default:
		errs = append(errs, field.NotSupported(spec.Child("role"), np.Spec.Role,
			[]carvev1.NodePoolRole{carvev1.NodePoolRoleBase, carvev1.NodePoolRoleCPU, carvev1.NodePoolRoleGPU}))
	}
	if np.Spec.MinSize < 0 {
		errs = append(errs, field.Invalid(spec.Child("minSize"), np.Spec.MinSize, "must not be negative"))
	}
	if np.Spec.MaxSize < np.Spec.MinSize {
		errs = append(errs, field.Invalid(spec.Child("maxSize"), np.Spec.MaxSize,
			fmt.Sprintf("must not be below minSize (%d)", np.Spec.MinSize)))
	}
	if np.Spec.Role == carvev1.NodePoolRoleBase && np.Spec.MinSize < 1 {
		errs = append(errs, field.Invalid(spec.Child("minSize"), np.Spec.MinSize,
			"a Base pool is always on: minSize must be at least 1"))
	}
	errs = append(errs, platform(spec.Child("platform"), &np.Spec.Platform)...)

	tp := spec.Child("template")
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		q, ok := np.Spec.Template.Capacity[r]
		if !ok {
			errs = append(errs, field.Required(tp.Child("capacity").Key(string(r)),
				"the autoscaler needs the node's capacity to scale the pool from zero"))
			continue
		}
		errs = append(errs, positive(tp.Child("capacity").Key(string(r)), q)...)
	}
	for _, rl := range []struct {
		name string
		list corev1.ResourceList
	}{{"capacity", np.Spec.Template.Capacity}, {"allocatable", np.Spec.Template.Allocatable}} {
		for n, q := range rl.list {
			if q.Sign() < 0 {
				errs = append(errs, field.Invalid(tp.Child(rl.name).Key(string(n)), q.String(), "must not be negative"))
			}
		}
	}
	for n, q := range np.Spec.Template.Allocatable {
		if c, ok := np.Spec.Template.Capacity[n]; ok && q.Cmp(c) > 0 {
			errs = append(errs, field.Invalid(tp.Child("allocatable").Key(string(n)), q.String(),
				fmt.Sprintf("must not exceed capacity (%s)", c.String())))
		}
	}
	hasGPU := slices.ContainsFunc(resourceNames(np.Spec.Template.Capacity), carvev1.IsGPUResource)
	if np.Spec.Role == carvev1.NodePoolRoleGPU && !hasGPU {
		errs = append(errs, field.Required(tp.Child("capacity"),
			"a GPU pool's template must list its GPUs (e.g. nvidia.com/gpu: 1) so the autoscaler can scale it from zero"))
	}
	if np.Spec.Role != carvev1.NodePoolRoleGPU && hasGPU {
		errs = append(errs, field.Invalid(spec.Child("role"), np.Spec.Role,
			"the template has GPUs: use role GPU so CPU-only work stays off these nodes"))
	}
	for k, v := range np.Spec.Template.Labels {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(tp.Child("labels").Key(k), k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, field.Invalid(tp.Child("labels").Key(k), v, msg))
		}
		if k == carvev1.LabelNodePool && v != np.Name {
			errs = append(errs, field.Invalid(tp.Child("labels").Key(k), v,
				fmt.Sprintf("carve sets this label to the pool's name (%s); remove it", np.Name)))
		}
	}
	for i, t := range np.Spec.Template.Taints {
		p := tp.Child("taints").Index(i)
		if t.Key == carvev1.TaintDeleting {
			// A pool that carried it would grant its pods a toleration of it,
			// and they could land on a node carve-cloudprovider is deleting.
			errs = append(errs, field.Forbidden(p.Child("key"),
				fmt.Sprintf("carve-cloudprovider puts %s on nodes it is about to delete; use another key", carvev1.TaintDeleting)))
		}
		for _, msg := range validation.IsQualifiedName(t.Key) {
			errs = append(errs, field.Invalid(p.Child("key"), t.Key, msg))
		}
		if t.Value != "" {
			for _, msg := range validation.IsValidLabelValue(t.Value) {
				errs = append(errs, field.Invalid(p.Child("value"), t.Value, msg))
			}
		}
		switch t.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			errs = append(errs, field.NotSupported(p.Child("effect"), t.Effect,
				[]corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}))
		}
	}
	if pr := np.Spec.PricePerHour; pr != nil && pr.Sign() < 0 {
		errs = append(errs, field.Invalid(spec.Child("pricePerHour"), pr.String(), "must not be negative"))
	}
	return errs
}

// ValidateNodePoolUpdate checks an update of a node pool.
func ValidateNodePoolUpdate(oldPool, newPool *carvev1.NodePool) field.ErrorList {
	errs := ValidateNodePool(newPool)
	if oldPool.Spec.Platform.Type != newPool.Spec.Platform.Type {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "platform", "type"),
			"is immutable: the pool's nodes come from one platform; create a new NodePool instead"))
	}
	return errs
}

func platform(p *field.Path, pl *carvev1.Platform) field.ErrorList {
	set := map[carvev1.PlatformType]bool{
		carvev1.PlatformEKS:        pl.EKS != nil,
		carvev1.PlatformAKS:        pl.AKS != nil,
		carvev1.PlatformOpenShift:  pl.OpenShift != nil,
		carvev1.PlatformClusterAPI: pl.ClusterAPI != nil,
	}
	member := map[carvev1.PlatformType]string{
		carvev1.PlatformEKS: "eks", carvev1.PlatformAKS: "aks",
		carvev1.PlatformOpenShift: "openShift", carvev1.PlatformClusterAPI: "clusterAPI",
	}
	var errs field.ErrorList
	switch pl.Type {
	case carvev1.PlatformKwok, carvev1.PlatformEKS, carvev1.PlatformAKS, carvev1.PlatformOpenShift, carvev1.PlatformClusterAPI:
	default:
		return field.ErrorList{field.NotSupported(p.Child("type"), pl.Type, []carvev1.PlatformType{
			carvev1.PlatformKwok, carvev1.PlatformEKS, carvev1.PlatformAKS, carvev1.PlatformOpenShift, carvev1.PlatformClusterAPI})}
	}
	for _, t := range []carvev1.PlatformType{carvev1.PlatformEKS, carvev1.PlatformAKS, carvev1.PlatformOpenShift, carvev1.PlatformClusterAPI} {
		switch {
		case t == pl.Type && !set[t]:
			errs = append(errs, field.Required(p.Child(member[t]), fmt.Sprintf("type %s needs its %s settings", t, member[t])))
		case t != pl.Type && set[t]:
			errs = append(errs, field.Forbidden(p.Child(member[t]), fmt.Sprintf("must be unset for type %s", pl.Type)))
		}
	}
	return errs
}

func quota(p *field.Path, q *carvev1.Quota) field.ErrorList {
	if q == nil {
		return nil
	}
	var errs field.ErrorList
	for _, f := range []struct {
		name string
		v    *resource.Quantity
	}{{"cpu", q.CPU}, {"memory", q.Memory}, {"gpu", q.GPU}} {
		if f.v != nil && f.v.Sign() < 0 {
			errs = append(errs, field.Invalid(p.Child(f.name), f.v.String(), "must not be negative (0 means nothing may run)"))
		}
	}
	if q.Pods != nil && *q.Pods < 0 {
		errs = append(errs, field.Invalid(p.Child("pods"), *q.Pods, "must not be negative"))
	}
	return errs
}

func positive(p *field.Path, q resource.Quantity) field.ErrorList {
	if q.Sign() <= 0 {
		return field.ErrorList{field.Invalid(p, q.String(), "must be greater than zero")}
	}
	return nil
}

func names(p *field.Path, list []string) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, n := range list {
		for _, msg := range validation.IsDNS1123Subdomain(n) {
			errs = append(errs, field.Invalid(p.Index(i), n, msg))
		}
		if seen[n] {
			errs = append(errs, field.Duplicate(p.Index(i), n))
		}
		seen[n] = true
	}
	return errs
}

func resourceNames(rl corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(rl))
	for n := range rl {
		out = append(out, n)
	}
	return out
}
