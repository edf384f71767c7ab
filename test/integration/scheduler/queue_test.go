package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// TestQuotaFilledNextWaits: the quota is exactly filled, the next pod waits
// with its reason and place, never marked Unschedulable, and starts in order
// when a running pod is deleted.
func TestQuotaFilledNextWaits(t *testing.T) {
	ws := ut.MakeWorkspace("wsq", "small").Quota("", "", "", 2).Policy(carvev1.QueueingFIFO).Obj()
	pool := setup(t, ws, []string{"wsq-alice"}, 1, "16", "64Gi")
	ns := "wsq-alice"
	create(t, workspacePod("wsq", ns, "p0", pool, "1"), workspacePod("wsq", ns, "p1", pool, "1"))
	waitBound(t, ns, "p0")
	waitBound(t, ns, "p1")
	create(t, workspacePod("wsq", ns, "p2", pool, "1"))
	create(t, workspacePod("wsq", ns, "p3", pool, "1"))
	p2 := waitWaiting(t, ns, "p2", "waiting for workspace wsq quota: needs pods 1, 2/2 in use; 1st in queue")
	waitWaiting(t, ns, "p3", "waiting for workspace wsq quota: needs pods 1, 2/2 in use; 2nd in queue")
	if c := condition(p2, corev1.PodScheduled); c != nil {
		t.Errorf("a pod held for quota has PodScheduled %s/%s: the autoscaler would act on it", c.Status, c.Reason)
	}
	waitFor(t, "a WaitingForQuota event on p2", func(ctx context.Context) (bool, error) {
		evs, err := k8s.EventsV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("regarding.name", "p2").String()})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == carvev1.ReasonWaitingForQuota && strings.Contains(e.Note, "1st in queue") {
				return true, nil
			}
		}
		return false, nil
	})

	deletePod(t, ns, "p0")
	waitBound(t, ns, "p2")
	waitWaiting(t, ns, "p3", "waiting for workspace wsq quota: needs pods 1, 2/2 in use; 1st in queue")
	waitFor(t, "p2's condition turning Admitted", func(ctx context.Context) (bool, error) {
		p, err := getPod(ctx, ns, "p2")
		if err != nil {
			return false, err
		}
		c := condition(p, carvev1.PodConditionAdmitted)
		return c != nil && c.Status == corev1.ConditionTrue && c.Reason == carvev1.ReasonAdmitted, nil
	})
	if p, _ := getPod(t.Context(), ns, "p3"); p.Spec.NodeName != "" {
		t.Errorf("p3 bound to %s while the quota was full", p.Spec.NodeName)
	}
}

// TestRaisingQuotaAdmitsMore: raising the Workspace's quota wakes exactly as
// many held pods as now fit.
func TestRaisingQuotaAdmitsMore(t *testing.T) {
	ws := ut.MakeWorkspace("wsr", "small").Quota("2", "", "", -1).Obj()
	pool := setup(t, ws, []string{"wsr-alice"}, 1, "16", "64Gi")
	ns := "wsr-alice"
	for i := range 5 {
		create(t, workspacePod("wsr", ns, fmt.Sprint("p", i), pool, "1"))
	}
	waitBound(t, ns, "p0")
	waitBound(t, ns, "p1")
	waitWaiting(t, ns, "p4", "waiting for workspace wsr quota: needs cpu 1, 2/2 in use; 3rd in queue")

	if err := cl.Get(t.Context(), client.ObjectKeyFromObject(ws), ws); err != nil {
		t.Fatal(err)
	}
	ws.Spec.Quota = ut.MakeQuota("4", "", "", -1)
	if err := cl.Update(t.Context(), ws); err != nil {
		t.Fatal(err)
	}
	waitBound(t, ns, "p2")
	waitBound(t, ns, "p3")
	waitWaiting(t, ns, "p4", "waiting for workspace wsr quota: needs cpu 1, 4/4 in use; 1st in queue")
}

