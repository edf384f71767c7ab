package workspacequeue

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/scheduler/leader"
)

// Workspace status is the queue's accounting as a Workspace's users and
// admins read it (kubectl get ws): what is admitted and what waits, for the
// workspace, each team and each project. It is computed from the tracker,
// the numbers admission decides with, so it cannot disagree with what the
// queue does; only the lease holder writes it, each workspace at most once
// per wsStatusEvery, and only when it changed.

// wsStatusEvery is the least time between two writes of one workspace's
// status, and how often the writer looks for changes.
const wsStatusEvery = 2 * time.Second

// maxStatusProjects is the most projects a status lists (the CRD's
// MaxItems).
const maxStatusProjects = 1024

// wsReport is one workspace's accounting at one instant.
type wsReport struct {
	generation int64
	quotas     quotas
	used       usage
	// waiting counts waiting pods by team and by project; exhausted names
	// the quota short for each waiting pod, by scope.
	waiting int
	// forQuota and overBudget split the waiting pods by why they wait.
	forQuota, overBudget int
	waitingTeam          map[string]int
	waitingProject       map[string]int
	exhausted            map[scopeKey]map[res]verdict
	// projects are the workspace's namespaces and their teams.
	projects map[string]string
	// spend is what the meter has of the workspace this period, and
	// budgets how much of each budget is used.
	spend   *carvev1.WorkspaceSpend
	budgets []carvev1.BudgetStatus
}

type scopeKey struct {
	scope scope
	name  string
}

// report is the accounting of a workspace that has an object, or false.
func (t *tracker) report(workspace string) (wsReport, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.workspaces[workspace]
	if !ok || !w.known {
		return wsReport{}, false
	}
	r := wsReport{
		generation:     w.generation,
		quotas:         w.quotas,
		used:           w.used.clone(),
		waiting:        len(w.waiting),
		waitingTeam:    map[string]int{},
		waitingProject: map[string]int{},
		exhausted:      map[scopeKey]map[res]verdict{},
		projects:       map[string]string{},
	}
	for _, e := range w.waiting {
		if e.team != "" {
			r.waitingTeam[e.team]++
		}
		r.waitingProject[e.project]++
		v := t.decide(w, e)
		if v.admit {
			// Admitted by the next pass; nothing is short for it.
			continue
		}
		if v.budget != nil {
			r.overBudget++
			continue
		}
		r.forQuota++
		k := scopeKey{v.scope, v.name}
		if r.exhausted[k] == nil {
			r.exhausted[k] = map[res]verdict{}
		}
		if old, seen := r.exhausted[k][v.r]; !seen || v.need < old.need {
			r.exhausted[k][v.r] = v
		}
	}
	for ns, id := range t.namespaces {
		if id.workspace == workspace {
			r.projects[ns] = id.team
		}
	}
	return r, true
}

// usageOf writes amounts as a ResourceUsage.
func usageOf(a amounts) carvev1.ResourceUsage {
	return carvev1.ResourceUsage{
		CPU:    *resource.NewMilliQuantity(a[resCPU], resource.DecimalSI),
		Memory: *resource.NewQuantity(a[resMemory], resource.BinarySI),
		GPU:    *resource.NewQuantity(a[resGPU], resource.DecimalSI),
		Pods:   int32(a[resPods]),
	}
}

// quotaOf writes a limit back as a Quota; nil when it caps nothing.
func quotaOf(l limit) *carvev1.Quota {
	if l.has == [numRes]bool{} {
		return nil
	}
	q := &carvev1.Quota{}
	if l.has[resCPU] {
		q.CPU = resource.NewMilliQuantity(l.max[resCPU], resource.DecimalSI)
	}
	if l.has[resMemory] {
		q.Memory = resource.NewQuantity(l.max[resMemory], resource.BinarySI)
	}
	if l.has[resGPU] {
		q.GPU = resource.NewQuantity(l.max[resGPU], resource.DecimalSI)
	}
	if l.has[resPods] {
		q.Pods = new(int32(l.max[resPods]))
	}
	return q
}

// usedOf is "used/quota" of one resource, or "used" without a cap.
func usedOf(l limit, used amounts, r res) string {
	if !l.has[r] {
		return format(r, used[r])
	}
	return format(r, used[r]) + "/" + format(r, l.max[r])
}

// exhaustedNames lists the resources short in a scope, in resNames order.
func exhaustedNames(short map[res]verdict) []string {
	var out []string
	for r := range numRes {
		if _, ok := short[r]; ok {
			out = append(out, resNames[r])
		}
	}
	return out
}

