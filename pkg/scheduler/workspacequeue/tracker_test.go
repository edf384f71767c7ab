package workspacequeue

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

var t0 = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

// pod is a pending workspace pod created n minutes after t0.
func pod(name, ns, team string, n int, cpu string) *corev1.Pod {
	return ut.MakePod(name, ns).UID("uid-"+ns+"-"+name).Workspace("ml", team).
		Created(t0.Add(time.Duration(n)*time.Minute)).Container("main", cpu, "1Gi").Obj()
}

func bound(p *corev1.Pod, node string) *corev1.Pod {
	p = p.DeepCopy()
	p.Spec.NodeName = node
	return p
}

func names(pods []*corev1.Pod) []string {
	out := []string{}
	for _, p := range pods {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	return out
}

// testNamespaces are the namespaces the tests' pods are in, all projects
// of workspace ml: name → team.
var testNamespaces = map[string]string{"alice": "", "bob": "", "other": "", "solo": "", "nlp-1": "nlp", "nlp-2": "nlp", "vision-1": "vision"}

// newTestTracker is a tracker that knows ws and the test namespaces.
func newTestTracker(ws *carvev1.Workspace) *tracker {
	tr := newTracker(func() time.Time { return t0 })
	tr.setWorkspace(ws)
	addTestNamespaces(tr)
	return tr
}

func addTestNamespaces(tr *tracker) {
	for ns, team := range testNamespaces {
		tr.setNamespace(ns, identity{workspace: "ml", team: team})
	}
}

// started drops forget's workspace.
func started(_ string, pods []*corev1.Pod) []*corev1.Pod { return pods }

// startedNames are the names of the pods drainStarted returns.
func startedNames(ps []startedPod) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.pod.Namespace+"/"+p.pod.Name)
	}
	return out
}

// enqueueAll runs PreEnqueue for pods in order and returns the admitted ones.
func enqueueAll(tr *tracker, pods ...*corev1.Pod) []string {
	out := []string{}
	for _, p := range pods {
		if _, ok, _ := tr.enqueue(p); ok {
			out = append(out, p.Namespace+"/"+p.Name)
		}
	}
	return out
}

func TestQuotaFilledNextWaitsWithReason(t *testing.T) {
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("4", "", "", -1).Obj())
	a, b, c := pod("a", "alice", "", 0, "2"), pod("b", "alice", "", 1, "2"), pod("c", "alice", "", 2, "2")
	if diff := cmp.Diff([]string{"alice/a", "alice/b"}, enqueueAll(tr, a, b, c)); diff != "" {
		t.Fatalf("admitted (-want +got):\n%s", diff)
	}
	_, ok, v := tr.enqueue(c)
	if ok {
		t.Fatal("c admitted past a full quota")
	}
	if got, want := v.message("ml", 1), "waiting for workspace ml quota: needs cpu 2, 4/4 in use; 1st in queue"; got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
	// Re-running PreEnqueue on an admitted pod keeps it admitted and does
	// not count it twice.
	if _, ok, _ := tr.enqueue(a); !ok {
		t.Error("admitted pod a refused on a second PreEnqueue")
	}
	if got := tr.workspaces["ml"].used.total[resCPU]; got != 4000 {
		t.Errorf("used cpu %dm, want 4000m", got)
	}
}

