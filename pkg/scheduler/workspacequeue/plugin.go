package workspacequeue

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/apis/config"
	"github.com/carve-dev/carve/pkg/apis/config/validation"
	"github.com/carve-dev/carve/pkg/scheduler/leader"
)

// Name is the plugin's name in the scheduler configuration.
const Name = "WorkspaceQueue"

// workspaceEvents is the scheduler's name for Workspace events: kube-
// scheduler watches the resource itself (through a dynamic informer) once a
// plugin registers it.
const workspaceEvents fwk.EventResource = "workspaces.v1alpha1.carve.dev"

// WorkspaceQueue holds workspace pods that their quotas have no room for
// before they enter the scheduling queue, and orders the rest fairly.
type WorkspaceQueue struct {
	handle  fwk.Handle
	args    *config.WorkspaceQueueArgs
	tracker *tracker
	status  *statusWriter
	// wsStatus writes Workspace status (wsstatus.go).
	wsStatus *wsStatusWriter
	// metering meters workspace pods (meter.go).
	metering *metering
}

var (
	_ fwk.PreEnqueuePlugin  = (*WorkspaceQueue)(nil)
	_ fwk.QueueSortPlugin   = (*WorkspaceQueue)(nil)
	_ fwk.ReservePlugin     = (*WorkspaceQueue)(nil)
	_ fwk.EnqueueExtensions = (*WorkspaceQueue)(nil)
)

// New builds the plugin. It rebuilds its accounting from the API (pods that
// are bound and not finished hold quota) before it returns, so a restarted
// scheduler never admits past a quota.
func New(ctx context.Context, obj runtime.Object, handle fwk.Handle) (fwk.Plugin, error) {
	args, ok := obj.(*config.WorkspaceQueueArgs)
	if !ok {
		return nil, fmt.Errorf("%s: want args of type WorkspaceQueueArgs, got %T", Name, obj)
	}
	if err := validation.ValidateWorkspaceQueueArgs(field.NewPath("args"), args); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	mustRegisterMetrics()
	pl := &WorkspaceQueue{handle: handle, args: args, tracker: newTracker(time.Now)}
	pl.metering = &metering{meter: newMeter(time.Now, func(string) rates { return rates{} }), every: args.MeteringInterval.Duration}
	pl.metering.meter.accrued = recordAccrual
	logger := klog.FromContext(ctx)
	pl.metering.hold = func(ws string, spent map[scopeKey]spentBudget) {
		pl.wake(logger, pl.tracker.setSpent(ws, spent))
		pl.status.changed(ws)
	}
	pl.metering.projectsOf = pl.tracker.projectsOf
	recorder := handle.EventRecorder()
	pl.metering.event = func(regarding runtime.Object, eventType, reason, note string) {
		recorder.Eventf(regarding, nil, eventType, reason, "Budget", note)
	}
	pl.status = newStatusWriter(handle.ClientSet(), handle.EventRecorder(), pl.tracker, args)
	if err := pl.watch(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	go pl.status.run(ctx)
	go pl.wsStatus.run(ctx)
	go pl.metering.run(ctx)
	return pl, nil
}

// Name returns the plugin's name.
func (pl *WorkspaceQueue) Name() string { return Name }

// PreEnqueue lets a pod into the scheduling queue only when its workspace,
// team and project quotas have room for it. A held pod is never attempted,
// so it is never marked PodScheduled=False/Unschedulable and never makes
// the cluster-autoscaler buy a node; it shows its wait in carve's own
// condition and events instead.
//
// The pod's workspace and team are its namespace's. A pod that carries
// carve's workspace label in a namespace outside every workspace spends no
// workspace's quota and is scheduled as any other pod.
func (pl *WorkspaceQueue) PreEnqueue(ctx context.Context, pod *corev1.Pod) *fwk.Status {
	if !labelled(pod) {
		return nil
	}
	ws, admitted, v := pl.tracker.enqueue(pod)
	if ws != "" {
		pl.status.changed(ws)
	}
	if admitted {
		return nil
	}
	return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, v.message(ws, 0))
}

// Less orders the active queue: higher priority first, then the pod whose
// project and team hold the smaller share of their workspace, then the older.
// Entities that are not single workspace pods fall back to priority and
// queue time, as kube-scheduler's PrioritySort does.
func (pl *WorkspaceQueue) Less(a, b fwk.QueuedEntityInfo) bool {
	if pa, pb := a.GetPriority(), b.GetPriority(); pa != pb {
		return pa > pb
	}
	podA, podB := podOf(a), podOf(b)
	if podA != nil && podB != nil && labelled(podA) && labelled(podB) {
		if less, ok := pl.tracker.rank(podA, podB); ok {
			return less
		}
	}
	return a.GetTimestamp().Before(b.GetTimestamp())
}