// status is the Workspace status the report describes. Conditions carry no
// transition time; the writer keeps the one already written.
func (r wsReport) status() carvev1.WorkspaceStatus {
	st := carvev1.WorkspaceStatus{
		Admitted: usageOf(r.used.total),
		Waiting:  int32(r.waiting),
		Summary: carvev1.WorkspaceSummary{
			CPU:    usedOf(r.quotas.workspace, r.used.total, resCPU),
			Memory: usedOf(r.quotas.workspace, r.used.total, resMemory),
			GPU:    usedOf(r.quotas.workspace, r.used.total, resGPU),
		},
		Spend:              r.spend,
		Budgets:            r.budgets,
		ProjectCount:       int32(len(r.projects)),
		ObservedGeneration: r.generation,
	}

	if r.spend != nil {
		st.Summary.Spend = formatMoney(r.spend.Total.Cost)
	}

	teams := map[string]bool{}
	for name := range r.quotas.team {
		teams[name] = true
	}
	for _, team := range r.projects {
		if team != "" {
			teams[team] = true
		}
	}
	for name := range r.used.team {
		teams[name] = true
	}
	for name := range r.waitingTeam {
		teams[name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(teams)) {
		s := carvev1.ScopeStatus{Name: name, Admitted: usageOf(r.used.team[name]), Waiting: int32(r.waitingTeam[name]),
			Exhausted: exhaustedNames(r.exhausted[scopeKey{scopeTeam, name}])}
		if l, ok := r.quotas.team[name]; ok {
			s.Quota = quotaOf(l)
		}
		st.Teams = append(st.Teams, s)
	}

	projects := map[string]bool{}
	for ns := range r.projects {
		projects[ns] = true
	}
	for ns := range r.used.project {
		projects[ns] = true
	}
	for ns := range r.waitingProject {
		projects[ns] = true
	}
	names := slices.Sorted(maps.Keys(projects))
	if len(names) > maxStatusProjects {
		// Those holding or waiting for most; then by name.
		weight := func(ns string) int64 { return r.used.project[ns][resPods] + int64(r.waitingProject[ns]) }
		sort.SliceStable(names, func(i, j int) bool { return weight(names[i]) > weight(names[j]) })
		names = names[:maxStatusProjects]
		slices.Sort(names)
	}
	projectQuota := quotaOf(r.quotas.project)
	for _, ns := range names {
		st.Projects = append(st.Projects, carvev1.ScopeStatus{
			Name: ns, Team: r.projects[ns], Quota: projectQuota,
			Admitted: usageOf(r.used.project[ns]), Waiting: int32(r.waitingProject[ns]),
			Exhausted: exhaustedNames(r.exhausted[scopeKey{scopeProject, ns}]),
		})
	}

	cond := metav1.Condition{Type: carvev1.WorkspaceQuotaExhausted, ObservedGeneration: r.generation}
	if r.forQuota == 0 {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, carvev1.ReasonNoneWaiting, "no pod waits for quota"
	} else {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, carvev1.ReasonPodsWaiting, r.exhaustedMessage()
	}
	st.Conditions = []metav1.Condition{cond}
	if r.budgets != nil {
		st.Conditions = append(st.Conditions, overBudgetCondition(r.budgets, r.overBudget, r.generation))
	}
	return st
}

// overBudgetCondition says which budgets are spent, e.g. "the monthly
// gpuHours budget of team vision is spent (400/400) until 2027-01-01 00:00
// UTC; 3 pods wait for it".
func overBudgetCondition(budgets []carvev1.BudgetStatus, waiting int, generation int64) metav1.Condition {
	c := metav1.Condition{Type: carvev1.WorkspaceOverBudget, ObservedGeneration: generation,
		Status: metav1.ConditionFalse, Reason: carvev1.ReasonWithinBudget, Message: "no budget is spent"}
	var spent []string
	for _, b := range budgets {
		if !b.Spent {
			continue
		}
		whose := "the workspace"
		switch b.Scope {
		case carvev1.BudgetTeam:
			whose = "team " + b.Name
		case carvev1.BudgetProject:
			whose = "namespace " + b.Name
		}
		used, _ := strconv.ParseFloat(b.Used, 64)
		spent = append(spent, fmt.Sprintf("the %s %s budget of %s is spent (%s/%s) until %s",
			strings.ToLower(string(b.Period)), b.Unit, whose, twoPlaces(used), b.Limit, b.ResetsAt.UTC().Format("2006-01-02 15:04 MST")))
	}
	if len(spent) == 0 {
		return c
	}
	c.Status, c.Reason = metav1.ConditionTrue, carvev1.ReasonBudgetSpent
	if len(spent) > 5 {
		spent = append(spent[:5], fmt.Sprintf("and %d more", len(spent)-5))
	}
	c.Message = strings.Join(spent, "; ") + fmt.Sprintf("; %d pods wait for a budget", waiting)
	return c
}

// exhaustedMessage says how many pods wait and which quotas hold them, e.g.
// "3 pods wait for quota: workspace cpu 8/8 in use; team vision gpu 4/4 in
// use".
func (r wsReport) exhaustedMessage() string {
	var b strings.Builder
	if r.forQuota == 1 {
		b.WriteString("1 pod waits for quota")
	} else {
		fmt.Fprintf(&b, "%d pods wait for quota", r.forQuota)
	}
	keys := slices.SortedFunc(maps.Keys(r.exhausted), func(a, b scopeKey) int {
		if a.scope != b.scope {
			return int(a.scope) - int(b.scope)
		}
		return strings.Compare(a.name, b.name)
	})
	const most = 5
	for i, k := range keys {
		if i == most {
			fmt.Fprintf(&b, "; and %d more quotas", len(keys)-most)
			break
		}
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		switch k.scope {
		case scopeWorkspace:
			b.WriteString("workspace")
		case scopeTeam:
			b.WriteString("team " + k.name)
		case scopeProject:
			b.WriteString("namespace " + k.name)
		}
		sep := " "
		for rr := range numRes {
			if v, short := r.exhausted[k][rr]; short {
				fmt.Fprintf(&b, "%s%s %s/%s in use", sep, resNames[rr], format(rr, v.used), format(rr, v.max))
				sep = ", "
			}
		}
	}
	return b.String()
}

// wsStatusWriter writes the status of every Workspace the tracker knows.
type wsStatusWriter struct {
	client  dynamic.Interface
	tracker *tracker
	// meter, when set, gives the spend.
	meter *meter
	// store is the plugin's Workspace informer: what is written now.
	store   cache.Store
	limiter *rate.Limiter
	now     func() time.Time

	mu sync.Mutex
	// last is what this process last wrote, and when.
	last map[string]wsWritten
}

type wsWritten struct {
	uid    types.UID
	status carvev1.WorkspaceStatus
	at     time.Time
}

func newWSStatusWriter(client dynamic.Interface, t *tracker, store cache.Store, limiter *rate.Limiter) *wsStatusWriter {
	return &wsStatusWriter{client: client, tracker: t, store: store, limiter: limiter, now: time.Now, last: map[string]wsWritten{}}
}

func (s *wsStatusWriter) run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	t := time.NewTicker(wsStatusEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-leader.Changed():
		}
		if !leader.Leading() {
			// What a standby wrote, if it ever led, may be stale by the
			// time it leads again.
			s.mu.Lock()
			clear(s.last)
			s.mu.Unlock()
			continue
		}
		for _, name := range s.tracker.workspaceNames() {
			if err := s.write(ctx, name); err != nil {
				logger.V(2).Info("Could not write a Workspace's status", "workspace", name, "err", err)
			}
		}
	}
}

