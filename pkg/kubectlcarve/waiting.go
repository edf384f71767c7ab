package kubectlcarve

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Scope is the quota a waiting pod waits for.
type Scope string

const (
	// ScopeWorkspace is the workspace's own quota (spec.quota).
	ScopeWorkspace Scope = "workspace"
	// ScopeTeam is a team's quota (spec.teamQuotas).
	ScopeTeam Scope = "team"
	// ScopeProject is one namespace's quota (spec.projectQuota).
	ScopeProject Scope = "project"
	// ScopeNamespace is no quota: carve-scheduler has not seen the pod's
	// namespace yet, so it does not know the pod's workspace.
	ScopeNamespace Scope = "namespace"
)

// Waiting is what the message of carve-scheduler's carve.dev/Admitted=False
// condition (reason WaitingForQuota or OverBudget) says. The scheduler
// writes it from one format (pkg/scheduler/workspacequeue, verdict.message),
// e.g.
//
//	waiting for the project quota of namespace ml-alice in workspace ml-team: needs cpu 1, 2/2 in use; 1st in queue
//	waiting for the daily budget of team vision in workspace ml-team: 40/40 gpuHours used; it resets at 2026-12-05 00:00 UTC; running pods keep running
type Waiting struct {
	// Scope is the quota that is short.
	Scope Scope `json:"scope"`
	// Workspace is the pod's workspace; empty for ScopeNamespace.
	Workspace string `json:"workspace,omitempty"`
	// Team is the team of a ScopeTeam quota.
	Team string `json:"team,omitempty"`
	// Namespace is the project of a ScopeProject quota, or the namespace
	// carve-scheduler has not seen (ScopeNamespace).
	Namespace string `json:"namespace,omitempty"`
	// Resource is the resource that is short: cpu, memory, gpu or pods.
	Resource string `json:"resource,omitempty"`
	// Need is what the pod asks of Resource, as the scheduler wrote it
	// (a quantity: "1", "500m", "2Gi").
	Need string `json:"need,omitempty"`
	// InUse and Quota are that quota's use and cap of Resource.
	InUse string `json:"inUse,omitempty"`
	Quota string `json:"quota,omitempty"`
	// NeverFits is true when Need is more than the whole Quota: the pod
	// waits until an admin raises it (InUse is then not said).
	NeverFits bool `json:"neverFits,omitempty"`
	// Position is the pod's 1-based place in its workspace's queue; 0 when
	// the message gives none (a pod that never fits, ScopeNamespace, a
	// budget).
	Position int `json:"position,omitempty"`
	// Budget is the spent budget the pod waits for (reason OverBudget);
	// Resource, Need, InUse and Quota are then empty.
	Budget *BudgetWait `json:"budget,omitempty"`
	// ExpectedStart is carve-scheduler's estimate of when the pod starts
	// (to 5 minutes), StartsSoon that it expects it within minutes; both
	// unset when the message gives no estimate.
	ExpectedStart *metav1.Time `json:"expectedStart,omitempty"`
	StartsSoon    bool         `json:"startsSoon,omitempty"`
}

// Expected is the estimate as a table shows it: "within minutes",
// "2026-12-04 15:10 UTC", or "".
func (w Waiting) Expected() string {
	switch {
	case w.StartsSoon:
		return "within minutes"
	case w.ExpectedStart != nil:
		return w.ExpectedStart.UTC().Format(resetLayout) + " UTC"
	}
	return ""
}

// BudgetWait is a spent budget of the pod's workspace, team or project.
type BudgetWait struct {
	// Period is the budget's: Day, Week or Month.
	Period string `json:"period"`
	// Unit is what it counts: cpuHours, gpuHours or cost.
	Unit string `json:"unit"`
	// Used and Limit are decimals in Unit, used rounded to 2 places.
	Used  string `json:"used"`
	Limit string `json:"limit"`
	// ResetsAt is when the period ends and the pod may start (to the
	// minute, as the message says it).
	ResetsAt metav1.Time `json:"resetsAt"`
}

// periodWords are the budget periods as the message says them.
var periodWords = map[string]string{"daily": "Day", "weekly": "Week", "monthly": "Month"}

// resetLayout is how the message writes a budget's reset time, in UTC.
const resetLayout = "2006-01-02 15:04"

// Names are DNS labels or label values and amounts are quantities: neither
// has spaces, and the separators of the format (":" after a name, "," and
// ";" after an amount, "/" between two) appear in none of them.
const (
	namePat   = `([^\s:;,/]+)`
	amountPat = `([^\s,;/]+)`
	// decimalPat is a budget's amount: "40", "0.5", "12.34".
	decimalPat = `((?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])?)`
)

var (
	waitingRE = regexp.MustCompile(`^waiting for (?:workspace ` + namePat + ` quota|team ` + namePat + ` quota in workspace ` + namePat +
		`|the project quota of namespace ` + namePat + ` in workspace ` + namePat + `): needs (cpu|memory|gpu|pods) ` + amountPat +
		`(?:, more than the whole quota of ` + amountPat + `: ask an admin to raise it or pick a smaller profile` +
		`|, ` + amountPat + `/` + amountPat + ` in use(?:; ([1-9][0-9]{0,8})(st|nd|rd|th) in queue)?` +
		`(?:; expected to start (?:(within minutes)|around ([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}) UTC))?)$`)
	budgetRE = regexp.MustCompile(`^waiting for the (daily|weekly|monthly) budget of (?:workspace ` + namePat + `|team ` + namePat + ` in workspace ` + namePat +
		`|namespace ` + namePat + ` in workspace ` + namePat + `): ` + decimalPat + `/` + decimalPat + ` (cpuHours|gpuHours|cost) used; it resets at ` +
		`([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}) UTC; running pods keep running$`)
	unseenRE = regexp.MustCompile(`^waiting for carve-scheduler to see namespace ` + namePat + `, which tells the pod's workspace; this takes a moment$`)
)

