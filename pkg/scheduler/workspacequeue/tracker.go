package workspacequeue

import (
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// entry is one workspace pod the plugin knows: waiting for quota, or
// admitted (holding quota until it finishes or is deleted).
type entry struct {
	uid                      types.UID
	pod                      *corev1.Pod
	workspace, team, project string
	req                      amounts
	priority                 int32
	created                  time.Time
	// seen is when the plugin first met the pod; garbage collection spares
	// young entries the informer may not have caught up with.
	seen time.Time
	// started is when the pod was bound to a node (zero before).
	started  time.Time
	admitted bool
	// verdict is why a waiting pod waits.
	verdict verdict
	// class and index place a waiting pod in its workspace's class heaps
	// (classes.go).
	class class
	index int
}

// wsState is one workspace: its quotas, what its pods hold, and its queue.
type wsState struct {
	name string
	// known is false until the Workspace object is seen; a workspace
	// without an object has no quota and admits everything.
	known bool
	// generation is the Workspace's metadata.generation.
	generation int64
	quotas     quotas
	used       usage
	waiting    map[types.UID]*entry
	classes    map[class]*classHeap
	// spent are the scopes whose budget is spent (metering sets them).
	spent map[scopeKey]spentBudget
	// history are recent runs of the workspace's pods, by workload kind,
	// and arrivals its recent new pods, for wait estimates.
	history  map[string]*runs
	arrivals []arrival
}

// arrival is a new pod of a workspace, for wait estimates.
type arrival struct {
	at            time.Time
	pod           *corev1.Pod
	team, project string
	req           amounts
}

// spentBudget is a scope's spent budget as admission reads it.
type spentBudget struct {
	hold        budgetHold
	used, limit int64 // millionths of hold.unit
}

// identity is what a namespace makes of its pods: the workspace and team
// its labels name. A namespace outside every workspace has neither.
type identity struct{ workspace, team string }

func identityOf(ns *corev1.Namespace) identity {
	ws := ns.Labels[carvev1.LabelWorkspace]
	if ws == "" {
		return identity{}
	}
	return identity{workspace: ws, team: ns.Labels[carvev1.LabelTeam]}
}

// tracker is WorkspaceQueue's accounting: which pods hold quota, which
// wait, and in what order they start. Every method is safe for concurrent
// use and idempotent, because the same change reaches it through several
// paths (PreEnqueue, Reserve, the plugin's own informers).
//
// A pod's workspace and team come from its namespace, never from the pod's
// own labels: anyone who may create a pod somewhere can write labels, but
// only a namespace's labels say which workspace's quota it spends. The
// pod's carve.dev/workspace label only says that carve's webhook admitted
// it (it is what the plugin's pod informer selects on). A labelled pod in a
// namespace outside every workspace is kept (its namespace may join one)
// but counts nowhere, and kube-scheduler schedules it as any other pod.
type tracker struct {
	mu         sync.Mutex
	entries    map[types.UID]*entry
	workspaces map[string]*wsState
	// namespaces are the identities of every namespace the plugin has
	// seen; projects indexes entries by namespace, so that a namespace
	// that changes workspace or team moves its pods' accounting with it.
	namespaces map[string]identity
	projects   map[string]map[types.UID]*entry
	// gone remembers recently deleted pods so a late PreEnqueue for one of
	// them cannot create an entry that would hold quota forever.
	gone      map[types.UID]time.Time
	lastPrune time.Time
	// started are pods admitted after they waited, for the status writer.
	started []startedPod
	// starting is true while the plugin's informers list what exists at
	// start. Pending pods they deliver then are queued undecided, and
	// finishStartup admits them in one ordered pass: a restarted scheduler
	// keeps priority and fair share instead of admitting in list order.
	starting bool
	now      func() time.Time
}

func newTracker(now func() time.Time) *tracker {
	return &tracker{
		entries:    map[types.UID]*entry{},
		workspaces: map[string]*wsState{},
		namespaces: map[string]identity{},
		projects:   map[string]map[types.UID]*entry{},
		gone:       map[types.UID]time.Time{},
		now:        now,
	}
}

// goneFor is how long a deleted pod's uid is remembered.
const goneFor = 10 * time.Minute

// labelled says whether carve's webhook admitted the pod into a workspace
// namespace; only such pods are the plugin's to account for.
func labelled(pod *corev1.Pod) bool { return pod.Labels[carvev1.LabelWorkspace] != "" }

// startedPod is a pod admitted after it waited, and the workspace whose
// quota it now holds.
type startedPod struct {
	pod       *corev1.Pod
	workspace string
}

func (t *tracker) ws(name string) *wsState {
	w, ok := t.workspaces[name]
	if !ok {
		w = &wsState{name: name, used: newUsage(), waiting: map[types.UID]*entry{}, classes: map[class]*classHeap{}}
		t.workspaces[name] = w
	}
	return w
}

// newEntry makes the entry of a pod the tracker has not met, in the
// workspace and team of its namespace; it is not stored until add.
func (t *tracker) newEntry(pod *corev1.Pod) *entry {
	id := t.namespaces[pod.Namespace]
	return &entry{
		uid:       pod.UID,
		pod:       pod,
		workspace: id.workspace,
		team:      id.team,
		project:   pod.Namespace,
		req:       requestOf(pod),
		priority:  ptr.Deref(pod.Spec.Priority, 0),
		created:   pod.CreationTimestamp.Time,
		seen:      t.now(),
	}
}

// add stores a new entry.
func (t *tracker) add(e *entry) {
	t.entries[e.uid] = e
	p := t.projects[e.project]
	if p == nil {
		p = map[types.UID]*entry{}
		t.projects[e.project] = p
	}
	p[e.uid] = e
}

// remove drops an entry and whatever it holds or waits for.
func (t *tracker) remove(e *entry) {
	delete(t.entries, e.uid)
	if p := t.projects[e.project]; p != nil {
		delete(p, e.uid)
		if len(p) == 0 {
			delete(t.projects, e.project)
		}
	}
	t.unhome(e)
}

// unhome takes an entry out of its workspace's accounting: it no longer
// holds quota there, or waits there.
func (t *tracker) unhome(e *entry) {
	if e.workspace == "" {
		return
	}
	w := t.ws(e.workspace)
	if e.admitted {
		w.used.sub(e.team, e.project, e.req)
	} else {
		w.unwait(e)
	}
}

// enqueue is PreEnqueue's decision: it puts the pod in its workspace's queue
// (if it is not admitted yet) and says whether it may be scheduled, and in
// which workspace (empty for a pod outside every workspace, which is always
// let through). A pod that must wait costs its own check and a heap push
// (O(log n)): a held pod is re-checked only when quota frees.
func (t *tracker) enqueue(pod *corev1.Pod) (workspace string, admitted bool, v verdict) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[pod.UID]
	if !ok {
		if _, deleted := t.gone[pod.UID]; deleted {
			// The pod is gone; whatever the queue does with it, it must not
			// hold quota.
			return "", true, verdict{admit: true}
		}
		if _, known := t.namespaces[pod.Namespace]; !known {
			// The namespace informer has not caught up with a namespace
			// made just before the pod: wait for it rather than guess.
			// setNamespace wakes the pod.
			e = t.newEntry(pod)
			e.verdict = verdict{scope: scopeNamespace, name: pod.Namespace}
			t.add(e)
			return "", false, e.verdict
		}
		e = t.newEntry(pod)
		t.add(e)
		if e.workspace != "" {
			t.ws(e.workspace).arrived(arrival{at: t.now(), pod: pod, team: e.team, project: e.project, req: e.req})
		}
	}
	e.pod = pod
	if e.admitted {
		return e.workspace, true, verdict{admit: true}
	}
	if _, known := t.namespaces[e.project]; !known {
		return "", false, e.verdict
	}
	if e.workspace == "" {
		return "", true, verdict{admit: true}
	}
	w := t.ws(e.workspace)
	// Every change that can make room (a pod gone, a resize down, a quota
	// raised) runs admitWaiting at once, which leaves no waiting pod that
	// fits. So a pod already waiting still cannot start, and a new pod only
	// needs its own check: if it fits, no pod ahead of it does.
	if _, queued := w.waiting[e.uid]; queued {
		// Still cannot start (see above); the reason is computed afresh.
		if v := t.decide(w, e); !v.admit {
			e.verdict = v
		}
		return e.workspace, false, e.verdict
	}
	if e.verdict = t.decide(w, e); e.verdict.admit {
		t.admit(w, e)
	} else {
		w.wait(e)
	}
	return e.workspace, e.admitted, e.verdict
}