func TestDeletionAdmitsNextInOrder(t *testing.T) {
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("2", "", "", -1).Policy(carvev1.QueueingFIFO).Obj())
	run := pod("run", "alice", "", 0, "2")
	tr.enqueue(run)
	tr.observe(bound(run, "n1"))
	// Created in order w1..w4, enqueued in a scrambled order.
	w := []*corev1.Pod{pod("w1", "alice", "", 1, "1"), pod("w2", "bob", "", 2, "1"), pod("w3", "alice", "", 3, "1"), pod("w4", "bob", "", 4, "1")}
	if got := enqueueAll(tr, w[2], w[0], w[3], w[1]); len(got) != 0 {
		t.Fatalf("admitted %v with a full quota", got)
	}
	if diff := cmp.Diff([]string{"alice/w1", "bob/w2"}, names(started(tr.forget(run)))); diff != "" {
		t.Errorf("admitted after the running pod went (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"alice/w3"}, names(started(tr.forget(w[0])))); diff != "" {
		t.Errorf("admitted after w1 went (-want +got):\n%s", diff)
	}
	// Forgetting twice (informer and hint both report it) frees nothing more.
	if _, got := tr.forget(w[0]); len(got) != 0 {
		t.Errorf("second forget of w1 admitted %v", names(got))
	}
	if !tr.isAdmitted(w[2].UID) || tr.isAdmitted(w[3].UID) {
		t.Errorf("admitted w3=%v w4=%v, want true false", tr.isAdmitted(w[2].UID), tr.isAdmitted(w[3].UID))
	}
}

func TestRaisingQuotaAdmitsMore(t *testing.T) {
	ws := ut.MakeWorkspace("ml", "small").Quota("", "", "1", -1)
	tr := newTestTracker(ws.Obj())
	var pods []*corev1.Pod
	for i := range 5 {
		p := ut.MakePod(fmt.Sprintf("g%d", i), "alice").UID(fmt.Sprint("g", i)).Workspace("ml", "").
			Created(t0.Add(time.Duration(i)*time.Minute)).Container("main", "1", "1Gi").GPU("nvidia.com/gpu", "1").Obj()
		pods = append(pods, p)
	}
	if diff := cmp.Diff([]string{"alice/g0"}, enqueueAll(tr, pods...)); diff != "" {
		t.Fatalf("admitted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"alice/g1", "alice/g2"}, names(tr.setWorkspace(ws.Quota("", "", "3", -1).Obj()))); diff != "" {
		t.Errorf("admitted after raising gpu quota to 3 (-want +got):\n%s", diff)
	}
	// Lowering below usage admits nothing and revokes nothing.
	if got := tr.setWorkspace(ws.Quota("", "", "1", -1).Obj()); len(got) != 0 {
		t.Errorf("lowering the quota admitted %v", names(got))
	}
	if !tr.isAdmitted(pods[2].UID) {
		t.Error("lowering the quota revoked an admitted pod")
	}
	// Freeing one of three held GPUs while the cap is 1 still admits none.
	if _, got := tr.forget(pods[0]); len(got) != 0 {
		t.Errorf("freed to 2 of cap 1, admitted %v", names(got))
	}
	// Deleting the workspace lifts every cap.
	if diff := cmp.Diff([]string{"alice/g3", "alice/g4"}, names(tr.deleteWorkspace("ml"))); diff != "" {
		t.Errorf("admitted after the workspace was deleted (-want +got):\n%s", diff)
	}
}

func TestBigPodDoesNotBlockSmallOnes(t *testing.T) {
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("4", "", "", -1).Obj())
	hold := pod("hold", "alice", "", 0, "3")
	big, small := pod("big", "alice", "", 1, "2"), pod("small", "alice", "", 2, "1")
	if diff := cmp.Diff([]string{"alice/hold", "alice/small"}, enqueueAll(tr, hold, big, small)); diff != "" {
		t.Fatalf("admitted (-want +got):\n%s", diff)
	}
	q := tr.queue("ml")
	if len(q) != 1 || q[0].pod.Name != "big" || q[0].position != 1 {
		t.Fatalf("queue = %+v, want big first", q)
	}
}

