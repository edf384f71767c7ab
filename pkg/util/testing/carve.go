package testing

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// ProfileWrapper builds a ResourceProfile.
type ProfileWrapper struct{ carvev1.ResourceProfile }

// MakeProfile starts a profile of cpu and memory.
func MakeProfile(name, cpu, memory string) *ProfileWrapper {
	return &ProfileWrapper{carvev1.ResourceProfile{
		TypeMeta:   metav1.TypeMeta{APIVersion: carvev1.GroupVersion.String(), Kind: "ResourceProfile"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       carvev1.ResourceProfileSpec{CPU: resource.MustParse(cpu), Memory: resource.MustParse(memory)},
	}}
}

// Obj returns the built profile.
func (p *ProfileWrapper) Obj() *carvev1.ResourceProfile { return &p.ResourceProfile }

// GPU gives the profile n GPUs of resource (empty for the default).
func (p *ProfileWrapper) GPU(n int32, resourceName string) *ProfileWrapper {
	p.Spec.GPU = &carvev1.GPUSpec{Count: n, ResourceName: resourceName}
	return p
}

// GPUProduct restricts the profile's GPUs to a product.
func (p *ProfileWrapper) GPUProduct(product string) *ProfileWrapper {
	p.Spec.GPU.Product = product
	return p
}

// CPULimit lets pods of the profile burst up to q CPU.
func (p *ProfileWrapper) CPULimit(q string) *ProfileWrapper {
	p.Spec.CPULimit = ptr.To(resource.MustParse(q))
	return p
}

// EphemeralStorage gives the profile scratch space.
func (p *ProfileWrapper) EphemeralStorage(q string) *ProfileWrapper {
	p.Spec.EphemeralStorage = ptr.To(resource.MustParse(q))
	return p
}

// Pools names the node pools the profile runs on.
func (p *ProfileWrapper) Pools(names ...string) *ProfileWrapper {
	p.Spec.NodePools = names
	return p
}

// WorkspaceWrapper builds a Workspace.
type WorkspaceWrapper struct{ carvev1.Workspace }

// MakeWorkspace starts a workspace allowing profiles, the first the default.
func MakeWorkspace(name string, profiles ...string) *WorkspaceWrapper {
	w := &WorkspaceWrapper{carvev1.Workspace{
		TypeMeta:   metav1.TypeMeta{APIVersion: carvev1.GroupVersion.String(), Kind: "Workspace"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       carvev1.WorkspaceSpec{AllowedProfiles: profiles},
	}}
	if len(profiles) > 0 {
		w.Spec.DefaultProfile = profiles[0]
	}
	return w
}

// Obj returns the built workspace.
func (w *WorkspaceWrapper) Obj() *carvev1.Workspace { return &w.Workspace }

// Default sets the default profile.
func (w *WorkspaceWrapper) Default(p string) *WorkspaceWrapper { w.Spec.DefaultProfile = p; return w }

// Quota sets the workspace quota (empty strings and negative pods mean unset).
func (w *WorkspaceWrapper) Quota(cpu, memory, gpu string, pods int32) *WorkspaceWrapper {
	w.Spec.Quota = MakeQuota(cpu, memory, gpu, pods)
	return w
}

// PriorityClasses sets spec.priorityClasses.
func (w *WorkspaceWrapper) PriorityClasses(def string, sessionPreemption corev1.PreemptionPolicy, allowed ...string) *WorkspaceWrapper {
	w.Spec.PriorityClasses = &carvev1.PriorityClassPolicy{Allowed: allowed, Default: def, SessionPreemption: sessionPreemption}
	return w
}

// Policy sets the queueing policy.
func (w *WorkspaceWrapper) Policy(p carvev1.QueueingPolicy) *WorkspaceWrapper {
	w.Spec.Queueing.Policy = p
	return w
}

// ProjectQuota sets the per-project quota.
func (w *WorkspaceWrapper) ProjectQuota(cpu, memory, gpu string, pods int32) *WorkspaceWrapper {
	w.Spec.ProjectQuota = MakeQuota(cpu, memory, gpu, pods)
	return w
}

// TeamQuota adds a team's quota.
func (w *WorkspaceWrapper) TeamQuota(team, cpu, memory, gpu string, pods int32) *WorkspaceWrapper {
	w.Spec.TeamQuotas = append(w.Spec.TeamQuotas, carvev1.TeamQuota{Team: team, Quota: *MakeQuota(cpu, memory, gpu, pods)})
	return w
}

// Budget adds a budget of unit (cpuHours, gpuHours or cost) with limit.
func (w *WorkspaceWrapper) Budget(scope carvev1.BudgetScope, name string, period carvev1.BudgetPeriod, unit, limit string) *WorkspaceWrapper {
	b := carvev1.Budget{Scope: scope, Name: name, Period: period}
	q := resource.MustParse(limit)
	switch unit {
	case "cpuHours":
		b.CPUHours = &q
	case "gpuHours":
		b.GPUHours = &q
	default:
		b.Cost = &q
	}
	w.Spec.Budgets = append(w.Spec.Budgets, b)
	return w
}

// SessionDeadline lets sessions keep a retiring node for deadline, stopped
// no sooner than notice after they are told (notice 0: the default).
func (w *WorkspaceWrapper) SessionDeadline(deadline, notice time.Duration) *WorkspaceWrapper {
	if w.Spec.Disruption == nil {
		w.Spec.Disruption = &carvev1.WorkspaceDisruption{}
	}
	w.Spec.Disruption.SessionDeadline = &metav1.Duration{Duration: deadline}
	if notice > 0 {
		w.Spec.Disruption.SessionNotice = &metav1.Duration{Duration: notice}
	}
	return w
}

// RestartableJobs lets consolidation move the workspace's jobs.
func (w *WorkspaceWrapper) RestartableJobs() *WorkspaceWrapper {
	if w.Spec.Disruption == nil {
		w.Spec.Disruption = &carvev1.WorkspaceDisruption{}
	}
	w.Spec.Disruption.Jobs = carvev1.JobsRestartable
	return w
}

// MakeQuota builds a quota; empty strings and negative pods leave a field unset.
func MakeQuota(cpu, memory, gpu string, pods int32) *carvev1.Quota {
	q := &carvev1.Quota{}
	parse := func(s string) *resource.Quantity {
		if s == "" {
			return nil
		}
		return ptr.To(resource.MustParse(s))
	}
	q.CPU, q.Memory, q.GPU = parse(cpu), parse(memory), parse(gpu)
	if pods >= 0 {
		q.Pods = ptr.To(pods)
	}
	return q
}

// NodePoolWrapper builds a NodePool.
type NodePoolWrapper struct{ carvev1.NodePool }

// MakeNodePool starts a kwok pool of nodes with cpu and memory.
func MakeNodePool(name string, role carvev1.NodePoolRole, min, max int32, cpu, memory string) *NodePoolWrapper {
	return &NodePoolWrapper{carvev1.NodePool{
		TypeMeta:   metav1.TypeMeta{APIVersion: carvev1.GroupVersion.String(), Kind: "NodePool"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: carvev1.NodePoolSpec{
			Role:     role,
			Platform: carvev1.Platform{Type: carvev1.PlatformKwok},
			MinSize:  min,
			MaxSize:  max,
			Template: carvev1.NodeTemplate{Capacity: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(cpu),
				corev1.ResourceMemory: resource.MustParse(memory),
				corev1.ResourcePods:   resource.MustParse("110"),
			}},
		},
	}}
}

// Obj returns the built pool.
func (n *NodePoolWrapper) Obj() *carvev1.NodePool { return &n.NodePool }

// Capacity sets a capacity entry of the template.
func (n *NodePoolWrapper) Capacity(name corev1.ResourceName, q string) *NodePoolWrapper {
	n.Spec.Template.Capacity[name] = resource.MustParse(q)
	return n
}

// Taint adds a taint to the template.
func (n *NodePoolWrapper) Taint(key, value string, effect corev1.TaintEffect) *NodePoolWrapper {
	n.Spec.Template.Taints = append(n.Spec.Template.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	return n
}

// TemplateLabel adds a label to the template.
func (n *NodePoolWrapper) TemplateLabel(k, v string) *NodePoolWrapper {
	if n.Spec.Template.Labels == nil {
		n.Spec.Template.Labels = map[string]string{}
	}
	n.Spec.Template.Labels[k] = v
	return n
}

// Consolidation sets the pool's consolidation policy.
func (n *NodePoolWrapper) Consolidation(p carvev1.ConsolidationPolicy) *NodePoolWrapper {
	n.Spec.Disruption.Consolidation = p
	return n
}

// Budget sets the most nodes of the pool retiring at once.
func (n *NodePoolWrapper) Budget(b int32) *NodePoolWrapper {
	n.Spec.Disruption.Budget = ptr.To(b)
	return n
}

// Price sets the pool's price per hour.
func (n *NodePoolWrapper) Price(q string) *NodePoolWrapper {
	n.Spec.PricePerHour = ptr.To(resource.MustParse(q))
	return n
}

// MakeNamespace builds a namespace, in workspace ws when ws is not empty, and
// in team when team is not empty.
func MakeNamespace(name, ws, team string) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	if ws != "" {
		ns.Labels[carvev1.LabelWorkspace] = ws
	}
	if team != "" {
		ns.Labels[carvev1.LabelTeam] = team
	}
	return ns
}

// Objects is an in-memory Lookup over carve objects (see podcontract.Lookup).
type Objects struct {
	Workspaces      map[string]*carvev1.Workspace
	Profiles        map[string]*carvev1.ResourceProfile
	NodePools       map[string]*carvev1.NodePool
	PriorityClasses map[string]*schedulingv1.PriorityClass
}

// NewObjects indexes the given objects by name.
func NewObjects(objs ...any) *Objects {
	o := &Objects{
		Workspaces: map[string]*carvev1.Workspace{},
		Profiles:   map[string]*carvev1.ResourceProfile{},
		NodePools:  map[string]*carvev1.NodePool{},

		PriorityClasses: map[string]*schedulingv1.PriorityClass{},
	}
	for _, obj := range objs {
		switch x := obj.(type) {
		case *carvev1.Workspace:
			o.Workspaces[x.Name] = x
		case *carvev1.ResourceProfile:
			o.Profiles[x.Name] = x
		case *carvev1.NodePool:
			o.NodePools[x.Name] = x
		case *schedulingv1.PriorityClass:
			o.PriorityClasses[x.Name] = x
		default:
			panic("testing.NewObjects: unexpected object")
		}
	}
	return o
}

func (o *Objects) Workspace(n string) (*carvev1.Workspace, bool) {
	w, ok := o.Workspaces[n]
	return w, ok
}

func (o *Objects) Profile(n string) (*carvev1.ResourceProfile, bool) {
	p, ok := o.Profiles[n]
	return p, ok
}

func (o *Objects) NodePool(n string) (*carvev1.NodePool, bool) {
	p, ok := o.NodePools[n]
	return p, ok
}

func (o *Objects) PriorityClass(n string) (*schedulingv1.PriorityClass, bool) {
	p, ok := o.PriorityClasses[n]
	return p, ok
}

func (o *Objects) GlobalDefaultPriorityClass() (*schedulingv1.PriorityClass, bool) {
	for _, p := range o.PriorityClasses {
		if p.GlobalDefault {
			return p, true
		}
	}
	return nil, false
}

// MakePriorityClass is a PriorityClass of value; preemption "" keeps the
// API's default (PreemptLowerPriority).
func MakePriorityClass(name string, value int32, preemption corev1.PreemptionPolicy, globalDefault bool) *schedulingv1.PriorityClass {
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value, GlobalDefault: globalDefault}
	if preemption == "" {
		preemption = corev1.PreemptLowerPriority
	}
	pc.PreemptionPolicy = &preemption
	return pc
}