// TestQuotaHeldPodNeverUnschedulable: a pod held by quota never gets
// PodScheduled=False/Unschedulable, while a pod inside quota that no node
// fits does (that one is what should make the autoscaler buy a node).
func TestQuotaHeldPodNeverUnschedulable(t *testing.T) {
	ws := ut.MakeWorkspace("wsu", "small").Quota("", "", "", 1).Obj()
	pool := setup(t, ws, []string{"wsu-alice"}, 1, "4", "16Gi")
	setup(t, ut.MakeWorkspace("wsu2", "small").Obj(), []string{"wsu-bob"}, 0, "", "") // no quota

	create(t, workspacePod("wsu", "wsu-alice", "running", pool, "1"))
	waitBound(t, "wsu-alice", "running")
	create(t, workspacePod("wsu", "wsu-alice", "held", pool, "1"))
	// In quota (its workspace has none) but bigger than any node.
	create(t, workspacePod("wsu2", "wsu-bob", "toobig", pool, "64"))
	waitFor(t, "toobig marked Unschedulable", func(ctx context.Context) (bool, error) {
		p, err := getPod(ctx, "wsu-bob", "toobig")
		if err != nil {
			return false, err
		}
		c := condition(p, corev1.PodScheduled)
		return c != nil && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable, nil
	})
	held := waitWaiting(t, "wsu-alice", "held", "waiting for workspace wsu quota: needs pods 1, 1/1 in use; 1st in queue")
	if c := condition(held, corev1.PodScheduled); c != nil {
		t.Errorf("held pod has PodScheduled %s/%s", c.Status, c.Reason)
	}
}