// reserve is the last check before a pod is bound: it must hold quota. A
// pod that reached Reserve without (its entry lost, or garbage collected)
// is admitted here if the quotas have room.
func (t *tracker) reserve(pod *corev1.Pod) (workspace string, ok bool, v verdict) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, found := t.entries[pod.UID]
	if found && e.admitted {
		return e.workspace, true, verdict{admit: true}
	}
	if !found {
		e = t.newEntry(pod)
	}
	if _, known := t.namespaces[e.project]; !known {
		return "", false, verdict{scope: scopeNamespace, name: e.project}
	}
	if e.workspace == "" {
		return "", true, verdict{admit: true}
	}
	w := t.ws(e.workspace)
	if v = t.decide(w, e); !v.admit {
		return e.workspace, false, v
	}
	if !found {
		t.add(e)
	}
	t.admit(w, e)
	return e.workspace, true, v
}

// observe records a pod seen by an informer. A bound pod holds quota
// whether or not this scheduler admitted it (it may have been bound before
// a restart, or by someone else); a resize changes what it holds. It
// returns waiting pods admitted because a resize freed quota.
func (t *tracker) observe(pod *corev1.Pod) []*corev1.Pod {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, deleted := t.gone[pod.UID]; deleted {
		return nil
	}
	e, ok := t.entries[pod.UID]
	if !ok {
		if pod.Spec.NodeName == "" {
			// Pending pods enter through PreEnqueue, in queue order; at
			// start, through finishStartup's ordered pass.
			if t.starting {
				e = t.newEntry(pod)
				t.add(e)
				if e.workspace != "" {
					t.ws(e.workspace).wait(e)
				}
			}
			return nil
		}
		e = t.newEntry(pod)
		t.add(e)
	}
	e.pod = pod
	if pod.Spec.NodeName != "" && e.started.IsZero() {
		e.started = boundAt(pod, t.now())
	}
	if p := ptr.Deref(pod.Spec.Priority, 0); p != e.priority {
		// Priority is fixed at creation; should it ever change, a waiting
		// pod moves to its new place in its class.
		w := t.ws(e.workspace)
		waiting := e.workspace != "" && w.unwait(e)
		e.priority = p
		if waiting {
			w.wait(e)
		}
	}
	if e.workspace == "" {
		// Outside every workspace (for now): a bound pod is marked
		// admitted so that it holds quota once its namespace joins one.
		if pod.Spec.NodeName != "" && !e.admitted {
			e.admitted, e.verdict = true, verdict{admit: true}
		}
		e.req = requestOf(pod)
		return nil
	}
	w := t.ws(e.workspace)
	if !e.admitted {
		if pod.Spec.NodeName != "" {
			t.admit(w, e)
		}
		return nil
	}
	req := requestOf(pod)
	if req == e.req {
		return nil
	}
	w.used.sub(e.team, e.project, e.req)
	e.req = req
	w.used.add(e.team, e.project, e.req)
	return podsOf(t.admitWaiting(w))
}

