package workspacequeue

import (
	"container/heap"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// Wait estimates: when will a waiting pod start? The queue is simulated
// forward: the admitted pods of the workspace end when they are expected to,
// each end frees its quota, and the waiting pods start in queue order as
// room frees, each then running for its own expected time. A pod's expected
// run is, in order: its carve.dev/expected-duration annotation (a tool that
// knows, such as a pipeline, may set it); else what pods of its workload
// kind in the workspace ran lately, given how long it has run already (the
// median remaining run of the recent runs that lasted longer); else the
// kind's configured lifetime. The simulation keeps the queue order of the
// moment (fair share moves it as shares change) and knows nothing of pods
// yet to arrive, so a higher-priority arrival can only delay a pod.

// AnnotationExpectedDuration on a pod is how long it is expected to run.
const AnnotationExpectedDuration = carvev1.AnnotationExpectedDuration

// estimateAtMost is the most waiting pods of a workspace that get an
// estimate; the simulation is linear in them per admitted pod's end.
const estimateAtMost = 1000

// historySize is how many recent runs of each workload kind a workspace
// remembers; minHistory how many it needs before they replace the
// configured lifetime.
const (
	historySize = 256
	minHistory  = 10
)

// runs is a ring of recent run lengths.
type runs struct {
	d    []time.Duration
	next int
}

func (r *runs) add(d time.Duration) {
	if len(r.d) < historySize {
		r.d = append(r.d, d)
		return
	}
	r.d[r.next] = d
	r.next = (r.next + 1) % historySize
}

// lifetimes are what the estimator knows of how long pods run.
type lifetimes struct {
	// configured are the kinds' lifetimes (BinPack's lifetimes), "other"
	// for pods without a kind.
	configured map[string]time.Duration
}

// defaultLifetimes are used when the scheduler is not told (they are
// BinPack's defaults).
var defaultLifetimes = map[string]time.Duration{
	string(carvev1.WorkloadSession): 4 * time.Hour,
	string(carvev1.WorkloadJob):     30 * time.Minute,
	string(carvev1.WorkloadModel):   7 * 24 * time.Hour,
	string(carvev1.WorkloadOther):   7 * 24 * time.Hour,
}

func kindOf(pod *corev1.Pod) string {
	if k := pod.Labels[carvev1.LabelWorkload]; k != "" {
		return k
	}
	return string(carvev1.WorkloadOther)
}

// historyKey is what recent runs are kept by: the workload kind and the
// profile, so that a GPU training job is not expected to run like a
// five-minute CPU job.
func historyKey(pod *corev1.Pod) string {
	return kindOf(pod) + "/" + pod.Labels[carvev1.LabelProfile]
}

// historyOf is the recent runs of pods like pod: of its kind and profile,
// or when those are too few, of its kind.
func historyOf(history map[string][]time.Duration, pod *corev1.Pod) []time.Duration {
	if h := history[historyKey(pod)]; len(h) >= minHistory {
		return h
	}
	return history[kindOf(pod)]
}

// remaining is how much longer a pod that has run for elapsed is expected to
// run. history are recent complete runs of its kind (sorted).
func (l lifetimes) remaining(pod *corev1.Pod, elapsed time.Duration, history []time.Duration) time.Duration {
	if v, ok := pod.Annotations[AnnotationExpectedDuration]; ok {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			if d > elapsed {
				return d - elapsed
			}
			// Overdue: a quarter of what it was expected to take more.
			return d / 4
		}
	}
	if len(history) >= minHistory {
		// The runs that lasted longer than this one has so far: the median
		// of what they ran beyond it.
		i := sort.Search(len(history), func(i int) bool { return history[i] > elapsed })
		if longer := history[i:]; len(longer) > 0 {
			return longer[len(longer)/2] - elapsed
		}
		// Longer than every recent run: as long again as the longest.
		return history[len(history)-1] / 4
	}
	d, ok := l.configured[kindOf(pod)]
	if !ok {
		d = l.configured[string(carvev1.WorkloadOther)]
	}
	if d <= 0 {
		d = time.Hour
	}
	if d > elapsed {
		return d - elapsed
	}
	return d / 4
}