func TestFairShareAlternatesProjects(t *testing.T) {
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("4", "", "", -1).Obj())
	// alice submitted all her pods before bob submitted any.
	var pods []*corev1.Pod
	for i := range 6 {
		pods = append(pods, pod(fmt.Sprint("a", i), "alice", "", i, "1"))
	}
	for i := range 6 {
		pods = append(pods, pod(fmt.Sprint("b", i), "bob", "", 10+i, "1"))
	}
	enqueueAll(tr, pods...)
	// The first four were admitted in creation order (all alice); from then
	// on each freed CPU goes to the project with the smaller share.
	var order []string
	running := []*corev1.Pod{pods[0], pods[1], pods[2], pods[3]}
	for len(running) > 0 {
		_, next := tr.forget(running[0])
		running = append(running[1:], next...)
		order = append(order, names(next)...)
	}
	want := []string{"bob/b0", "bob/b1", "alice/a4", "alice/a5", "bob/b2", "bob/b3", "bob/b4", "bob/b5"}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("admission order (-want +got):\n%s", diff)
	}
}

func TestFIFOIgnoresShares(t *testing.T) {
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("1", "", "", -1).Policy(carvev1.QueueingFIFO).Obj())
	a0, a1, b0 := pod("a0", "alice", "", 0, "1"), pod("a1", "alice", "", 1, "1"), pod("b0", "bob", "", 2, "1")
	enqueueAll(tr, a0, b0, a1)
	if diff := cmp.Diff([]string{"alice/a1"}, names(started(tr.forget(a0)))); diff != "" {
		t.Errorf("FIFO admitted (-want +got):\n%s", diff)
	}
}

func TestPriorityFirst(t *testing.T) {
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("1", "", "", -1).Obj())
	run := pod("run", "alice", "", 0, "1")
	low := pod("low", "alice", "", 1, "1")
	high := ut.MakePod("high", "alice").UID("high").Workspace("ml", "").Created(t0.Add(time.Hour)).Priority(1000).Container("main", "1", "1Gi").Obj()
	enqueueAll(tr, run, low, high)
	if diff := cmp.Diff([]string{"alice/high"}, names(started(tr.forget(run)))); diff != "" {
		t.Errorf("admitted (-want +got):\n%s", diff)
	}
}

func TestTeamSharesBeforeProjects(t *testing.T) {
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("4", "", "", -1).Obj())
	// Team nlp already holds 3 CPUs through two projects; vision holds 0.
	for i, ns := range []string{"nlp-1", "nlp-2", "nlp-1"} {
		p := pod(fmt.Sprint("r", i), ns, "nlp", i, "1")
		tr.enqueue(p)
		tr.observe(bound(p, "n1"))
	}
	nlp := pod("x", "nlp-2", "nlp", 10, "1")
	vision := pod("y", "vision-1", "vision", 11, "1")
	filler := pod("f", "other", "", 5, "1")
	enqueueAll(tr, filler) // fills the last CPU
	enqueueAll(tr, nlp, vision)
	if diff := cmp.Diff([]string{"vision-1/y"}, names(started(tr.forget(filler)))); diff != "" {
		t.Errorf("admitted (-want +got):\n%s", diff)
	}
}

// A project without a team competes as a team of one: holding 2 of 4 CPUs it
// waits behind a team project whose team holds 1.
func TestTeamlessProjectIsATeamOfOne(t *testing.T) {
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("4", "", "", -1).Obj())
	for i, ns := range []string{"solo", "solo", "vision-1"} {
		team := ""
		if ns == "vision-1" {
			team = "vision"
		}
		p := pod(fmt.Sprint("r", i), ns, team, i, "1")
		tr.enqueue(p)
		tr.observe(bound(p, "n1"))
	}
	filler := pod("f", "solo", "", 5, "1")
	enqueueAll(tr, filler) // fills the last CPU; solo now holds 3
	solo := pod("x", "solo", "", 10, "1")
	vision := pod("y", "vision-1", "vision", 11, "1")
	enqueueAll(tr, solo, vision)
	if diff := cmp.Diff([]string{"vision-1/y"}, names(started(tr.forget(filler)))); diff != "" {
		t.Errorf("admitted (-want +got):\n%s", diff)
	}
}

