package workspacequeue

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// world is what the API server holds in the randomized test: the pods (by
// uid) and the Workspace. The tracker is driven only with the events the
// plugin's informers and kube-scheduler would send about it.
type world struct {
	rng  *rand.Rand
	tr   *tracker
	pods map[types.UID]*corev1.Pod
	ws   *carvev1.Workspace
	next int
	log  []string
}

var randomNamespaces = []struct{ name, team string }{
	{"alice", "nlp"}, {"bob", "nlp"}, {"carol", "vision"}, {"dave", ""}, {"erin", ""},
}

func (w *world) newTracker() {
	w.tr = newTracker(func() time.Time { return t0 })
	for _, ns := range randomNamespaces {
		w.tr.setNamespace(ns.name, identity{workspace: "ml", team: ns.team})
	}
}

// restart is a new scheduler: its informers list what exists, in no
// particular order, then it answers PreEnqueue.
func (w *world) restart() {
	w.tr = newTracker(func() time.Time { return t0 })
	w.tr.beginStartup()
	for _, ns := range randomNamespaces {
		w.tr.setNamespace(ns.name, identity{workspace: "ml", team: ns.team})
	}
	pods := w.sorted()
	w.rng.Shuffle(len(pods), func(i, j int) { pods[i], pods[j] = pods[j], pods[i] })
	for _, p := range pods {
		w.tr.observe(p)
	}
	w.tr.setWorkspace(w.ws)
	w.tr.finishStartup()
	for _, p := range pods {
		w.tr.enqueue(p)
	}
}