// arrivalWindow is how far back the arrivals are that the estimator
// expects to come again; arrivalsAtMost caps how many it keeps.
const (
	arrivalWindow  = time.Hour
	arrivalsAtMost = 4096
	// horizon is how far ahead the simulation expects arrivals, and
	// recentAtMost the most of the last hour's it repeats.
	horizon      = 12 * time.Hour
	recentAtMost = 500
)

// arrived records a new pod and forgets arrivals older than the window.
func (w *wsState) arrived(a arrival) {
	i := 0
	for i < len(w.arrivals) && a.at.Sub(w.arrivals[i].at) > arrivalWindow {
		i++
	}
	w.arrivals = append(w.arrivals[i:], a)
	if len(w.arrivals) > arrivalsAtMost {
		w.arrivals = w.arrivals[len(w.arrivals)-arrivalsAtMost:]
	}
}

// simPod is a pod in the simulation: e is what queue order reads.
type simPod struct {
	e       entry
	uid     types.UID
	req     amounts
	pod     *corev1.Pod
	end     time.Time
	started bool
}

type endHeap []*simPod

func (h endHeap) Len() int           { return len(h) }
func (h endHeap) Less(i, j int) bool { return h[i].end.Before(h[j].end) }
func (h endHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *endHeap) Push(x any)        { *h = append(*h, x.(*simPod)) }
func (h *endHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	*h = old[:len(old)-1]
	return p
}