// write writes one workspace's status if it changed and was not written
// within wsStatusEvery.
func (s *wsStatusWriter) write(ctx context.Context, name string) error {
	r, ok := s.tracker.report(name)
	if !ok {
		return nil
	}
	if s.meter != nil {
		r.spend = s.meter.report(name)
		r.budgets = s.meter.budgetsOf(name)
	}
	obj, exists, err := s.store.GetByKey(name)
	if err != nil || !exists {
		return err
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return fmt.Errorf("workspace informer holds %T", obj)
	}
	var current carvev1.WorkspaceStatus
	if raw, found := u.Object["status"].(map[string]any); found {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &current); err != nil {
			return fmt.Errorf("reading the status of Workspace %s: %w", name, err)
		}
	}
	s.mu.Lock()
	last, wrote := s.last[name]
	s.mu.Unlock()
	wrote = wrote && last.uid == u.GetUID()
	want := r.status()
	now := s.now()
	if wrote {
		// The informer may not show this process's last write yet.
		keepTransitions(&want, last.status.Conditions, now)
	} else {
		keepTransitions(&want, current.Conditions, now)
	}
	if wrote {
		if equality.Semantic.DeepEqual(last.status, want) {
			return nil
		}
		if now.Sub(last.at) < wsStatusEvery {
			return nil
		}
	} else if equality.Semantic.DeepEqual(current, want) {
		// Written before (by this process before a restart, or by another
		// leader): nothing to do.
		s.mu.Lock()
		s.last[name] = wsWritten{uid: u.GetUID(), status: want, at: now}
		s.mu.Unlock()
		return nil
	}
	if !s.limiter.Allow() {
		return nil
	}
	body, err := json.Marshal(map[string]any{
		"apiVersion": carvev1.GroupVersion.String(),
		"kind":       "Workspace",
		"metadata":   map[string]any{"name": name, "uid": u.GetUID()},
		"status":     want,
	})
	if err != nil {
		return err
	}
	_, err = s.client.Resource(carvev1.GroupVersion.WithResource("workspaces")).Patch(ctx, name, types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: "carve-scheduler", Force: new(true)}, "status")
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Deleted, or replaced by a Workspace of the same name.
		return nil
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.last[name] = wsWritten{uid: u.GetUID(), status: want, at: now}
	s.mu.Unlock()
	return nil
}

// formatMoney rounds an amount of money to cents, e.g. "12.40".
func formatMoney(v string) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}

// keepTransitions sets each condition's transition time: the current one's
// when its status did not change, now otherwise.
func keepTransitions(want *carvev1.WorkspaceStatus, current []metav1.Condition, now time.Time) {
	for i := range want.Conditions {
		c := &want.Conditions[i]
		c.LastTransitionTime = metav1.NewTime(now.Truncate(time.Second))
		for _, old := range current {
			if old.Type == c.Type && old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
	}
}