// beginStartup makes pending pods that observe meets wait for
// finishStartup.
func (t *tracker) beginStartup() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.starting = true
}

// finishStartup admits the pending pods listed at start, in queue order,
// as far as the quotas allow. It returns them. Only pods that had been told
// to wait are reported to the status writer as started; the rest never
// waited as far as their users could see.
func (t *tracker) finishStartup() []*corev1.Pod {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.starting = false
	before := len(t.started)
	var admitted []*entry
	for _, w := range t.workspaces {
		admitted = append(admitted, t.admitWaiting(w)...)
	}
	kept := t.started[:before]
	for _, p := range t.started[before:] {
		if toldToWait(p.pod) {
			kept = append(kept, p)
		}
	}
	t.started = kept
	return podsOf(admitted)
}

func toldToWait(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == carvev1.PodConditionAdmitted {
			return c.Status == corev1.ConditionFalse
		}
	}
	return false
}

// forget drops a pod that was deleted or finished, freeing its quota, and
// returns the waiting pods that start because of it and the workspace it
// was in.
func (t *tracker) forget(pod *corev1.Pod) (workspace string, started []*corev1.Pod) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.gone[pod.UID] = now
	if now.Sub(t.lastPrune) > time.Minute {
		for uid, at := range t.gone {
			if now.Sub(at) > goneFor {
				delete(t.gone, uid)
			}
		}
		t.lastPrune = now
	}
	e, ok := t.entries[pod.UID]
	if !ok {
		return "", nil
	}
	if e.admitted && !e.started.IsZero() && e.workspace != "" {
		// How long it ran, for wait estimates.
		w := t.ws(e.workspace)
		if w.history == nil {
			w.history = map[string]*runs{}
		}
		if d := endedAt(pod, now).Sub(e.started); d > 0 {
			for _, key := range []string{kindOf(e.pod), historyKey(e.pod)} {
				if w.history[key] == nil {
					w.history[key] = &runs{}
				}
				w.history[key].add(d)
			}
		}
	}
	t.remove(e)
	if e.workspace == "" {
		return "", nil
	}
	w := t.ws(e.workspace)
	started = podsOf(t.admitWaiting(w))
	t.prune(w)
	return e.workspace, started
}

