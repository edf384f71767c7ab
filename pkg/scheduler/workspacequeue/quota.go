package workspacequeue

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// res indexes the resources a Quota caps.
type res int

const (
	resCPU res = iota
	resMemory
	resGPU
	resPods
	numRes
)

var resNames = [numRes]string{"cpu", "memory", "gpu", "pods"}

// amounts is an amount of each capped resource: milli-CPU, bytes of memory,
// GPUs and pods.
type amounts [numRes]int64

func (a amounts) plus(b amounts) amounts {
	for i := range a {
		a[i] += b[i]
	}
	return a
}

func (a amounts) minus(b amounts) amounts {
	for i := range a {
		a[i] -= b[i]
	}
	return a
}

// limit is a Quota as numbers: has[r] is false where the quota leaves r
// uncapped.
type limit struct {
	has [numRes]bool
	max amounts
}

// limitOf converts a Quota; a nil Quota caps nothing.
func limitOf(q *carvev1.Quota) limit {
	var l limit
	if q == nil {
		return l
	}
	set := func(r res, v int64) { l.has[r], l.max[r] = true, v }
	if q.CPU != nil {
		set(resCPU, q.CPU.MilliValue())
	}
	if q.Memory != nil {
		set(resMemory, q.Memory.Value())
	}
	if q.GPU != nil {
		set(resGPU, q.GPU.Value())
	}
	if q.Pods != nil {
		set(resPods, int64(*q.Pods))
	}
	return l
}

// requestOf is what a pod holds against quota: its effective requests as
// Kubernetes computes them (pod-level resources when set, sidecars and init
// containers included), the larger of desired and allocated during an
// in-place resize, its GPUs of any vendor (a MIG slice counts as one), and
// one pod.
func requestOf(pod *corev1.Pod) amounts {
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{
		UseStatusResources: true,
		InPlacePodLevelResourcesVerticalScalingEnabled: true,
	})
	var a amounts
	a[resCPU] = reqs.Cpu().MilliValue()
	a[resMemory] = reqs.Memory().Value()
	for name, q := range reqs {
		if carvev1.IsGPUResource(name) {
			a[resGPU] += q.Value()
		}
	}
	a[resPods] = 1
	return a
}

// shortfall names the first resource on which used+req exceeds l, or -1
// when the request fits.
func (l limit) shortfall(used, req amounts) res {
	for r := range numRes {
		if l.has[r] && req[r] > 0 && used[r]+req[r] > l.max[r] {
			return r
		}
	}
	return -1
}

// share is the dominant share of used in l: the largest fraction of any
// capped resource that used holds. Uncapped or zero-capped resources do not
// count (a zero cap admits nothing that needs the resource, so nobody holds
// a share of it).
func (l limit) share(used amounts) float64 {
	s := 0.0
	for r := range numRes {
		if l.has[r] && l.max[r] > 0 {
			if f := float64(used[r]) / float64(l.max[r]); f > s {
				s = f
			}
		}
	}
	return s
}

// scope is where a quota applies: the whole workspace, one team, or one
// project (namespace). scopeNamespace is no quota: the pod waits until the
// plugin has seen its namespace and knows which workspace it is in.
type scope int

const (
	scopeWorkspace scope = iota
	scopeTeam
	scopeProject
	scopeNamespace
)

// verdict is the quota decision for one pod.
type verdict struct {
	// admit is true when every quota has room for the pod.
	admit bool
	// scope, name and r say which quota is short (name is the team or
	// project) when admit is false.
	scope scope
	name  string
	r     res
	// used and max are that quota's use and cap of r, and need the pod's
	// request of r.
	used, max, need int64
	// budget, when set, says the pod waits because a budget of scope is
	// spent (used and max are then in millionths of its unit).
	budget *budgetHold
}

// budgetHold is a spent budget: which, and when it resets. It is compared
// by value, so a verdict's reason changes only when the budget does.
type budgetHold struct {
	period carvev1.BudgetPeriod
	unit   string
	resets time.Time
}

// reason is the pod condition's reason for a waiting pod.
func (v verdict) reason() string {
	if v.budget != nil {
		return carvev1.ReasonOverBudget
	}
	return carvev1.ReasonWaitingForQuota
}

// usage is what one workspace holds: in total, per team and per project.
type usage struct {
	total   amounts
	team    map[string]amounts
	project map[string]amounts
}

func newUsage() usage {
	return usage{team: map[string]amounts{}, project: map[string]amounts{}}
}

// clone is a copy of u that shares no map with it.
func (u usage) clone() usage {
	c := usage{total: u.total, team: make(map[string]amounts, len(u.team)), project: make(map[string]amounts, len(u.project))}
	for k, v := range u.team {
		c.team[k] = v
	}
	for k, v := range u.project {
		c.project[k] = v
	}
	return c
}

func (u *usage) add(team, project string, a amounts) {
	u.total = u.total.plus(a)
	if team != "" {
		u.team[team] = u.team[team].plus(a)
	}
	u.project[project] = u.project[project].plus(a)
}

func (u *usage) sub(team, project string, a amounts) {
	u.total = u.total.minus(a)
	if team != "" {
		if t := u.team[team].minus(a); t == (amounts{}) {
			delete(u.team, team)
		} else {
			u.team[team] = t
		}
	}
	if p := u.project[project].minus(a); p == (amounts{}) {
		delete(u.project, project)
	} else {
		u.project[project] = p
	}
}

