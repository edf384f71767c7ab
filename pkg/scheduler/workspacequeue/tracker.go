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
	seen     time.Time
	admitted bool
	// verdict is why a waiting pod waits.
	verdict verdict
}

// wsState is one workspace: its quotas, what its pods hold, and its queue.
type wsState struct {
	name string
	// known is false until the Workspace object is seen; a workspace
	// without an object has no quota and admits everything.
	known   bool
	quotas  quotas
	used    usage
	waiting map[types.UID]*entry
}

// tracker is WorkspaceQueue's accounting: which pods hold quota, which
// wait, and in what order they start. Every method is safe for concurrent
// use and idempotent, because the same change reaches it through several
// paths (PreEnqueue, Reserve, the plugin's own informers).
type tracker struct {
	mu         sync.Mutex
	entries    map[types.UID]*entry
	workspaces map[string]*wsState
	// gone remembers recently deleted pods so a late PreEnqueue for one of
	// them cannot create an entry that would hold quota forever.
	gone      map[types.UID]time.Time
	lastPrune time.Time
	// started are pods admitted after they waited, for the status writer.
	started []*corev1.Pod
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
		gone:       map[types.UID]time.Time{},
		now:        now,
	}
}

// goneFor is how long a deleted pod's uid is remembered.
const goneFor = 10 * time.Minute

func workspaceOf(pod *corev1.Pod) string { return pod.Labels[carvev1.LabelWorkspace] }

func (t *tracker) ws(name string) *wsState {
	w, ok := t.workspaces[name]
	if !ok {
		w = &wsState{name: name, used: newUsage(), waiting: map[types.UID]*entry{}}
		t.workspaces[name] = w
	}
	return w
}

func (t *tracker) newEntry(pod *corev1.Pod) *entry {
	return &entry{
		uid:       pod.UID,
		pod:       pod,
		workspace: workspaceOf(pod),
		team:      pod.Labels[carvev1.LabelTeam],
		project:   pod.Namespace,
		req:       requestOf(pod),
		priority:  ptr.Deref(pod.Spec.Priority, 0),
		created:   pod.CreationTimestamp.Time,
		seen:      t.now(),
	}
}

// enqueue is PreEnqueue's decision: it puts the pod in its workspace's queue
// (if it is not admitted yet) and says whether it may be scheduled. It is
// O(1): a held pod is re-checked only when quota frees.
func (t *tracker) enqueue(pod *corev1.Pod) (admitted bool, v verdict) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[pod.UID]
	if !ok {
		if _, deleted := t.gone[pod.UID]; deleted {
			// The pod is gone; whatever the queue does with it, it must not
			// hold quota.
			return true, verdict{admit: true}
		}
		e = t.newEntry(pod)
		t.entries[pod.UID] = e
	}
	e.pod = pod
	if e.admitted {
		return true, verdict{admit: true}
	}
	w := t.ws(e.workspace)
	// Every change that can make room (a pod gone, a resize down, a quota
	// raised) runs admitWaiting at once, which leaves no waiting pod that
	// fits. So a pod already waiting still cannot start, and a new pod only
	// needs its own check: if it fits, no pod ahead of it does.
	if _, queued := w.waiting[e.uid]; queued {
		return false, e.verdict
	}
	if e.verdict = t.decide(w, e); e.verdict.admit {
		t.admit(w, e)
	} else {
		w.waiting[e.uid] = e
	}
	return e.admitted, e.verdict
}

// reserve is the last check before a pod is bound: it must hold quota. A
// pod that reached Reserve without (its entry lost, or garbage collected)
// is admitted here if the quotas have room.
func (t *tracker) reserve(pod *corev1.Pod) (bool, verdict) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[pod.UID]
	if ok && e.admitted {
		return true, verdict{admit: true}
	}
	if !ok {
		e = t.newEntry(pod)
	}
	w := t.ws(e.workspace)
	v := t.decide(w, e)
	if !v.admit {
		return false, v
	}
	t.entries[pod.UID] = e
	t.admit(w, e)
	return true, v
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
				t.entries[pod.UID] = e
				t.ws(e.workspace).waiting[e.uid] = e
			}
			return nil
		}
		e = t.newEntry(pod)
		t.entries[pod.UID] = e
	}
	e.pod = pod
	e.priority = ptr.Deref(pod.Spec.Priority, 0)
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
		if toldToWait(p) {
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
// returns the waiting pods that start because of it.
func (t *tracker) forget(pod *corev1.Pod) []*corev1.Pod {
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
		return nil
	}
	delete(t.entries, pod.UID)
	w := t.ws(e.workspace)
	if e.admitted {
		w.used.sub(e.team, e.project, e.req)
	} else {
		delete(w.waiting, e.uid)
	}
	return podsOf(t.admitWaiting(w))
}

// setWorkspace records a Workspace's quotas and returns the pods its change
// admits (a raised quota starts waiting pods).
func (t *tracker) setWorkspace(ws *carvev1.Workspace) []*corev1.Pod {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.ws(ws.Name)
	w.known, w.quotas = true, quotasOf(ws)
	return podsOf(t.admitWaiting(w))
}

// deleteWorkspace forgets a Workspace's quotas: its pods are no longer
// capped, so every waiting one starts.
func (t *tracker) deleteWorkspace(name string) []*corev1.Pod {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.ws(name)
	w.known, w.quotas = false, quotas{}
	return podsOf(t.admitWaiting(w))
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
		started = append(started, t.forget(p)...)
	}
	return started
}

func (t *tracker) decide(w *wsState, e *entry) verdict {
	if !w.known {
		return verdict{admit: true}
	}
	return decide(w.quotas, w.used, e.team, e.project, e.req)
}

func (t *tracker) admit(w *wsState, e *entry) {
	e.admitted, e.verdict = true, verdict{admit: true}
	if _, waited := w.waiting[e.uid]; waited {
		t.started = append(t.started, e.pod)
		delete(w.waiting, e.uid)
	}
	w.used.add(e.team, e.project, e.req)
}

// admitWaiting starts waiting pods of w while the quotas have room, always
// the first in queue order among those that fit. A pod that does not fit
// does not block smaller pods behind it; it keeps its place and starts as
// soon as enough quota is free for it and no pod ahead of it fits.
func (t *tracker) admitWaiting(w *wsState) []*entry {
	if t.starting {
		// The pending pods are not all listed yet: finishStartup runs
		// the one pass over all of them.
		return nil
	}
	var admitted []*entry
	for len(w.waiting) > 0 {
		var best *entry
		for _, e := range w.waiting {
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
	if !okA || !okB {
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
// their 1-based positions.
func (t *tracker) queue(workspace string) []waitingPod {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.workspaces[workspace]
	if !ok {
		return nil
	}
	es := make([]*entry, 0, len(w.waiting))
	for _, e := range w.waiting {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return w.before(es[i], es[j]) })
	out := make([]waitingPod, len(es))
	for i, e := range es {
		// Fresh: admissions since the last pass changed the numbers.
		e.verdict = t.decide(w, e)
		out[i] = waitingPod{pod: e.pod, verdict: e.verdict, position: i + 1}
	}
	return out
}

// drainStarted returns the pods admitted after waiting since the last call.
func (t *tracker) drainStarted() []*corev1.Pod {
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