func TestRestartNeverAdmitsPastQuota(t *testing.T) {
	ws := ut.MakeWorkspace("ml", "small").Quota("2", "", "", -1).Obj()
	// A new scheduler first sees the Workspace and the bound pods (its
	// informers sync before it accepts pods), then PreEnqueue for pending
	// ones: they must wait.
	tr := newTestTracker(ws)
	tr.observe(bound(pod("r1", "alice", "", 0, "1"), "n1"))
	tr.observe(bound(pod("r2", "bob", "", 1, "1"), "n2"))
	if got := enqueueAll(tr, pod("p", "alice", "", 2, "1")); len(got) != 0 {
		t.Errorf("admitted %v with the quota held by bound pods", got)
	}
	// A pending pod seen by the informer is not admitted behind the queue's
	// back.
	tr.observe(pod("q", "bob", "", 3, "1"))
	if tr.isAdmitted("uid-bob-q") {
		t.Error("observe admitted a pending pod")
	}
}

// After a restart the informer lists pending pods in no particular order;
// they must start in queue order (priority first, then fair share), not in
// the order they were listed.
func TestRestartAdmitsInQueueOrder(t *testing.T) {
	ws := ut.MakeWorkspace("ml", "small").Quota("3", "", "", -1).Obj()
	tr := newTracker(func() time.Time { return t0 })
	tr.beginStartup()
	addTestNamespaces(tr)
	var listed []*corev1.Pod
	for i := range 12 {
		p := pod(fmt.Sprint("p", i), "alice", "", i, "1")
		p.Spec.Priority = ptr.To(int32(i % 4)) // p3, p7, p11 have the top priority
		listed = append(listed, p)
	}
	told := listed[7].DeepCopy()
	told.Status.Conditions = []corev1.PodCondition{{Type: carvev1.PodConditionAdmitted, Status: corev1.ConditionFalse}}
	listed[7] = told
	tr.observe(bound(pod("run", "bob", "", 0, "0"), "n1"))
	for _, p := range listed {
		tr.observe(p)
	}
	tr.setWorkspace(ws) // the Workspace may be listed after the pods
	if diff := cmp.Diff([]string{"alice/p3", "alice/p7", "alice/p11"}, names(tr.finishStartup())); diff != "" {
		t.Errorf("admitted at start (-want +got):\n%s", diff)
	}
	// kube-scheduler then asks PreEnqueue in its informer's order.
	if diff := cmp.Diff([]string{"alice/p3", "alice/p7", "alice/p11"}, enqueueAll(tr, listed...)); diff != "" {
		t.Errorf("PreEnqueue admitted (-want +got):\n%s", diff)
	}
	// Only the pod that had been told to wait is reported as started.
	if diff := cmp.Diff([]string{"alice/p7"}, startedNames(tr.drainStarted())); diff != "" {
		t.Errorf("started for the status writer (-want +got):\n%s", diff)
	}
}

func TestDeletedPodNeverHoldsQuota(t *testing.T) {
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("1", "", "", -1).Obj())
	p := pod("p", "alice", "", 0, "1")
	tr.forget(p) // the informer saw the deletion first
	if _, ok, _ := tr.enqueue(p); !ok {
		t.Error("a late PreEnqueue of a deleted pod should pass without holding quota")
	}
	if got := tr.workspaces["ml"].used.total; got != (amounts{}) {
		t.Errorf("deleted pod holds %v", got)
	}
	if got := enqueueAll(tr, pod("next", "alice", "", 1, "1")); len(got) != 1 {
		t.Error("the next pod waits behind a deleted one")
	}
}

func TestResizeDownAdmits(t *testing.T) {
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("4", "", "", -1).Obj())
	big := pod("big", "alice", "", 0, "4")
	tr.enqueue(big)
	tr.observe(bound(big, "n1"))
	next := pod("next", "alice", "", 1, "2")
	enqueueAll(tr, next)
	smaller := bound(big, "n1")
	smaller.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resourceQuantity("2")
	if diff := cmp.Diff([]string{"alice/next"}, names(tr.observe(smaller))); diff != "" {
		t.Errorf("admitted after a resize down (-want +got):\n%s", diff)
	}
}

