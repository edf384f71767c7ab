package workspacequeue

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/apis/config"
	"github.com/carve-dev/carve/pkg/scheduler/leader"
)

// statusWriter tells users why their pods wait: the carve.dev/Admitted
// condition and an event on each held pod, with the quota that is short and
// the pod's place in the queue. It never floods the API server: a change of
// reason (which quota, resource, cap or need) is written at once, a change of
// place or of the amount in use at most every interval per pod, all writes
// share one rate limit, and pods at the front of a queue are written first.
type statusWriter struct {
	client   kubernetes.Interface
	recorder events.EventRecorder
	tracker  *tracker
	interval time.Duration
	limiter  *rate.Limiter
	now      func() time.Time

	// estimates are the last wait estimates of each workspace, made at
	// most every estimateEvery.
	estimates map[string]estimated
	// noEstimates leaves them out (tests of the rest of the message).
	noEstimates bool

	kick    chan struct{}
	mu      sync.Mutex
	dirty   map[string]bool
	written map[types.UID]*written
}

// estimateEvery is how often a workspace's wait estimates are made again.
const estimateEvery = 5 * time.Second

type estimated struct {
	next  time.Time
	start map[types.UID]time.Time
	// waiting are the pods that waited when they were made.
	waiting map[types.UID]bool
}

// estimateOf is the expected start of a waiting pod, if there is one.
func (s *statusWriter) estimateOf(ws string, uid types.UID, now time.Time) (time.Time, bool) {
	if s.estimates == nil {
		s.estimates = map[string]estimated{}
	}
	e, ok := s.estimates[ws]
	// Made again when due, and for a pod that did not wait then (it would
	// otherwise say nothing of its start until they are due).
	if !ok || !now.Before(e.next) || !e.waiting[uid] {
		began := time.Now()
		e = estimated{start: s.tracker.estimates(ws, lifetimes{configured: defaultLifetimes}), waiting: map[types.UID]bool{}}
		for _, w := range s.tracker.queue(ws) {
			e.waiting[w.pod.UID] = true
		}
		// Never more than 5 % of a core on a long queue's estimates.
		e.next = now.Add(max(estimateEvery, 20*time.Since(began)))
		s.estimates[ws] = e
	}
	t, ok := e.start[uid]
	return t, ok
}

// withEstimate adds the expected start to a waiting pod's message, to the
// next 5 minutes.
func withEstimate(msg string, start, now time.Time) string {
	if !start.After(now) {
		return msg + "; expected to start within minutes"
	}
	r := start.UTC().Add(5*time.Minute - time.Nanosecond).Truncate(5 * time.Minute)
	return msg + "; expected to start around " + r.Format("2006-01-02 15:04 MST")
}

// written is what the writer last wrote on a pod.
type written struct {
	message string
	// reason is the verdict the message was written from, without the
	// amount in use: a different quota, resource, cap or need.
	reason reasonKey
	at     time.Time
	since  metav1.Time
}

// reasonKey is the part of a verdict whose change is written at once.
type reasonKey struct {
	v    verdict
	hold budgetHold
}

func reasonOf(v verdict) reasonKey {
	k := reasonKey{v: v}
	if v.budget != nil {
		k.hold = *v.budget
		k.v.budget = nil
	}
	k.v.used = 0
	return k
}

func newStatusWriter(client kubernetes.Interface, recorder events.EventRecorder, t *tracker, args *config.WorkspaceQueueArgs) *statusWriter {
	qps := float64(args.StatusUpdatesPerSecond)
	return &statusWriter{
		client:   client,
		recorder: recorder,
		tracker:  t,
		interval: args.StatusUpdateInterval.Duration,
		limiter:  rate.NewLimiter(rate.Limit(qps), int(args.StatusUpdatesPerSecond)),
		now:      time.Now,
		kick:     make(chan struct{}, 1),
		dirty:    map[string]bool{},
		written:  map[types.UID]*written{},
	}
}

// forget drops what was written on a pod that is gone.
func (s *statusWriter) forget(uid types.UID) {
	s.mu.Lock()
	delete(s.written, uid)
	s.mu.Unlock()
}

// changed marks a workspace's queue as changed.
func (s *statusWriter) changed(workspace string) {
	s.mu.Lock()
	s.dirty[workspace] = true
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *statusWriter) run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	tick := s.interval
	if tick <= 0 {
		tick = time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	leading := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
		case <-leader.Changed():
		}
		// Only the replica that schedules writes (package leader); one
		// that starts leading writes every queue, as nothing it saw while
		// standing by was written.
		if now := leader.Leading(); now != leading {
			leading = now
			logger.Info("Pod status writer", "leading", leading)
			if leading {
				s.mu.Lock()
				for _, ws := range s.tracker.workspaceNames() {
					s.dirty[ws] = true
				}
				s.mu.Unlock()
			}
		}
		if !leading {
			// The leader writes these.
			s.tracker.drainStarted()
			continue
		}
		s.flush(ctx, logger)
	}
}