// TestEqualProjectsGetEqualShares: under contention, two projects of one
// workspace converge to equal shares of its quota, whoever submitted first.
func TestEqualProjectsGetEqualShares(t *testing.T) {
	ws := ut.MakeWorkspace("wsf", "small").Quota("4", "", "", -1).Obj()
	pool := setup(t, ws, []string{"wsf-alice", "wsf-bob"}, 1, "16", "64Gi")
	var pods []*corev1.Pod
	for i := range 8 {
		pods = append(pods, workspacePod("wsf", "wsf-alice", fmt.Sprint("a", i), pool, "1"))
	}
	create(t, pods...)
	for i := range 4 {
		waitBound(t, "wsf-alice", fmt.Sprint("a", i))
	}
	for i := range 8 {
		create(t, workspacePod("wsf", "wsf-bob", fmt.Sprint("b", i), pool, "1"))
	}
	waitWaiting(t, "wsf-bob", "b7", "waiting for workspace wsf quota: needs cpu 1, 4/4 in use; 8th in queue")

	// Finish the oldest running pod, one at a time, and watch who starts.
	running := []string{"wsf-alice/a0", "wsf-alice/a1", "wsf-alice/a2", "wsf-alice/a3"}
	var started []string
	for step := range 8 {
		ns, name, _ := strings.Cut(running[0], "/")
		deletePod(t, ns, name)
		running = running[1:]
		var next string
		waitFor(t, fmt.Sprintf("a pod to start after step %d", step), func(ctx context.Context) (bool, error) {
			list, err := k8s.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: carvev1.LabelWorkspace + "=wsf"})
			if err != nil {
				return false, err
			}
			for _, p := range list.Items {
				key := p.Namespace + "/" + p.Name
				if p.Spec.NodeName != "" && p.DeletionTimestamp == nil && !contains(running, key) && !contains(started, key) && !contains([]string{"wsf-alice/a0", "wsf-alice/a1", "wsf-alice/a2", "wsf-alice/a3"}, key) {
					next = key
					return true, nil
				}
			}
			return false, nil
		})
		started = append(started, next)
		running = append(running, next)
		alice, bob := count(running, "wsf-alice/"), count(running, "wsf-bob/")
		// From the second start on, each project holds half the quota.
		if step >= 1 && (alice != 2 || bob != 2) {
			t.Errorf("after step %d running %v: alice holds %d, bob %d", step, running, alice, bob)
		}
	}
	want := []string{"wsf-bob/b0", "wsf-bob/b1", "wsf-alice/a4", "wsf-alice/a5", "wsf-bob/b2", "wsf-bob/b3", "wsf-alice/a6", "wsf-alice/a7"}
	if diff := cmp.Diff(want, started); diff != "" {
		t.Errorf("start order (-want +got):\n%s", diff)
	}
	if alice, bob := count(running, "wsf-alice/"), count(running, "wsf-bob/"); alice != 2 || bob != 2 {
		t.Errorf("running at the end %v: want 2 and 2", running)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func count(list []string, prefix string) int {
	n := 0
	for _, x := range list {
		if strings.HasPrefix(x, prefix) {
			n++
		}
	}
	return n
}

// TestRestartMidBurst restarts the scheduler while a burst of pods works
// through a small quota: at no observed instant do bound pods exceed the
// quota, and every pod eventually runs.
func TestRestartMidBurst(t *testing.T) {
	const quota, total = 3, 24
	ws := ut.MakeWorkspace("wsb", "small").Quota("", "", "", quota).Obj()
	pool := setup(t, ws, []string{"wsb-alice", "wsb-bob"}, 2, "16", "64Gi")

	// Watch every pod of the workspace and record the most bound at once.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := k8s.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{LabelSelector: carvev1.LabelWorkspace + "=wsb"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	bound, everBound, maxBound := map[string]bool{}, map[string]bool{}, 0
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			key := p.Namespace + "/" + p.Name
			mu.Lock()
			if ev.Type == watch.Deleted {
				delete(bound, key)
			} else if p.Spec.NodeName != "" {
				bound[key], everBound[key] = true, true
			}
			maxBound = max(maxBound, len(bound))
			mu.Unlock()
		}
	}()

	// Finish bound pods as they start: each runs about 300ms.
	go func() {
		for ctx.Err() == nil {
			mu.Lock()
			var keys []string
			for k := range bound {
				keys = append(keys, k)
			}
			mu.Unlock()
			for _, k := range keys {
				ns, name, _ := strings.Cut(k, "/")
				_ = k8s.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
			}
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()

	for i := range total {
		ns := []string{"wsb-alice", "wsb-bob"}[i%2]
		create(t, workspacePod("wsb", ns, fmt.Sprint("p", i), pool, "1"))
	}
	waitFor(t, "a third of the burst to start", func(context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(everBound) >= total/3, nil
	})
	stopScheduler()
	if err := startScheduler(context.Background()); err != nil {
		t.Fatalf("restarting carve-scheduler: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpPods(t, carvev1.LabelWorkspace+"=wsb")
		}
	})
	waitFor(t, "every pod of the burst to start", func(context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(everBound) == total, nil
	})
	mu.Lock()
	defer mu.Unlock()
	if maxBound > quota {
		t.Errorf("at one instant %d pods were bound, quota is %d pods", maxBound, quota)
	}
	t.Logf("max bound at once: %d of quota %d; %d pods started", maxBound, quota, len(everBound))
}

// dumpPods logs the pods matching selector with their node and conditions.
func dumpPods(t *testing.T, selector string) {
	list, err := k8s.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Logf("listing pods: %v", err)
		return
	}
	for _, p := range list.Items {
		var conds []string
		for _, c := range p.Status.Conditions {
			conds = append(conds, fmt.Sprintf("%s=%s(%s: %s)", c.Type, c.Status, c.Reason, c.Message))
		}
		t.Logf("%s/%s node=%q phase=%s deleting=%v %v", p.Namespace, p.Name, p.Spec.NodeName, p.Status.Phase, p.DeletionTimestamp != nil, conds)
	}
}