func (w *world) sorted() []*corev1.Pod {
	out := make([]*corev1.Pod, 0, len(w.pods))
	for _, p := range w.pods {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	return out
}

func (w *world) pick(filter func(*corev1.Pod) bool) *corev1.Pod {
	var c []*corev1.Pod
	for _, p := range w.sorted() {
		if filter(p) {
			c = append(c, p)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[w.rng.IntN(len(c))]
}

func (w *world) randomQuota() *carvev1.Workspace {
	cpu := fmt.Sprint(4 + w.rng.IntN(8))
	ws := ut.MakeWorkspace("ml", "small").Quota(cpu, "", "", int32(3+w.rng.IntN(6))).
		TeamQuota("nlp", fmt.Sprint(2+w.rng.IntN(4)), "", "", -1).ProjectQuota(fmt.Sprint(2+w.rng.IntN(4)), "", "", -1)
	if w.rng.IntN(2) == 0 {
		ws.Policy(carvev1.QueueingFIFO)
	}
	return ws.Obj()
}

func (w *world) step() error {
	switch op := w.rng.IntN(100); {
	case op < 35: // a pod arrives; kube-scheduler asks PreEnqueue
		w.next++
		ns := randomNamespaces[w.rng.IntN(len(randomNamespaces))]
		p := ut.MakePod(fmt.Sprint("p", w.next), ns.name).UID(fmt.Sprintf("u%04d", w.next)).Workspace("ml", ns.team).
			Created(t0.Add(time.Duration(w.next)*time.Second)).Priority(int32(w.rng.IntN(3))).
			Container("main", fmt.Sprintf("%dm", 500*(1+w.rng.IntN(4))), "1Gi").Obj()
		w.pods[p.UID] = p
		w.tr.enqueue(p)
		w.log = append(w.log, "arrive "+p.Name)
	case op < 55: // an admitted pending pod is bound (Reserve, then the informer)
		p := w.pick(func(p *corev1.Pod) bool { return p.Spec.NodeName == "" && w.tr.isAdmitted(p.UID) })
		if p == nil {
			return nil
		}
		if _, ok, _ := w.tr.reserve(p); !ok {
			return fmt.Errorf("reserve refused admitted pod %s", p.Name)
		}
		b := bound(p, "n1")
		w.pods[p.UID] = b
		w.tr.observe(b)
		w.log = append(w.log, "bind "+p.Name)
	case op < 75: // a pod is deleted or finishes
		p := w.pick(func(*corev1.Pod) bool { return true })
		if p == nil {
			return nil
		}
		delete(w.pods, p.UID)
		want := w.referenceAfterForget(p)
		_, started := w.tr.forget(p)
		if got := names(started); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("deleting %s admitted %v; scanning every waiting pod in queue order admits %v", p.Name, got, want)
		}
		w.log = append(w.log, "delete "+p.Name)
	case op < 82: // a bound pod is resized down
		p := w.pick(func(p *corev1.Pod) bool { return p.Spec.NodeName != "" })
		if p == nil {
			return nil
		}
		r := p.DeepCopy()
		cpu := r.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]
		if cpu.MilliValue() <= 250 {
			return nil
		}
		r.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = *resource.NewMilliQuantity(cpu.MilliValue()/2, resource.DecimalSI)
		w.pods[p.UID] = r
		w.tr.observe(r)
		w.log = append(w.log, "shrink "+p.Name)
	case op < 88: // the Workspace's quotas are raised (never lowered: that
		// may leave more admitted than the new caps, by design)
		next := w.randomQuota()
		if raises(w.ws, next) {
			w.ws = next
			w.tr.setWorkspace(next)
			w.log = append(w.log, "raise quota")
		}
	case op < 96: // kube-scheduler's own, spurious traffic: PreEnqueue again,
		// hints for events that did not happen, stale pod objects
		p := w.pick(func(*corev1.Pod) bool { return true })
		if p == nil {
			return nil
		}
		w.tr.enqueue(p)
		w.tr.isAdmitted(p.UID)
		w.log = append(w.log, "spurious "+p.Name)
	default:
		w.restart()
		w.log = append(w.log, "restart")
	}
	return nil
}

// referenceAfterForget is what deleting pod admits by the definition of the
// order: with the pod's quota freed, repeatedly the first waiting pod in
// queue order (wsState.before) among all that fit, scanning every one.
func (w *world) referenceAfterForget(pod *corev1.Pod) []string {
	w.tr.mu.Lock()
	defer w.tr.mu.Unlock()
	e, ok := w.tr.entries[pod.UID]
	if !ok || e.workspace == "" {
		return []string{}
	}
	real := w.tr.workspaces[e.workspace]
	sim := &wsState{name: real.name, known: real.known, quotas: real.quotas, used: real.used.clone()}
	var waiting []*entry
	for _, x := range real.waiting {
		if x != e {
			waiting = append(waiting, x)
		}
	}
	if e.admitted {
		sim.used.sub(e.team, e.project, e.req)
	}
	out := []string{}
	for {
		best := -1
		for i, x := range waiting {
			fits := !sim.known || decide(sim.quotas, sim.used, x.team, x.project, x.req).admit
			if fits && (best < 0 || sim.before(x, waiting[best])) {
				best = i
			}
		}
		if best < 0 {
			return out
		}
		x := waiting[best]
		sim.used.add(x.team, x.project, x.req)
		out = append(out, x.pod.Namespace+"/"+x.pod.Name)
		waiting = append(waiting[:best], waiting[best+1:]...)
	}
}

func raises(old, next *carvev1.Workspace) bool {
	o, n := quotasOf(old), quotasOf(next)
	ge := func(a, b limit) bool {
		for r := range numRes {
			if a.has[r] && (!b.has[r] || b.max[r] < a.max[r]) {
				return false
			}
		}
		return true
	}
	return ge(o.workspace, n.workspace) && ge(o.project, n.project) && ge(o.team["nlp"], n.team["nlp"])
}

// check asserts the tracker's invariants against the world.
func (w *world) check(t *testing.T) {
	t.Helper()
	w.tr.mu.Lock()
	defer w.tr.mu.Unlock()
	ws := w.tr.workspaces["ml"]
	if ws == nil {
		return
	}
	// What is held is the sum of what the admitted pods that exist request.
	want := newUsage()
	for uid, e := range w.tr.entries {
		if _, exists := w.pods[uid]; !exists {
			t.Fatalf("tracker keeps pod %s, which is gone", e.pod.Name)
		}
		if e.admitted {
			want.add(e.team, e.project, requestOf(w.pods[uid]))
		}
	}
	for uid, p := range w.pods {
		if p.Spec.NodeName != "" {
			if e, ok := w.tr.entries[uid]; !ok || !e.admitted {
				t.Fatalf("bound pod %s does not hold quota", p.Name)
			}
		}
	}
	if want.total != ws.used.total || fmt.Sprint(want.team) != fmt.Sprint(ws.used.team) || fmt.Sprint(want.project) != fmt.Sprint(ws.used.project) {
		t.Fatalf("held %+v, but the admitted pods request %+v", ws.used, want)
	}
	// Admitted never exceeds a quota, at any scope.
	q := quotasOf(w.ws)
	over := func(l limit, used amounts, scope string) {
		for r := range numRes {
			if l.has[r] && used[r] > l.max[r] {
				t.Fatalf("%s holds %d %s, above its quota of %d", scope, used[r], resNames[r], l.max[r])
			}
		}
	}
	over(q.workspace, ws.used.total, "workspace ml")
	for team, l := range q.team {
		over(l, ws.used.team[team], "team "+team)
	}
	for project, used := range ws.used.project {
		over(q.project, used, "project "+project)
	}
	// No pod waits while the quotas have room for it.
	for _, e := range ws.waiting {
		if v := w.tr.decide(ws, e); v.admit {
			t.Fatalf("pod %s waits although the quotas have room for it", e.pod.Name)
		}
	}
}

// checkStatus asserts that the Workspace status says what the pods that
// exist hold and how many of them wait, for the workspace, each team and
// each project, counted here from the pods themselves.
func (w *world) checkStatus(t *testing.T) {
	t.Helper()
	r, ok := w.tr.report("ml")
	if !ok {
		return
	}
	st := r.status()
	w.tr.mu.Lock()
	admitted, waiting := map[string]amounts{}, map[string]int{}
	for uid, e := range w.tr.entries {
		req := requestOf(w.pods[uid])
		keys := []string{"", "project " + e.project}
		if e.team != "" {
			keys = append(keys, "team "+e.team)
		}
		for _, k := range keys {
			if e.admitted {
				admitted[k] = admitted[k].plus(req)
			} else {
				waiting[k]++
			}
		}
	}
	w.tr.mu.Unlock()
	same := func(scope string, got carvev1.ResourceUsage, gotWaiting int32) {
		t.Helper()
		if want := usageOf(admitted[scope]); got.CPU.Cmp(want.CPU) != 0 || got.Memory.Cmp(want.Memory) != 0 || got.GPU.Cmp(want.GPU) != 0 || got.Pods != want.Pods {
			t.Fatalf("status of %q says admitted %+v, the admitted pods request %+v", scope, got, want)
		}
		if int(gotWaiting) != waiting[scope] {
			t.Fatalf("status of %q says %d waiting, %d pods wait", scope, gotWaiting, waiting[scope])
		}
	}
	same("", st.Admitted, st.Waiting)
	seen := map[string]bool{}
	for _, s := range st.Teams {
		same("team "+s.Name, s.Admitted, s.Waiting)
		seen["team "+s.Name] = true
	}
	for _, s := range st.Projects {
		same("project "+s.Name, s.Admitted, s.Waiting)
		seen["project "+s.Name] = true
	}
	for k := range admitted {
		if k != "" && !seen[k] {
			t.Fatalf("status lists no %s, whose pods hold %v", k, admitted[k])
		}
	}
	if got := len(st.Projects); got != len(randomNamespaces) || int(st.ProjectCount) != len(randomNamespaces) {
		t.Fatalf("status lists %d projects (projectCount %d), the workspace has %d", got, st.ProjectCount, len(randomNamespaces))
	}
	if c := st.Conditions[0]; (c.Status == "True") != (st.Waiting > 0) {
		t.Fatalf("QuotaExhausted is %s with %d pods waiting", c.Status, st.Waiting)
	}
}

// checkQueueOrder asserts that the status writer's queue lists the waiting
// pods in the order admission takes them.
func (w *world) checkQueueOrder(t *testing.T) {
	t.Helper()
	q := w.tr.queue("ml")
	w.tr.mu.Lock()
	defer w.tr.mu.Unlock()
	ws := w.tr.workspaces["ml"]
	if ws == nil {
		return
	}
	if len(q) != len(ws.waiting) {
		t.Fatalf("queue lists %d pods, %d wait", len(q), len(ws.waiting))
	}
	for i := 1; i < len(q); i++ {
		a, b := w.tr.entries[q[i-1].pod.UID], w.tr.entries[q[i].pod.UID]
		if ws.before(b, a) {
			t.Fatalf("queue lists %s before %s, but admission takes %s first", a.pod.Name, b.pod.Name, b.pod.Name)
		}
	}
}

// TestRandomizedTracker drives the tracker with random arrivals, bindings,
// deletions, resizes down, quota raises, restarts and kube-scheduler's
// spurious calls, and checks after every step that the accounting matches
// the pods that exist, that nothing admitted exceeds a quota at any scope,
// and that no held pod waits while the quotas have room for it.
func TestRandomizedTracker(t *testing.T) {
	for seed := range uint64(30) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w := &world{rng: rand.New(rand.NewPCG(seed, 7)), pods: map[types.UID]*corev1.Pod{}}
			w.ws = w.randomQuota()
			w.newTracker()
			w.tr.setWorkspace(w.ws)
			for i := range 400 {
				if err := w.step(); err != nil {
					t.Fatalf("step %d (%v): %v", i, w.log[max(0, len(w.log)-5):], err)
				}
				w.check(t)
				w.checkQueueOrder(t)
				w.checkStatus(t)
			}
		})
	}
}
