package workspacequeue

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// Metering: what each workspace pod requests, from the moment it is bound
// to a node until it ends, in resource-hours and money. A pod costs its
// requests at its node's per-resource rates: the node's NodePool
// pricePerHour split over the node's allocatable CPU, memory and GPUs in
// proportion to reference weights (OpenCost's default prices per core-hour,
// GiB-hour and GPU-hour), so that pods requesting the whole node cost
// exactly the node's price. Totals are kept per workspace, for the current
// calendar month (UTC) and as a bounded history of UTC days and earlier
// months, each split by team, project, profile and workload kind; the
// Workspace status persists all of them with the one instant they are
// complete up to (meteredUntil), from which a restarted scheduler meters
// running pods on, so nothing is counted twice, and what could be lost is
// bounded by the checkpoint interval (docs/metering.md).

// Reference weights: OpenCost's default prices, in dollars per core-hour,
// GiB-hour and GPU-hour. Only their ratios matter here: they split a node's
// price, they do not set it.
const (
	weightCPU    = 0.031611
	weightMemory = 0.004237
	weightGPU    = 0.95
)

// spend is resource-hours and money.
type spend struct {
	cpuHours, memGiBHours, gpuHours, cost float64
}

func (s spend) plus(o spend) spend {
	return spend{s.cpuHours + o.cpuHours, s.memGiBHours + o.memGiBHours, s.gpuHours + o.gpuHours, s.cost + o.cost}
}

// rates are a node's prices per unit-hour of each resource.
type rates struct {
	// pool is the node's NodePool, "" when the node has none.
	pool                 string
	cpu, memGiB, gpu     float64
	priced               bool
	nodePrice            float64
	allocCPU, allocMemGB float64
	allocGPU             float64
}

// ratesOf splits a node's hourly price over its allocatable.
func ratesOf(pool string, price float64, priced bool, alloc corev1.ResourceList) rates {
	r := rates{pool: pool, priced: priced, nodePrice: price}
	r.allocCPU = float64(alloc.Cpu().MilliValue()) / 1000
	r.allocMemGB = float64(alloc.Memory().Value()) / (1 << 30)
	for name, q := range alloc {
		if carvev1.IsGPUResource(name) {
			r.allocGPU += float64(q.Value())
		}
	}
	total := weightCPU*r.allocCPU + weightMemory*r.allocMemGB + weightGPU*r.allocGPU
	if !priced || total <= 0 {
		return r
	}
	// A resource the node has none of has no rate.
	rate := func(weight, alloc float64) float64 {
		if alloc <= 0 {
			return 0
		}
		return price * weight / total
	}
	r.cpu, r.memGiB, r.gpu = rate(weightCPU, r.allocCPU), rate(weightMemory, r.allocMemGB), rate(weightGPU, r.allocGPU)
	return r
}

// costOf is what req costs over hours at r, never more than the node.
func (r rates) costOf(req amounts, hours float64) spend {
	cpu := float64(req[resCPU]) / 1000 * hours
	mem := float64(req[resMemory]) / (1 << 30) * hours
	gpu := float64(req[resGPU]) * hours
	cost := cpu*r.cpu + mem*r.memGiB + gpu*r.gpu
	if r.priced {
		cost = math.Min(cost, r.nodePrice*hours)
	}
	return spend{cpuHours: cpu, memGiBHours: mem, gpuHours: gpu, cost: cost}
}

// run is a bound workspace pod being metered.
type run struct {
	workspace, team, project, profile, kind string
	node                                    string
	req                                     amounts
	// bound is when the pod was bound; since is how far it is metered.
	bound, since time.Time
	// resized are spans at earlier requests (in-place resizes) not added
	// to the totals yet: running pods are added only at checkpoints, so
	// the persisted totals hold every running pod exactly up to
	// meteredUntil.
	resized []span
}

// span is a pod's requests over an interval.
type span struct {
	req      amounts
	from, to time.Time
}

// History kept: the current UTC day and historyDays before it, the current
// month and historyMonths before it.
const (
	historyDays   = carvev1.SpendHistoryDays
	historyMonths = carvev1.SpendHistoryMonths
)

// scopes are the splits of a period's totals.
var scopes = [...]string{"team", "project", "profile", "kind"}

// historyMost is how many names a history period lists of each split (the
// API's MaxItems), carvev1.OtherSpend included.
var historyMost = map[string]int{"team": 16, "project": 32, "profile": 16, "kind": 8}