// flush writes what is due for every changed workspace; a workspace with
// writes left over (rate limit, interval) stays marked for the next round.
func (s *statusWriter) flush(ctx context.Context, logger klog.Logger) {
	s.mu.Lock()
	dirty := make([]string, 0, len(s.dirty))
	for ws := range s.dirty {
		dirty = append(dirty, ws)
	}
	clear(s.dirty)
	s.mu.Unlock()
	sort.Strings(dirty)

	for _, p := range s.tracker.drainStarted() {
		s.admitted(ctx, logger, p.pod, p.workspace)
	}
	for _, ws := range dirty {
		if !s.flushWorkspace(ctx, logger, ws) {
			s.mu.Lock()
			s.dirty[ws] = true
			s.mu.Unlock()
		}
	}
}

// flushWorkspace writes the due updates of one queue, front first, and
// reports whether nothing is left to write.
func (s *statusWriter) flushWorkspace(ctx context.Context, logger klog.Logger, ws string) bool {
	queue := s.tracker.queue(ws)
	done := true
	now := s.now()
	for _, w := range queue {
		msg := w.verdict.message(ws, w.position)
		if w.verdict.budget == nil && !s.noEstimates {
			if start, ok := s.estimateOf(ws, w.pod.UID, now); ok {
				msg = withEstimate(msg, start, now)
			}
		}
		s.mu.Lock()
		last := s.written[w.pod.UID]
		if last == nil {
			// Written before this process led (or started): keep it.
			if c := admittedCondition(w.pod); c != nil && c.Status == corev1.ConditionFalse && c.Message == msg {
				last = &written{message: msg, reason: reasonOf(w.verdict), at: now, since: c.LastTransitionTime}
				s.written[w.pod.UID] = last
			}
		}
		s.mu.Unlock()
		if last != nil && last.message == msg {
			continue
		}
		if last != nil && last.reason == reasonOf(w.verdict) && now.Sub(last.at) < s.interval {
			// Only the amount in use or the place changed: not more
			// often than interval. A new reason (another quota short, a
			// cap raised or lowered) is written at once.
			done = false
			continue
		}
		if !s.limiter.Allow() {
			return false
		}
		since := metav1.NewTime(now)
		if last != nil {
			since = last.since
		}
		if err := s.patch(ctx, w.pod, corev1.ConditionFalse, w.verdict.reason(), msg, since); err != nil {
			if !apierrors.IsNotFound(err) {
				logger.V(2).Info("Could not write a waiting pod's condition", "pod", klog.KObj(w.pod), "err", err)
				done = false
			}
			continue
		}
		s.recorder.Eventf(w.pod, nil, corev1.EventTypeNormal, w.verdict.reason(), "Queue", msg)
		s.mu.Lock()
		s.written[w.pod.UID] = &written{message: msg, reason: reasonOf(w.verdict), at: now, since: since}
		s.mu.Unlock()
	}
	return done
}

// admitted turns a pod's condition True once it leaves the queue, if the
// pod was ever told it waits.
func (s *statusWriter) admitted(ctx context.Context, logger klog.Logger, pod *corev1.Pod, workspace string) {
	s.mu.Lock()
	last, ok := s.written[pod.UID]
	delete(s.written, pod.UID)
	s.mu.Unlock()
	if !ok {
		// Told it waits by an earlier leader (or before a restart)?
		c := admittedCondition(pod)
		if c == nil || c.Status != corev1.ConditionFalse {
			return
		}
		last = &written{since: c.LastTransitionTime}
	}
	waited := s.now().Sub(last.since.Time).Round(time.Second)
	msg := fmt.Sprintf("admitted to the quota of workspace %s after waiting %s", workspace, waited)
	// Admission is always written: a stale "waiting" would mislead.
	_ = s.limiter.Wait(ctx)
	if err := s.patch(ctx, pod, corev1.ConditionTrue, carvev1.ReasonAdmitted, msg, metav1.NewTime(s.now())); err != nil && !apierrors.IsNotFound(err) {
		logger.V(2).Info("Could not write an admitted pod's condition", "pod", klog.KObj(pod), "err", err)
		return
	}
	s.recorder.Eventf(pod, nil, corev1.EventTypeNormal, carvev1.ReasonAdmitted, "Admit", msg)
}

// admittedCondition is the pod's carve.dev/Admitted condition, if any.
func admittedCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == carvev1.PodConditionAdmitted {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// patch sets the carve.dev/Admitted condition with a strategic merge patch
// of the status, which merges conditions by type and leaves the others.
func (s *statusWriter) patch(ctx context.Context, pod *corev1.Pod, status corev1.ConditionStatus, reason, msg string, since metav1.Time) error {
	cond := corev1.PodCondition{
		Type:               carvev1.PodConditionAdmitted,
		Status:             status,
		Reason:             reason,
		Message:            msg,
		LastTransitionTime: since,
	}
	body, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.PodCondition{cond}}})
	if err != nil {
		return err
	}
	_, err = s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
	return err
}