func TestUnknownWorkspaceAdmits(t *testing.T) {
	tr := newTracker(func() time.Time { return t0 })
	tr.setNamespace("x", identity{workspace: "nowhere"})
	p := ut.MakePod("p", "x").UID("p").Workspace("nowhere", "").Container("c", "64", "1Ti").Obj()
	if _, ok, _ := tr.enqueue(p); !ok {
		t.Error("a pod of a workspace with no Workspace object was held")
	}
}

func TestCollectDropsVanishedPods(t *testing.T) {
	now := t0
	tr := newTracker(func() time.Time { return now })
	tr.setWorkspace(ut.MakeWorkspace("ml", "small").Quota("1", "", "", -1).Obj())
	addTestNamespaces(tr)
	lost := pod("lost", "alice", "", 0, "1")
	tr.enqueue(lost)
	waiting := pod("w", "alice", "", 1, "1")
	tr.enqueue(waiting)
	exists := func(p *corev1.Pod) bool { return p.UID != lost.UID }
	if got := tr.collect(exists, now.Add(-time.Minute)); len(got) != 0 {
		t.Errorf("collect dropped young entries, admitting %v", names(got))
	}
	now = now.Add(2 * time.Minute)
	if diff := cmp.Diff([]string{"alice/w"}, names(tr.collect(exists, now.Add(-time.Minute)))); diff != "" {
		t.Errorf("collect admitted (-want +got):\n%s", diff)
	}
}

func resourceQuantity(s string) resource.Quantity { return resource.MustParse(s) }

// A pod's workspace and team are its namespace's, whatever its own labels
// say: a pod labelled for workspace ml in a namespace outside every
// workspace spends none of ml's quota, and one in a namespace of another
// workspace spends that workspace's.
func TestIdentityComesFromTheNamespace(t *testing.T) {
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("1", "", "", -1).Obj())
	tr.setWorkspace(ut.MakeWorkspace("cv", "small").Quota("8", "", "", -1).Obj())
	tr.setNamespace("default", identity{})
	tr.setNamespace("cv-1", identity{workspace: "cv", team: "vision"})

	foreign := ut.MakePod("squat", "default").UID("squat").Workspace("ml", "nlp").Container("c", "64", "1Gi").Obj()
	if ws, ok, _ := tr.enqueue(foreign); !ok || ws != "" {
		t.Errorf("a labelled pod outside every workspace: enqueue = %q, %v; want it let through, in no workspace", ws, ok)
	}
	tr.observe(bound(foreign, "n1"))
	other := ut.MakePod("other", "cv-1").UID("other").Workspace("ml", "nlp").Container("c", "2", "1Gi").Obj()
	if ws, ok, _ := tr.enqueue(other); !ok || ws != "cv" {
		t.Errorf("a pod labelled ml in a namespace of cv: enqueue = %q, %v; want admitted in cv", ws, ok)
	}
	if got := tr.workspaces["ml"].used.total; got != (amounts{}) {
		t.Errorf("ml holds %v for pods that are not its own", got)
	}
	if got := tr.workspaces["cv"].used.team["vision"][resCPU]; got != 2000 {
		t.Errorf("team vision of cv holds %dm CPU, want 2000m (the namespace's team, not the pod's label)", got)
	}
	if diff := cmp.Diff([]string{"alice/a"}, enqueueAll(tr, pod("a", "alice", "", 0, "1"))); diff != "" {
		t.Errorf("ml's own pod (-want +got):\n%s", diff)
	}
}