// wsSpend is one workspace's totals: of the current month, of the days and
// months of its history, and of the current day and week by budget key
// (for budgets).
type wsSpend struct {
	// period is the current month: the latest one counted or checkpointed.
	period string
	// until is the instant up to which every running pod is counted, in
	// every period alike.
	until time.Time
	// months and days are the totals by month ("2026-12") and UTC day
	// ("2026-12-03"), the current ones included; none older than the
	// history kept.
	months, days map[string]*totals
	// short are the day's and the week's, by budget key.
	short [2]shortSpend
}

// totals are one period's.
type totals struct {
	total spend
	by    map[string]map[string]spend // "team", "project", "profile", "kind" → name → spend
}

func newTotals() *totals {
	t := &totals{by: map[string]map[string]spend{}}
	for _, sc := range scopes {
		t.by[sc] = map[string]spend{}
	}
	return t
}

// empty is whether nothing was counted in the period.
func (t *totals) empty() bool {
	for _, by := range t.by {
		if len(by) > 0 {
			return false
		}
	}
	return t.total == spend{}
}

// add adds a run's use to the total and its splits; a pod without a team is
// in no team, one without a profile or kind under "none".
func (t *totals) add(r *run, s spend) {
	t.total = t.total.plus(s)
	for i, key := range [...]string{r.team, r.project, r.profile, r.kind} {
		if key == "" {
			if i == 0 {
				continue
			}
			key = "none"
		}
		t.by[scopes[i]][key] = t.by[scopes[i]][key].plus(s)
	}
}

// list is a split as the status shows it, by name. With most > 0 it lists
// the most-1 names that cost most (then used most CPU, then by name) and
// sums the rest under carvev1.OtherSpend, so the split still adds up.
func (t *totals) list(scope string, most int) []carvev1.NamedSpend {
	by := t.by[scope]
	names := slices.Sorted(maps.Keys(by))
	if most > 0 && len(names) > most {
		names = slices.DeleteFunc(names, func(n string) bool { return n == carvev1.OtherSpend })
		slices.SortStableFunc(names, func(a, b string) int {
			x, y := by[a], by[b]
			if x.cost != y.cost {
				return cmpDesc(x.cost, y.cost)
			}
			return cmpDesc(x.cpuHours, y.cpuHours)
		})
		other := by[carvev1.OtherSpend]
		for _, n := range names[most-1:] {
			other = other.plus(by[n])
		}
		names = names[:most-1]
		by = maps.Clone(by)
		by[carvev1.OtherSpend] = other
		names = append(names, carvev1.OtherSpend)
		slices.Sort(names)
	}
	var out []carvev1.NamedSpend
	for _, name := range names {
		out = append(out, carvev1.NamedSpend{Name: name, SpendAmounts: formatSpend(by[name])})
	}
	return out
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// shortSpend is one day's or week's use, by budgetKey.
type shortSpend struct {
	name string
	by   map[string]spend
}

// Short periods: a UTC day, and a week from Monday 00:00 UTC.
const (
	periodDay = iota
	periodWeek
)

// shortPeriodOf is the day or week of t, and when it starts and ends.
func shortPeriodOf(kind int, t time.Time) (name string, start, end time.Time) {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if kind == periodDay {
		return day.Format("2006-01-02"), day, day.AddDate(0, 0, 1)
	}
	start = day.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7))
	return "week-" + start.Format("2006-01-02"), start, start.AddDate(0, 0, 7)
}

// budgetKey is the key of a scope in the short totals: "workspace",
// "team/<name>" or "project/<namespace>".
func budgetKey(scope carvev1.BudgetScope, name string) string {
	switch scope {
	case carvev1.BudgetTeam:
		return "team/" + name
	case carvev1.BudgetProject:
		return "project/" + name
	}
	return "workspace"
}

func newWSSpend(period string, until time.Time) *wsSpend {
	return &wsSpend{period: period, until: until, months: map[string]*totals{}, days: map[string]*totals{}}
}

// totalsIn is the totals of a month or day, made when missing.
func totalsIn(m map[string]*totals, name string) *totals {
	t := m[name]
	if t == nil {
		t = newTotals()
		m[name] = t
	}
	return t
}

// meter meters workspace pods. It is fed by the plugin's informers (start,
// resize, end) and a ticker (checkpoint); every method is safe for
// concurrent use.
type meter struct {
	mu sync.Mutex
	// budgets are the budgets' status, by workspace (set after each
	// checkpoint).
	budgets map[string][]carvev1.BudgetStatus
	now     func() time.Time
	ratesOf func(node string) rates
	running map[types.UID]*run
	ws      map[string]*wsSpend
	// accrued, when set, is told of every addition (for metrics).
	accrued func(r *run, rt rates, s spend)
}