// setNamespace records a namespace's identity. When it changes, the pods
// of the namespace move with it: what they hold and wait for leaves the
// old workspace (whose waiting pods may then start) and enters the new
// one. It returns the workspaces whose queues changed and the pods to wake:
// those admitted, and pending pods that waited for the namespace and are
// now outside every workspace.
func (t *tracker) setNamespace(name string, id identity) (touched []string, wake []*corev1.Pod) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, had := t.namespaces[name]
	t.namespaces[name] = id
	if had && old == id {
		return nil, nil
	}
	return t.rehome(name, id)
}

// deleteNamespace forgets a namespace; its pods (being deleted with it)
// count nowhere.
func (t *tracker) deleteNamespace(name string) (touched []string, wake []*corev1.Pod) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.namespaces, name)
	return t.rehome(name, identity{})
}

func (t *tracker) rehome(name string, id identity) (touched []string, wake []*corev1.Pod) {
	seen := map[string]bool{}
	for _, e := range t.projects[name] {
		if e.workspace != "" {
			seen[e.workspace] = true
		}
		t.unhome(e)
		e.workspace, e.team = id.workspace, id.team
		if id.workspace == "" {
			if !e.admitted && e.verdict.scope == scopeNamespace {
				e.verdict = verdict{admit: true}
				wake = append(wake, e.pod)
			}
			continue
		}
		w := t.ws(id.workspace)
		seen[w.name] = true
		if e.admitted {
			w.used.add(e.team, e.project, e.req)
		} else {
			w.wait(e)
		}
	}
	for ws := range seen {
		w := t.ws(ws)
		wake = append(wake, podsOf(t.admitWaiting(w))...)
		t.prune(w)
		touched = append(touched, ws)
	}
	return touched, wake
}

// prune drops the state of a workspace that has no object, holds nothing
// and has nobody waiting, so that workspaces that come and go leave
// nothing behind.
func (t *tracker) prune(w *wsState) {
	if !w.known && len(w.waiting) == 0 && w.used.total == (amounts{}) && len(w.used.project) == 0 {
		delete(t.workspaces, w.name)
	}
}

// setWorkspace records a Workspace's quotas and returns the pods its change
// admits (a raised quota starts waiting pods).
func (t *tracker) setWorkspace(ws *carvev1.Workspace) []*corev1.Pod {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.ws(ws.Name)
	w.known, w.quotas, w.generation = true, quotasOf(ws), ws.Generation
	return podsOf(t.admitWaiting(w))
}