func podOf(e fwk.QueuedEntityInfo) *corev1.Pod {
	if qp, ok := e.(interface{ GetPodInfo() fwk.PodInfo }); ok {
		if pi := qp.GetPodInfo(); pi != nil {
			return pi.GetPod()
		}
	}
	return nil
}

// Reserve makes sure the pod holds quota before it is bound. Admission
// happens in PreEnqueue; a pod only reaches Reserve without it when its
// accounting was lost, and then it is admitted here if there is room.
func (pl *WorkspaceQueue) Reserve(ctx context.Context, _ fwk.CycleState, pod *corev1.Pod, _ string) *fwk.Status {
	if !labelled(pod) {
		return nil
	}
	if ws, ok, v := pl.tracker.reserve(pod); !ok {
		return fwk.NewStatus(fwk.Unschedulable, v.message(ws, 0))
	}
	return nil
}

// Unreserve keeps the pod admitted: it goes back to the queue still holding
// its quota, and only its deletion or completion frees it.
func (pl *WorkspaceQueue) Unreserve(context.Context, fwk.CycleState, *corev1.Pod, string) {}

// EventsToRegister names the events that can free quota: a pod deleted or
// finished (kube-scheduler's informer drops finished pods, so completion
// arrives as a deletion), a running pod resized down, and a Workspace
// created, changed or deleted. The hints queue only the held pods that the
// plugin's own informers have admitted by then; a pod those admit later is
// woken with Activate.
func (pl *WorkspaceQueue) EventsToRegister(context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Delete}, QueueingHintFn: pl.hintAdmitted},
		{Event: fwk.ClusterEvent{Resource: fwk.AssignedPod, ActionType: fwk.UpdatePodScaleDown}, QueueingHintFn: pl.hintAdmitted},
		{Event: fwk.ClusterEvent{Resource: workspaceEvents, ActionType: fwk.All}, QueueingHintFn: pl.hintAdmitted},
	}, nil
}

// hintAdmitted is the hint of every registered event. It only answers
// whether a held pod is admitted now, and never changes the accounting. kube-scheduler raises its events for more
// than what happened in the API — AssignedPodDelete for a pod whose binding
// cycle failed, or whose nominated node changed, while the pod still
// exists — and hands them objects from its own informer, which can be older
// than the plugin's. Freeing quota on such an event would let a waiting pod
// take the quota of a pod that is still running or about to be bound.
// Quota changes only through the plugin's own informers (watch.go), which
// wake what they admit.
func (pl *WorkspaceQueue) hintAdmitted(_ klog.Logger, pod *corev1.Pod, _, _ any) (fwk.QueueingHint, error) {
	if pl.tracker.isAdmitted(pod.UID) {
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}

// applyWorkspace records a Workspace event (new is nil on deletion).
func (pl *WorkspaceQueue) applyWorkspace(logger klog.Logger, old, new any) error {
	if new == nil {
		u, ok := unwrap(old).(*unstructured.Unstructured)
		if !ok {
			return fmt.Errorf("workspace event carries %T", old)
		}
		pl.wake(logger, pl.tracker.deleteWorkspace(u.GetName()))
		pl.metering.meter.drop(u.GetName())
		pl.status.changed(u.GetName())
		return nil
	}
	ws, err := toWorkspace(new)
	if err != nil {
		return err
	}
	pl.wake(logger, pl.tracker.setWorkspace(ws))
	if pl.metering.workspaces != nil {
		pl.metering.budgetsOf(new, leader.Leading())
	}
	pl.status.changed(ws.Name)
	return nil
}

func unwrap(obj any) any {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return d.Obj
	}
	return obj
}

func toWorkspace(obj any) (*carvev1.Workspace, error) {
	switch o := unwrap(obj).(type) {
	case *carvev1.Workspace:
		return o, nil
	case *unstructured.Unstructured:
		ws := &carvev1.Workspace{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, ws); err != nil {
			return nil, fmt.Errorf("reading Workspace %s: %w", o.GetName(), err)
		}
		return ws, nil
	default:
		return nil, fmt.Errorf("workspace event carries %T", obj)
	}
}

// wake moves admitted pods that kube-scheduler holds into its active queue.
// It never runs on the caller's goroutine: PreEnqueue and hints are called
// with the queue's lock held, and Activate takes it.
func (pl *WorkspaceQueue) wake(logger klog.Logger, pods []*corev1.Pod) {
	if len(pods) == 0 {
		return
	}
	m := make(map[string]*corev1.Pod, len(pods))
	for _, p := range pods {
		m[p.Namespace+"/"+p.Name] = p
	}
	logger.V(4).Info("Admitting held workspace pods", "count", len(m))
	go pl.handle.Activate(logger, m)
}