func newMeter(now func() time.Time, ratesOf func(string) rates) *meter {
	return &meter{now: now, ratesOf: ratesOf, running: map[types.UID]*run{}, ws: map[string]*wsSpend{}}
}

// periodOf is the calendar month (UTC) of t, and when it starts and ends.
func periodOf(t time.Time) (name string, start, end time.Time) {
	t = t.UTC()
	start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return start.Format("2006-01"), start, start.AddDate(0, 1, 0)
}

// kept is the oldest month and day of the history kept as of now, and
// when that month starts: nothing before it is counted.
func kept(now time.Time) (month, day string, start time.Time) {
	_, monthStart, _ := periodOf(now)
	_, dayStart, _ := shortPeriodOf(periodDay, now)
	start = monthStart.AddDate(0, -historyMonths, 0)
	return start.Format("2006-01"), dayStart.AddDate(0, 0, -historyDays).Format("2006-01-02"), start
}

// prune forgets the months and days older than the history kept as of now.
func (s *wsSpend) prune(now time.Time) {
	month, day, _ := kept(now)
	maps.DeleteFunc(s.months, func(name string, _ *totals) bool { return name < month })
	maps.DeleteFunc(s.days, func(name string, _ *totals) bool { return name < day })
}

// boundAt is when a pod was bound: its PodScheduled condition's transition
// to True, or else now.
func boundAt(pod *corev1.Pod, now time.Time) time.Time {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
			if t := c.LastTransitionTime.Time; t.Before(now) {
				return t
			}
		}
	}
	return now
}

// endedAt is when a finished pod's last container ended, or now.
func endedAt(pod *corev1.Pod, now time.Time) time.Time {
	if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
		return now
	}
	var last time.Time
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && t.FinishedAt.After(last) {
			last = t.FinishedAt.Time
		}
	}
	if last.IsZero() || last.After(now) {
		return now
	}
	return last
}

// observe meters a bound workspace pod of the given identity; a pod whose
// requests changed (an in-place resize) is metered at the old requests up
// to now.
func (m *meter) observe(pod *corev1.Pod, id identity) {
	if pod.Spec.NodeName == "" || id.workspace == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	req := requestOf(pod)
	if r, ok := m.running[pod.UID]; ok {
		if r.req != req {
			r.resized = append(r.resized, span{req: r.req, from: r.since, to: now})
			r.since, r.req = now, req
		}
		return
	}
	r := &run{
		workspace: id.workspace, team: id.team, project: pod.Namespace,
		profile: pod.Labels[carvev1.LabelProfile], kind: pod.Labels[carvev1.LabelWorkload],
		node: pod.Spec.NodeName, req: req, bound: boundAt(pod, now),
	}
	r.since = r.bound
	if s := m.ws[r.workspace]; s != nil && r.since.Before(s.until) {
		// Counted up to there already (before a restart).
		r.since = s.until
	}
	if _, _, start := kept(now); r.since.Before(start) {
		// Nothing older is kept.
		r.since = start
	}
	m.running[pod.UID] = r
}

// end meters a pod up to its end and stops metering it.
func (m *meter) end(pod *corev1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.running[pod.UID]
	if !ok {
		return
	}
	m.accrue(r, endedAt(pod, m.now()))
	delete(m.running, pod.UID)
}

// checkpoint meters every running pod up to now (to the second), so that
// the totals are complete up to then.
func (m *meter) checkpoint() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().Truncate(time.Second)
	for _, r := range m.running {
		m.accrue(r, now)
	}
	name, _, _ := periodOf(now)
	for _, s := range m.ws {
		if name > s.period {
			// A new month starts from nothing; the last one is history.
			s.period = name
			totalsIn(s.months, name)
		}
		if now.After(s.until) {
			s.until = now
		}
		s.prune(now)
	}
}

// accrue adds r's use up to to: its spans at earlier requests, then its
// current requests from r.since.
func (m *meter) accrue(r *run, to time.Time) {
	for _, sp := range r.resized {
		m.add(r, sp.req, sp.from, sp.to)
	}
	r.resized = nil
	if r.since.Before(to) {
		m.add(r, r.req, r.since, to)
		r.since = to
	}
}