// setSpent records which scopes of a workspace have spent a budget, and
// returns the waiting pods that start because one no longer has.
func (t *tracker) setSpent(workspace string, spent map[scopeKey]spentBudget) []*corev1.Pod {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.workspaces[workspace]
	if !ok {
		return nil
	}
	w.spent = spent
	return podsOf(t.admitWaiting(w))
}

// deleteWorkspace forgets a Workspace's quotas: its pods are no longer
// capped, so every waiting one starts.
func (t *tracker) deleteWorkspace(name string) []*corev1.Pod {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.ws(name)
	w.known, w.quotas = false, quotas{}
	started := podsOf(t.admitWaiting(w))
	t.prune(w)
	return started
}

func (t *tracker) isAdmitted(uid types.UID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[uid]
	return ok && e.admitted
}

// collect drops entries of pods that no longer exist (exists says whether
// the informer still has the pod) and were first seen before cutoff. It is
// a safety net against missed deletions, not how quota is normally freed.
func (t *tracker) collect(exists func(*corev1.Pod) bool, cutoff time.Time) []*corev1.Pod {
	t.mu.Lock()
	var stale []*corev1.Pod
	for _, e := range t.entries {
		if e.seen.Before(cutoff) && !exists(e.pod) {
			stale = append(stale, e.pod)
		}
	}
	t.mu.Unlock()
	var started []*corev1.Pod
	for _, p := range stale {
		_, s := t.forget(p)
		started = append(started, s...)
	}
	return started
}

func (t *tracker) decide(w *wsState, e *entry) verdict {
	if !w.known {
		return verdict{admit: true}
	}
	if len(w.spent) > 0 {
		for _, k := range []scopeKey{{scopeWorkspace, ""}, {scopeTeam, e.team}, {scopeProject, e.project}} {
			if k.scope == scopeTeam && e.team == "" {
				continue
			}
			if b, ok := w.spent[k]; ok {
				return verdict{scope: k.scope, name: k.name, used: b.used, max: b.limit, budget: &b.hold}
			}
		}
	}
	return decide(w.quotas, w.used, e.team, e.project, e.req)
}

func (t *tracker) admit(w *wsState, e *entry) {
	e.admitted, e.verdict = true, verdict{admit: true}
	if w.unwait(e) {
		t.started = append(t.started, startedPod{pod: e.pod, workspace: w.name})
	}
	w.used.add(e.team, e.project, e.req)
}

// admitWaiting starts waiting pods of w while the quotas have room, always
// the first in queue order among those that fit. A pod that does not fit
// does not block smaller pods behind it; it keeps its place and starts as
// soon as enough quota is free for it and no pod ahead of it fits. Each
// admission looks at the head of each class (classes.go), not at every
// waiting pod.
func (t *tracker) admitWaiting(w *wsState) []*entry {
	if t.starting {
		// The pending pods are not all listed yet: finishStartup runs
		// the one pass over all of them.
		return nil
	}
	var admitted []*entry
	for len(w.waiting) > 0 {
		var best *entry
		for _, h := range w.classes {
			e := (*h)[0]
			v := t.decide(w, e)
			e.verdict = v
			if v.admit && (best == nil || w.before(e, best)) {
				best = e
			}
		}
		if best == nil {
			break
		}
		t.admit(w, best)
		admitted = append(admitted, best)
	}
	return admitted
}

// before is the queue order within a workspace: higher priority first;
// then, under FairShare, the team and then the project holding the smaller
// dominant share of the workspace quota; then the older pod.
func (w *wsState) before(a, b *entry) bool {
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	if w.quotas.policy != carvev1.QueueingFIFO {
		if a.team != b.team {
			if sa, sb := w.groupShare(a), w.groupShare(b); sa != sb {
				return sa < sb
			}
		}
		if a.project != b.project {
			if sa, sb := w.projectShare(a.project), w.projectShare(b.project); sa != sb {
				return sa < sb
			}
		}
	}
	return olderThan(a.created, b.created, a.project+"/"+a.pod.Name, b.project+"/"+b.pod.Name)
}