// ParseWaiting reads a carve.dev/Admitted=False message. ok is false for a
// message of another format (another carve version, or not carve's): the
// caller then shows the message as it is.
func ParseWaiting(msg string) (w Waiting, ok bool) {
	if m := unseenRE.FindStringSubmatch(msg); m != nil {
		return Waiting{Scope: ScopeNamespace, Namespace: m[1]}, true
	}
	if m := budgetRE.FindStringSubmatch(msg); m != nil {
		return parseBudget(m)
	}
	m := waitingRE.FindStringSubmatch(msg)
	if m == nil {
		return Waiting{}, false
	}
	switch {
	case m[1] != "":
		w = Waiting{Scope: ScopeWorkspace, Workspace: m[1]}
	case m[2] != "":
		w = Waiting{Scope: ScopeTeam, Team: m[2], Workspace: m[3]}
	default:
		w = Waiting{Scope: ScopeProject, Namespace: m[4], Workspace: m[5]}
	}
	w.Resource, w.Need = m[6], m[7]
	if m[8] != "" {
		w.NeverFits, w.Quota = true, m[8]
		return w, true
	}
	w.InUse, w.Quota = m[9], m[10]
	if m[11] != "" {
		n, err := strconv.Atoi(m[11])
		if err != nil || ordinalSuffix(n) != m[12] {
			return Waiting{}, false
		}
		w.Position = n
	}
	switch {
	case m[13] != "":
		w.StartsSoon = true
	case m[14] != "":
		at, err := time.Parse(resetLayout, m[14])
		if err != nil {
			return Waiting{}, false
		}
		t := metav1.NewTime(at.UTC())
		w.ExpectedStart = &t
	}
	return w, true
}

// parseBudget reads budgetRE's submatches.
func parseBudget(m []string) (Waiting, bool) {
	var w Waiting
	switch {
	case m[2] != "":
		w = Waiting{Scope: ScopeWorkspace, Workspace: m[2]}
	case m[3] != "":
		w = Waiting{Scope: ScopeTeam, Team: m[3], Workspace: m[4]}
	default:
		w = Waiting{Scope: ScopeProject, Namespace: m[5], Workspace: m[6]}
	}
	resets, err := time.Parse(resetLayout, m[10])
	if err != nil {
		return Waiting{}, false
	}
	w.Budget = &BudgetWait{Period: periodWords[m[1]], Unit: m[9], Used: m[7], Limit: m[8], ResetsAt: metav1.NewTime(resets)}
	return w, true
}

// BudgetName says which budget, e.g. "the daily cost budget of team vision
// in workspace ml-team".
func (w Waiting) BudgetName() string {
	if w.Budget == nil {
		return ""
	}
	return fmt.Sprintf("the %s %s budget of %s", periodWord(w.Budget.Period), w.Budget.Unit, w.whose())
}

func (w Waiting) whose() string {
	switch w.Scope {
	case ScopeTeam:
		return fmt.Sprintf("team %s in workspace %s", w.Team, w.Workspace)
	case ScopeProject:
		return fmt.Sprintf("namespace %s in workspace %s", w.Namespace, w.Workspace)
	}
	return "workspace " + w.Workspace
}

// periodWord is "daily" for Day.
func periodWord(period string) string {
	for word, p := range periodWords {
		if p == period {
			return word
		}
	}
	return period
}

// Resets is when a budget resets, as the message writes it.
func (b *BudgetWait) Resets() string { return b.ResetsAt.UTC().Format(resetLayout) + " UTC" }

// QuotaName says which quota, e.g. "the project quota of namespace ml-alice".
func (w Waiting) QuotaName() string {
	switch w.Scope {
	case ScopeWorkspace:
		return "the quota of workspace " + w.Workspace
	case ScopeTeam:
		return fmt.Sprintf("the quota of team %s in workspace %s", w.Team, w.Workspace)
	case ScopeProject:
		return "the project quota of namespace " + w.Namespace
	}
	return ""
}

// Short is the quota part in a few words, for a table cell:
// "project ml-alice: cpu 2/2 in use".
func (w Waiting) Short() string {
	var scope string
	switch w.Scope {
	case ScopeNamespace:
		return "namespace " + w.Namespace + " not seen by carve-scheduler yet"
	case ScopeWorkspace:
		scope = "workspace"
	case ScopeTeam:
		scope = "team " + w.Team
	case ScopeProject:
		scope = "project " + w.Namespace
	}
	if b := w.Budget; b != nil {
		return fmt.Sprintf("%s: %s %s budget %s/%s used, resets %s", scope, periodWord(b.Period), b.Unit, b.Used, b.Limit, b.Resets())
	}
	if w.NeverFits {
		return fmt.Sprintf("%s: %s %s > quota %s, never fits", scope, w.Resource, w.Need, w.Quota)
	}
	return fmt.Sprintf("%s: %s %s/%s in use", scope, w.Resource, w.InUse, w.Quota)
}

// ordinalSuffix is the English suffix of n as the scheduler writes it.
func ordinalSuffix(n int) string {
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			return "st"
		case 2:
			return "nd"
		case 3:
			return "rd"
		}
	}
	return "th"
}

// ordinal writes n as the scheduler does: 1st, 2nd, 11th.
func ordinal(n int) string { return strconv.Itoa(n) + ordinalSuffix(n) }