// add adds req over [from, to] to r's workspace, split at day ends (and so
// at month ends): each month's, week's and day's use goes to that period,
// and periods older than the history kept are not kept.
func (m *meter) add(r *run, req amounts, from, to time.Time) {
	rt := m.ratesOf(r.node)
	oldestMonth, oldestDay, oldest := kept(m.now())
	for from.Before(to) {
		name, _, _ := periodOf(from)
		day, _, dayEnd := shortPeriodOf(periodDay, from)
		step := to
		if dayEnd.Before(step) {
			step = dayEnd
		}
		s := m.ws[r.workspace]
		if s == nil {
			// Nothing is counted before the history kept, so every
			// running pod is counted up to its start.
			s = newWSSpend(name, oldest)
			m.ws[r.workspace] = s
		}
		if name > s.period {
			s.period = name
		}
		add := rt.costOf(req, step.Sub(from).Hours())
		if name >= oldestMonth {
			totalsIn(s.months, name).add(r, add)
			if m.accrued != nil {
				m.accrued(r, rt, add)
			}
		}
		if day >= oldestDay {
			totalsIn(s.days, day).add(r, add)
		}
		keys := []string{"workspace", "project/" + r.project}
		if r.team != "" {
			keys = append(keys, "team/"+r.team)
		}
		for kind := range s.short {
			short := &s.short[kind]
			pname, _, _ := shortPeriodOf(kind, from)
			if pname < short.name {
				continue
			}
			if pname > short.name {
				*short = shortSpend{name: pname, by: map[string]spend{}}
			}
			for _, k := range keys {
				short.by[k] = short.by[k].plus(add)
			}
		}
		from = step
	}
}

// used is what a budget's scope used in the budget's period as of now.
func (m *meter) used(workspace string, b carvev1.Budget, project string, now time.Time) spend {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.ws[workspace]
	if s == nil {
		return spend{}
	}
	name := b.Name
	if b.Scope == carvev1.BudgetProject && name == "" {
		name = project
	}
	switch b.Period {
	case carvev1.BudgetDay, carvev1.BudgetWeek:
		kind := periodDay
		if b.Period == carvev1.BudgetWeek {
			kind = periodWeek
		}
		pname, _, _ := shortPeriodOf(kind, now)
		if s.short[kind].name != pname {
			return spend{}
		}
		return s.short[kind].by[budgetKey(b.Scope, name)]
	default:
		pname, _, _ := periodOf(now)
		t := s.months[pname]
		if t == nil {
			return spend{}
		}
		switch b.Scope {
		case carvev1.BudgetTeam:
			return t.by["team"][name]
		case carvev1.BudgetProject:
			return t.by["project"][name]
		}
		return t.total
	}
}

// projects lists the projects that used anything this month.
func (m *meter) projects(workspace string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.ws[workspace]
	if s == nil || s.months[s.period] == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s.months[s.period].by["project"]))
}

// seed takes a workspace's totals as its status persists them: those of its
// month and of its history, all complete up to meteredUntil. Running pods
// are metered on from there (into the periods they ran in, an earlier month
// included); what this process counted of them before is dropped, so the
// persisted totals are never counted twice.
//
// It takes them only when they are newer than what the meter has: at start
// (the meter has nothing), or when another replica led and metered since.
func (m *meter) seedNewer(workspace string, st *carvev1.WorkspaceSpend, budgets []carvev1.BudgetStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st == nil || !validPeriod(st.Period, "2006-01") {
		return
	}
	if cur := m.ws[workspace]; cur != nil && !st.MeteredUntil.After(cur.until) {
		return
	}
	s := newWSSpend(st.Period, st.MeteredUntil.Time)
	for _, p := range st.Months {
		if validPeriod(p.Period, "2006-01") && p.Period < st.Period {
			s.months[p.Period] = parseTotals(p.Total, p.Teams, p.Projects, p.Profiles, p.Kinds)
		}
	}
	for _, p := range st.Days {
		if validPeriod(p.Period, "2006-01-02") {
			s.days[p.Period] = parseTotals(p.Total, p.Teams, p.Projects, p.Profiles, p.Kinds)
		}
	}
	s.months[st.Period] = parseTotals(st.Total, st.Teams, st.Projects, st.Profiles, st.Kinds)
	s.prune(m.now())
	for _, b := range budgets {
		kind := periodDay
		switch b.Period {
		case carvev1.BudgetWeek:
			kind = periodWeek
		case carvev1.BudgetDay:
		default:
			continue
		}
		pname, start, _ := shortPeriodOf(kind, m.now())
		if !b.PeriodStart.Time.Equal(start) {
			continue
		}
		short := &s.short[kind]
		if short.name != pname {
			*short = shortSpend{name: pname, by: map[string]spend{}}
		}
		k := budgetKey(b.Scope, b.Name)
		v, err := strconv.ParseFloat(b.Used, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			continue
		}
		cur := short.by[k]
		switch b.Unit {
		case "cpuHours":
			cur.cpuHours = v
		case "gpuHours":
			cur.gpuHours = v
		case "cost":
			cur.cost = v
		}
		short.by[k] = cur
	}
	m.ws[workspace] = s
	for _, r := range m.running {
		if r.workspace == workspace {
			r.since, r.resized = r.bound, nil
			if r.since.Before(s.until) {
				r.since = s.until
			}
		}
	}
}