func olderThan(a, b time.Time, keyA, keyB string) bool {
	if !a.Equal(b) {
		return a.Before(b)
	}
	return keyA < keyB
}

// shareLimit is the quota shares are measured against: the workspace's, or
// when it caps nothing, the per-project quota.
func (w *wsState) shareLimit() limit {
	if w.quotas.workspace.has != [numRes]bool{} {
		return w.quotas.workspace
	}
	return w.quotas.project
}

// groupShare is the share compared first under FairShare: the team's, or
// for a project without a team, the project's own. A teamless project is a
// team of one; counting it as holding nothing would put it ahead of every
// team however much it uses.
func (w *wsState) groupShare(e *entry) float64 {
	if e.team == "" {
		return w.projectShare(e.project)
	}
	return w.shareLimit().share(w.used.team[e.team])
}

func (w *wsState) projectShare(project string) float64 {
	return w.shareLimit().share(w.used.project[project])
}

// rank orders two workspace pods for kube-scheduler's active queue, where
// only admitted pods are: within one workspace as the admission order,
// across workspaces by the share each holds of its own workspace, then age.
// ok is false when either pod is unknown to the tracker.
func (t *tracker) rank(a, b *corev1.Pod) (less, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ea, okA := t.entries[a.UID]
	eb, okB := t.entries[b.UID]
	if !okA || !okB || ea.workspace == "" || eb.workspace == "" {
		return false, false
	}
	wa, wb := t.ws(ea.workspace), t.ws(eb.workspace)
	if wa == wb {
		return wa.before(ea, eb), true
	}
	if sa, sb := wa.projectShare(ea.project), wb.projectShare(eb.project); sa != sb {
		return sa < sb, true
	}
	return olderThan(ea.created, eb.created, ea.project+"/"+ea.pod.Name, eb.project+"/"+eb.pod.Name), true
}

// waitingPod is a waiting pod's place for the status writer.
type waitingPod struct {
	pod      *corev1.Pod
	verdict  verdict
	position int
}

// queue returns the waiting pods of a workspace in admission order, with
// their 1-based positions. Under the tracker's lock it only copies the
// waiting entries (with fresh verdicts) and what the shares are computed
// from; the sort, by the same wsState.before as admission, runs on that
// snapshot after the lock is released, so a long queue does not stall
// PreEnqueue.
func (t *tracker) queue(workspace string) []waitingPod {
	t.mu.Lock()
	w, ok := t.workspaces[workspace]
	if !ok {
		t.mu.Unlock()
		return nil
	}
	snap := &wsState{quotas: w.quotas, used: w.used.clone()}
	es := make([]entry, 0, len(w.waiting))
	for _, e := range w.waiting {
		// Fresh: admissions since the last pass changed the numbers.
		e.verdict = t.decide(w, e)
		es = append(es, *e)
	}
	t.mu.Unlock()
	sort.Slice(es, func(i, j int) bool { return snap.before(&es[i], &es[j]) })
	out := make([]waitingPod, len(es))
	for i := range es {
		out[i] = waitingPod{pod: es[i].pod, verdict: es[i].verdict, position: i + 1}
	}
	return out
}

// drainStarted returns the pods admitted after waiting since the last call.
func (t *tracker) drainStarted() []startedPod {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.started
	t.started = nil
	return out
}

func podsOf(es []*entry) []*corev1.Pod {
	if len(es) == 0 {
		return nil
	}
	out := make([]*corev1.Pod, len(es))
	for i, e := range es {
		out[i] = e.pod
	}
	return out
}

// namespace is the identity the tracker has for a namespace.
func (t *tracker) namespace(name string) identity {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.namespaces[name]
}

// projectsOf lists the namespaces of a workspace.
func (t *tracker) projectsOf(workspace string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for ns, id := range t.namespaces {
		if id.workspace == workspace {
			out = append(out, ns)
		}
	}
	return out
}

// workspaceNames lists the workspaces the tracker knows.
func (t *tracker) workspaceNames() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.workspaces))
	for name := range t.workspaces {
		out = append(out, name)
	}
	return out
}