// quotas is a Workspace's quotas as numbers.
type quotas struct {
	workspace limit
	team      map[string]limit
	project   limit
	policy    carvev1.QueueingPolicy
}

func quotasOf(ws *carvev1.Workspace) quotas {
	q := quotas{
		workspace: limitOf(ws.Spec.Quota),
		team:      map[string]limit{},
		project:   limitOf(ws.Spec.ProjectQuota),
		policy:    ws.Spec.Queueing.Policy,
	}
	for _, t := range ws.Spec.TeamQuotas {
		q.team[t.Team] = limitOf(&t.Quota)
	}
	if q.policy == "" {
		q.policy = carvev1.QueueingFairShare
	}
	return q
}

// decide is the quota decision for a pod of team and project needing req,
// given what the workspace holds: admit when the workspace, the team (if it
// has a quota) and the project all have room.
func decide(q quotas, u usage, team, project string, req amounts) verdict {
	check := func(l limit, used amounts, s scope, name string) (verdict, bool) {
		r := l.shortfall(used, req)
		if r < 0 {
			return verdict{}, true
		}
		return verdict{scope: s, name: name, r: r, used: used[r], max: l.max[r], need: req[r]}, false
	}
	if v, ok := check(q.workspace, u.total, scopeWorkspace, ""); !ok {
		return v
	}
	if tl, found := q.team[team]; found && team != "" {
		if v, ok := check(tl, u.team[team], scopeTeam, team); !ok {
			return v
		}
	}
	if v, ok := check(q.project, u.project[project], scopeProject, project); !ok {
		return v
	}
	return verdict{admit: true}
}

// format writes n of resource r the way a user reads it: CPUs in cores,
// memory in binary units, GPUs and pods as counts.
func format(r res, n int64) string {
	switch r {
	case resCPU:
		return resource.NewMilliQuantity(n, resource.DecimalSI).String()
	case resMemory:
		return resource.NewQuantity(n, resource.BinarySI).String()
	default:
		return fmt.Sprint(n)
	}
}

// message says why a pod waits, for the pod's condition and event: which
// quota, what the pod needs of the resource that is short, how much of it is
// in use, and the pod's place, e.g. "waiting for workspace ml-team quota:
// needs gpu 2, 3/4 in use; 3rd in queue".
func (v verdict) message(workspace string, position int) string {
	var b strings.Builder
	switch v.scope {
	case scopeNamespace:
		return fmt.Sprintf("waiting for carve-scheduler to see namespace %s, which tells the pod's workspace; this takes a moment", v.name)
	case scopeWorkspace:
		fmt.Fprintf(&b, "waiting for workspace %s quota", workspace)
	case scopeTeam:
		fmt.Fprintf(&b, "waiting for team %s quota in workspace %s", v.name, workspace)
	case scopeProject:
		fmt.Fprintf(&b, "waiting for the project quota of namespace %s in workspace %s", v.name, workspace)
	}
	if v.budget != nil {
		return v.budgetMessage(workspace)
	}
	name := resNames[v.r]
	fmt.Fprintf(&b, ": needs %s %s", name, format(v.r, v.need))
	if v.need > v.max {
		fmt.Fprintf(&b, ", more than the whole quota of %s: ask an admin to raise it or pick a smaller profile", format(v.r, v.max))
		return b.String()
	}
	fmt.Fprintf(&b, ", %s/%s in use", format(v.r, v.used), format(v.r, v.max))
	if position > 0 {
		fmt.Fprintf(&b, "; %s in queue", ordinal(position))
	}
	return b.String()
}

// budgetMessage says which budget is spent and when it resets, e.g.
// "waiting for the monthly budget of team vision in workspace ml: 400/400
// gpuHours used; it resets at 2027-01-01 00:00 UTC; running pods keep
// running".
func (v verdict) budgetMessage(workspace string) string {
	period := map[carvev1.BudgetPeriod]string{carvev1.BudgetDay: "daily", carvev1.BudgetWeek: "weekly", carvev1.BudgetMonth: "monthly"}[v.budget.period]
	var whose string
	switch v.scope {
	case scopeWorkspace:
		whose = "workspace " + workspace
	case scopeTeam:
		whose = "team " + v.name + " in workspace " + workspace
	default:
		whose = "namespace " + v.name + " in workspace " + workspace
	}
	return fmt.Sprintf("waiting for the %s budget of %s: %s/%s %s used; it resets at %s; running pods keep running",
		period, whose, micros(v.used), micros(v.max), v.budget.unit, v.budget.resets.UTC().Format("2006-01-02 15:04 MST"))
}

// micros writes millionths as a decimal with at most 2 places.
func micros(n int64) string {
	return twoPlaces(float64(n) / 1e6)
}

// twoPlaces writes v rounded to 2 decimal places, without trailing zeros.
func twoPlaces(v float64) string {
	out := strconv.FormatFloat(v, 'f', 2, 64)
	out = strings.TrimRight(out, "0")
	return strings.TrimSuffix(out, ".")
}

func ordinal(n int) string {
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return fmt.Sprintf("%d%s", n, suffix)
}