// setBudgets records a workspace's budgets' status.
func (m *meter) setBudgets(workspace string, st []carvev1.BudgetStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.budgets == nil {
		m.budgets = map[string][]carvev1.BudgetStatus{}
	}
	if st == nil {
		delete(m.budgets, workspace)
		return
	}
	m.budgets[workspace] = st
}

// budgetsOf is a workspace's budgets' status.
func (m *meter) budgetsOf(workspace string) []carvev1.BudgetStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.budgets[workspace]
}

// drop forgets a deleted workspace's totals; a Workspace created again with
// the name starts from nothing.
func (m *meter) drop(workspace string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.ws, workspace)
	delete(m.budgets, workspace)
}

// report is a workspace's totals as its status shows them; nil when
// nothing was metered.
func (m *meter) report(workspace string) *carvev1.WorkspaceSpend {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.ws[workspace]
	if s == nil {
		return nil
	}
	cur := s.months[s.period]
	if cur == nil {
		cur = newTotals()
	}
	out := &carvev1.WorkspaceSpend{Period: s.period, Total: formatSpend(cur.total)}
	// Checkpoints are at whole seconds, which is what the API keeps.
	out.MeteredUntil.Time = s.until.UTC()
	out.Teams, out.Projects, out.Profiles, out.Kinds = cur.list("team", 0), cur.list("project", 0), cur.list("profile", 0), cur.list("kind", 0)
	oldestMonth, oldestDay, _ := kept(m.now())
	history := func(m map[string]*totals, oldest, before string) []carvev1.PeriodSpend {
		var out []carvev1.PeriodSpend
		for _, name := range slices.Sorted(maps.Keys(m)) {
			t := m[name]
			if name < oldest || (before != "" && name >= before) || t.empty() {
				// A month a checkpoint opened that no pod ran in has
				// nothing to say.
				continue
			}
			out = append(out, carvev1.PeriodSpend{Period: name, Total: formatSpend(t.total),
				Teams: t.list("team", historyMost["team"]), Projects: t.list("project", historyMost["project"]),
				Profiles: t.list("profile", historyMost["profile"]), Kinds: t.list("kind", historyMost["kind"])})
		}
		return out
	}
	out.Days, out.Months = history(s.days, oldestDay, ""), history(s.months, oldestMonth, s.period)
	return out
}

// Hours are written to 1e-6 h (3.6 ms), money to 1e-6 of its unit.
func formatSpend(s spend) carvev1.SpendAmounts {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
	return carvev1.SpendAmounts{CPUHours: f(s.cpuHours), MemoryGiBHours: f(s.memGiBHours), GPUHours: f(s.gpuHours), Cost: f(s.cost)}
}

// parseTotals reads one period's totals as the status persists them.
func parseTotals(total carvev1.SpendAmounts, splits ...[]carvev1.NamedSpend) *totals {
	t := newTotals()
	t.total = parseSpend(total)
	for i, list := range splits {
		for _, n := range list {
			t.by[scopes[i]][n.Name] = parseSpend(n.SpendAmounts)
		}
	}
	return t
}

// validPeriod is whether name is a month or day in layout, as the meter
// writes them.
func validPeriod(name, layout string) bool {
	t, err := time.Parse(layout, name)
	return err == nil && t.Format(layout) == name
}

func parseSpend(a carvev1.SpendAmounts) spend {
	p := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return 0
		}
		return v
	}
	return spend{cpuHours: p(a.CPUHours), memGiBHours: p(a.MemoryGiBHours), gpuHours: p(a.GPUHours), cost: p(a.Cost)}
}