// estimates simulates a workspace's queue forward from now and returns the
// expected start of each waiting pod it can place (pods held by a budget,
// and pods that never fit the quota, get none).
func (t *tracker) estimates(workspace string, l lifetimes) map[types.UID]time.Time {
	queue := t.queue(workspace)
	t.mu.Lock()
	w, ok := t.workspaces[workspace]
	if !ok || !w.known {
		t.mu.Unlock()
		return nil
	}
	now := t.now()
	q, used := w.quotas, w.used.clone()
	history := map[string][]time.Duration{}
	for key, r := range w.history {
		h := slices.Clone(r.d)
		slices.Sort(h)
		history[key] = h
	}
	// Pods to come: the last hour's arrivals, again every hour. They queue
	// behind the pods waiting now but, being smaller, may take room a big
	// pod waits for, as they would.
	var future []*simPod
	var recent []arrival
	for _, a := range w.arrivals {
		if now.Sub(a.at) <= arrivalWindow {
			recent = append(recent, a)
		}
	}
	if len(recent) > recentAtMost {
		recent = recent[len(recent)-recentAtMost:]
	}
	for k := time.Duration(1); k*arrivalWindow <= horizon && len(recent) > 0; k++ {
		for _, a := range recent {
			at := a.at.Add(k * arrivalWindow)
			future = append(future, &simPod{e: entry{team: a.team, project: a.project, priority: ptr.Deref(a.pod.Spec.Priority, 0), created: at, pod: a.pod},
				req: a.req, pod: a.pod, end: at})
		}
	}
	// The admitted pods, and how long each has run.
	type running struct {
		sim     simPod
		elapsed time.Duration
	}
	var admitted []running
	for _, ps := range t.projects {
		for _, e := range ps {
			if e.workspace != workspace || !e.admitted {
				continue
			}
			start := e.started
			if start.IsZero() {
				start = now
			}
			admitted = append(admitted, running{sim: simPod{e: entry{team: e.team, project: e.project}, uid: e.uid, req: e.req, pod: e.pod},
				elapsed: max(0, now.Sub(start))})
		}
	}
	t.mu.Unlock()

	var queued []simPod
	for _, wp := range queue {
		if len(queued) == estimateAtMost {
			break
		}
		if wp.verdict.budget != nil || wp.verdict.need > wp.verdict.max {
			continue
		}
		queued = append(queued, simPod{uid: wp.pod.UID, req: requestOf(wp.pod), pod: wp.pod,
			e: entry{project: wp.pod.Namespace, pod: wp.pod}})
	}
	// The team is the namespace's, as admission counts it.
	t.mu.Lock()
	for i := range queued {
		queued[i].e.team = t.namespaces[queued[i].e.project].team
	}
	t.mu.Unlock()

	// How long pods run is uncertain: each simulation draws every run from
	// the recent runs of its kind (given how long it has run), and a pod's
	// estimate is the median of its starts over the simulations, which is
	// what makes the absolute error smallest. The draws are seeded, so the
	// same state gives the same estimate.
	h := fnv.New64a()
	h.Write([]byte(workspace))
	rng := rand.New(rand.NewPCG(h.Sum64(), 0))
	starts := map[types.UID][]time.Time{}
	// Long queues get fewer simulations: the work of one grows with the
	// square of the queue.
	sims := simulations
	if n := len(queued); n > 200 {
		sims = max(3, simulations*200/n)
	}
	for range sims {
		ends := make(endHeap, 0, len(admitted))
		for _, r := range admitted {
			p := r.sim
			p.end = now.Add(l.draw(rng, p.pod, r.elapsed, historyOf(history, p.pod)))
			ends = append(ends, &p)
		}
		heap.Init(&ends)
		waiting := make([]*simPod, len(queued))
		for i := range queued {
			p := queued[i]
			waiting[i] = &p
		}
		use := used.clone()
		left := len(waiting)
		cur := now
		next := 0 // the next of future to arrive (its end holds the arrival)
		start := func(p *simPod) {
			p.started = true
			if p.uid != "" {
				left--
				starts[p.uid] = append(starts[p.uid], cur)
			}
			use.add(p.e.team, p.e.project, p.req)
			p.end = cur.Add(l.draw(rng, p.pod, 0, historyOf(history, p.pod)))
			heap.Push(&ends, p)
		}
		// After a pass over the waiting pods none of them fits, as in
		// admitWaiting; an arrival then only needs its own check, and only
		// an end (room freed) needs a pass.
		pass := true
		for left > 0 {
			if pass {
				waiting = slices.DeleteFunc(waiting, func(p *simPod) bool { return p.started })
				for _, p := range waiting {
					if decide(q, use, p.e.team, p.e.project, p.req).admit {
						start(p)
					}
				}
			}
			if left == 0 || (ends.Len() == 0 && next == len(future)) {
				break
			}
			if next < len(future) && (ends.Len() == 0 || future[next].end.Before(ends[0].end)) {
				// A pod arrives: it starts if it fits, or waits behind the
				// others.
				cur = future[next].end
				p := *future[next]
				next++
				if decide(q, use, p.e.team, p.e.project, p.req).admit {
					start(&p)
				} else {
					waiting = append(waiting, &p)
				}
				pass = false
				continue
			}
			p := heap.Pop(&ends).(*simPod)
			cur = p.end
			use.sub(p.e.team, p.e.project, p.req)
			pass = true
		}
	}
	out := make(map[types.UID]time.Time, len(starts))
	for uid, ts := range starts {
		if len(ts) < sims/2+1 {
			// It did not start in most simulations: no estimate.
			continue
		}
		// Runs that never started count as later than every start.
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		out[uid] = ts[sims/2]
	}
	return out
}

// simulations is how many times the queue is simulated forward.
const simulations = 15

// draw is a random run length of a pod that has run for elapsed: one of the
// recent runs of its kind that lasted longer, minus elapsed; without enough
// of them, or with an expected duration set, remaining's.
func (l lifetimes) draw(rng *rand.Rand, pod *corev1.Pod, elapsed time.Duration, history []time.Duration) time.Duration {
	if _, set := pod.Annotations[AnnotationExpectedDuration]; set || len(history) < minHistory {
		return l.remaining(pod, elapsed, history)
	}
	i := sort.Search(len(history), func(i int) bool { return history[i] > elapsed })
	if longer := history[i:]; len(longer) > 0 {
		return longer[rng.IntN(len(longer))] - elapsed
	}
	return history[len(history)-1] / 4
}