// A pod whose namespace the plugin has not seen yet waits for it instead of
// being scheduled unaccounted; the namespace's arrival decides it.
func TestUnknownNamespaceWaits(t *testing.T) {
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("1", "", "", -1).Obj())
	early := ut.MakePod("early", "new").UID("early").Workspace("ml", "").Container("c", "1", "1Gi").Obj()
	ws, ok, v := tr.enqueue(early)
	if ok || ws != "" || v.scope != scopeNamespace {
		t.Fatalf("enqueue before the namespace is known = %q, %v, %+v; want held for the namespace", ws, ok, v)
	}
	if got, want := v.message(ws, 0), "waiting for carve-scheduler to see namespace new"; !strings.HasPrefix(got, want) {
		t.Errorf("message %q, want it to start with %q", got, want)
	}
	if _, ok, _ := tr.enqueue(early); ok {
		t.Error("a second PreEnqueue let the pod through before its namespace was seen")
	}
	touched, woken := tr.setNamespace("new", identity{workspace: "ml"})
	if diff := cmp.Diff([]string{"new/early"}, names(woken)); diff != "" {
		t.Errorf("woken when the namespace arrived (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ml"}, touched); diff != "" {
		t.Errorf("workspaces touched (-want +got):\n%s", diff)
	}
	if ws, ok, _ := tr.enqueue(early); !ok || ws != "ml" {
		t.Errorf("enqueue once the namespace is known = %q, %v; want admitted in ml", ws, ok)
	}

	// A namespace outside every workspace lets its waiting pod go.
	stray := ut.MakePod("stray", "plain").UID("stray").Workspace("ml", "").Container("c", "1", "1Gi").Obj()
	tr.enqueue(stray)
	if _, woken := tr.setNamespace("plain", identity{}); len(woken) != 1 {
		t.Errorf("a pod waiting for a namespace outside every workspace was not woken: %v", names(woken))
	}
	if _, ok, _ := tr.enqueue(stray); !ok {
		t.Error("a pod in a namespace outside every workspace was held")
	}
}

// Relabelling a namespace moves what its pods hold to the new workspace,
// and the old workspace's waiting pods get the room.
func TestNamespaceMovesWorkspace(t *testing.T) {
	tr := newTestTracker(ut.MakeWorkspace("ml", "small").Quota("1", "", "", -1).Obj())
	tr.setWorkspace(ut.MakeWorkspace("cv", "small").Quota("4", "", "", -1).Obj())
	run, held := pod("run", "alice", "", 0, "1"), pod("held", "bob", "", 1, "1")
	enqueueAll(tr, run, held)
	tr.observe(bound(run, "n1"))
	_, woken := tr.setNamespace("alice", identity{workspace: "cv", team: "vision"})
	if diff := cmp.Diff([]string{"bob/held"}, names(woken)); diff != "" {
		t.Errorf("admitted when alice left ml (-want +got):\n%s", diff)
	}
	if got := tr.workspaces["cv"].used.team["vision"][resCPU]; got != 1000 {
		t.Errorf("cv's team vision holds %dm CPU after alice joined it, want 1000m", got)
	}
	// Leaving every workspace: the pod counts nowhere; back in ml, it counts again.
	tr.setNamespace("alice", identity{})
	if got := tr.workspaces["cv"].used.total; got != (amounts{}) {
		t.Errorf("cv holds %v after alice left every workspace", got)
	}
	tr.setNamespace("alice", identity{workspace: "ml"})
	if got := tr.workspaces["ml"].used.total[resCPU]; got != 2000 {
		t.Errorf("ml holds %dm CPU with both pods back, want 2000m (running pods are never revoked)", got)
	}
}

// The state of a workspace without an object goes once nothing is in it.
func TestWorkspaceStateIsPruned(t *testing.T) {
	tr := newTracker(func() time.Time { return t0 })
	tr.setNamespace("tmp", identity{workspace: "gone"})
	p := ut.MakePod("p", "tmp").UID("p").Workspace("gone", "").Container("c", "1", "1Gi").Obj()
	tr.enqueue(p)
	tr.observe(bound(p, "n1"))
	tr.forget(p)
	tr.deleteNamespace("tmp")
	if len(tr.workspaces) != 0 || len(tr.entries) != 0 || len(tr.projects) != 0 {
		t.Errorf("left behind: %d workspaces, %d entries, %d projects", len(tr.workspaces), len(tr.entries), len(tr.projects))
	}
}
