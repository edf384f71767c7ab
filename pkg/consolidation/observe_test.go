package consolidation

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func readyNode(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: map[string]string{}},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

func boundPod(name, node string, w carvev1.Workload, cpu string, started time.Time) *corev1.Pod {
	p := ut.MakePod(name, "ns").Workspace("ws", "").Workload(w).Container("c", cpu, "4Gi").Obj()
	p.Spec.NodeName = node
	p.CreationTimestamp = metav1.NewTime(started)
	p.Status.StartTime = &metav1.Time{Time: started}
	p.Status.Phase = corev1.PodRunning
	return p
}

func TestObserve(t *testing.T) {
	o := &Options{ArrivalWindow: 10 * time.Minute}
	if err := o.Complete(); err != nil {
		t.Fatal(err)
	}
	pool := ut.MakeNodePool("cpu", carvev1.NodePoolRoleBase, 1, 5, "16", "64Gi").TemplateLabel("tier", "b").Budget(2).Obj()
	labels := map[string]string{carvev1.LabelNodePool: "cpu", "tier": "b"}
	since := now.Add(-time.Hour)

	a := readyNode("a", labels)
	b := readyNode("b", labels, corev1.Taint{Key: carvev1.TaintDraining, Effect: corev1.TaintEffectPreferNoSchedule})
	b.Annotations[carvev1.AnnotationRetiringSince] = since.Format(time.RFC3339)
	drift := readyNode("drift", map[string]string{carvev1.LabelNodePool: "cpu", "tier": "a"})
	asked := readyNode("asked", labels)
	asked.Annotations[carvev1.AnnotationRetire] = "true"
	kept := readyNode("kept", labels)
	kept.Annotations[carvev1.AnnotationScaleDownDisabled] = "true"
	cordoned := readyNode("cordoned", labels)
	cordoned.Spec.Unschedulable = true
	notReady := readyNode("notready", labels)
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	deleting := readyNode("deleting", labels, corev1.Taint{Key: carvev1.TaintDeleting, Effect: corev1.TaintEffectNoSchedule})

	ds := boundPod("ds", "a", "", "1", now.Add(-48*time.Hour))
	ds.Labels = nil
	ds.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "agent", Controller: ptr.To(true)}}
	sess := boundPod("sess", "a", carvev1.WorkloadSession, "2", now.Add(-time.Hour))
	recent := boundPod("recent", "a", carvev1.WorkloadJob, "1", now.Add(-time.Minute))
	done := boundPod("done", "a", carvev1.WorkloadJob, "4", now.Add(-2*time.Hour))
	done.Status.Phase = corev1.PodSucceeded
	model := boundPod("model", "b", carvev1.WorkloadModel, "1", now.Add(-3*time.Hour))
	taken := boundPod("taken", "b", carvev1.WorkloadSession, "1", now.Add(-time.Minute))
	planned := boundPod("planned", "asked", carvev1.WorkloadJob, "1", now.Add(-2*time.Hour))
	planned.Annotations = map[string]string{carvev1.AnnotationExpectedDuration: "3h"}
	pinned := boundPod("pinned", "asked", carvev1.WorkloadModel, "1", now.Add(-2*time.Hour))
	pinned.Annotations = map[string]string{carvev1.AnnotationSafeToEvict: "false"}
	waiting := ut.MakePod("waiting", "ns").Workspace("ws", "").NodeSelector(carvev1.LabelNodePool, "cpu").Container("c", "2", "1Gi").Obj()
	waiting.CreationTimestamp = metav1.NewTime(now.Add(-time.Hour))
	elsewhere := ut.MakePod("elsewhere", "ns").NodeSelector(carvev1.LabelNodePool, "gpu").Container("c", "2", "1Gi").Obj()

	podsOn := map[string][]*corev1.Pod{"a": {ds, sess, recent, done}, "b": {model, taken}, "asked": {planned, pinned}}
	v := observe(pool, []*corev1.Node{a, b, drift, asked, cordoned, kept, notReady, deleting}, podsOn, []*corev1.Pod{waiting, elsewhere}, nil, o, now)

	cpu := func(c int64) Resources { return Resources{MilliCPU: c * 1000, Memory: 4 << 30} }
	want := Pool{
		Budget: 2,
		Keep:   1, // minSize
		// recent and taken arrived within the window; waiting did not.
		Headroom: cpu(1).Add(cpu(1)),
		Nodes: []Node{
			{Name: "a", Allocatable: Resources{MilliCPU: 15000, Memory: 60 << 30}, Pods: []Pod{
				{Name: "ns/sess", Requests: cpu(2), Disruption: Stays, Ends: now.Add(3 * time.Hour)},
				{Name: "ns/recent", Requests: cpu(1), Disruption: Stays, Ends: now.Add(29 * time.Minute)},
			}},
			// A session started on b after it began to drain: b is taken back.
			{Name: "b", Protected: true, Allocatable: Resources{MilliCPU: 16000, Memory: 64 << 30}, Pods: []Pod{
				{Name: "ns/model", Requests: cpu(1), Disruption: Movable, Ends: now.Add(7*24*time.Hour - 3*time.Hour)},
				{Name: "ns/taken", Requests: cpu(1), Disruption: Stays, Ends: now.Add(4*time.Hour - time.Minute)},
			}},
			{Name: "drift", Requested: true, Allocatable: Resources{MilliCPU: 16000, Memory: 64 << 30}},
			{Name: "asked", Requested: true, Allocatable: Resources{MilliCPU: 16000, Memory: 64 << 30}, Pods: []Pod{
				{Name: "ns/planned", Requests: cpu(1), Disruption: Stays, Ends: now.Add(time.Hour)},
				{Name: "ns/pinned", Requests: cpu(1), Disruption: Stays, Ends: now.Add(7*24*time.Hour - 2*time.Hour)},
			}},
			{Name: "kept", Protected: true, Allocatable: Resources{MilliCPU: 16000, Memory: 64 << 30}},
		},
		Pending: []Pod{{Name: "ns/waiting", Requests: Resources{MilliCPU: 2000, Memory: 1 << 30}}},
	}
	if diff := cmp.Diff(want, v.input, cmpopts.EquateEmpty(), cmpopts.EquateApproxTime(time.Second)); diff != "" {
		t.Errorf("observe (-want +got):\n%s", diff)
	}
	whys := map[string]string{}
	for _, n := range v.nodes {
		whys[n.node.Name] = n.why + "/" + n.taken
	}
	if diff := cmp.Diff(map[string]string{"a": "/", "b": "/ns/taken", "drift": "Drifted/", "kept": "/", "asked": "Requested/"}, whys); diff != "" {
		t.Errorf("why and taken (-want +got):\n%s", diff)
	}
}

func TestDisruptionOf(t *testing.T) {
	restartable := ut.MakeWorkspace("ws", "p").RestartableJobs().Obj()
	plain := ut.MakeWorkspace("ws", "p").Obj()
	owned := func(p *corev1.Pod) *corev1.Pod {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs", Controller: ptr.To(true)}}
		return p
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		ws   *carvev1.Workspace
		want Disruption
	}{
		{"session", ut.MakePod("p", "ns").Workspace("ws", "").Workload(carvev1.WorkloadSession).Obj(), restartable, Stays},
		{"model", ut.MakePod("p", "ns").Workspace("ws", "").Workload(carvev1.WorkloadModel).Obj(), plain, Movable},
		{"model that must not be evicted", ut.MakePod("p", "ns").Workspace("ws", "").Workload(carvev1.WorkloadModel).Annotation(carvev1.AnnotationSafeToEvict, "false").Obj(), plain, Stays},
		{"job", ut.MakePod("p", "ns").Workspace("ws", "").Workload(carvev1.WorkloadJob).Obj(), plain, Stays},
		{"restartable job", ut.MakePod("p", "ns").Workspace("ws", "").Workload(carvev1.WorkloadJob).Obj(), restartable, Movable},
		{"job of a workspace gone", ut.MakePod("p", "ns").Workspace("ws", "").Workload(carvev1.WorkloadJob).Obj(), nil, Stays},
		{"a controller's pod outside workspaces", owned(ut.MakePod("p", "ns").Obj()), nil, Movable},
		{"a bare pod outside workspaces", ut.MakePod("p", "ns").Obj(), nil, Stays},
	} {
		if got := disruptionOf(tc.pod, tc.ws); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTrimPod(t *testing.T) {
	p := boundPod("p", "a", carvev1.WorkloadSession, "2", now)
	p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	p.Annotations = map[string]string{corev1.LastAppliedConfigAnnotation: "{}", carvev1.AnnotationExpectedDuration: "1h"}
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "b"}}
	p.Spec.Volumes = []corev1.Volume{{Name: "v"}}
	before := podRequests(p)
	got, err := TrimPod(p)
	if err != nil {
		t.Fatal(err)
	}
	q := got.(*corev1.Pod)
	if q.ManagedFields != nil || q.Spec.Volumes != nil || q.Spec.Containers[0].Env != nil {
		t.Errorf("TrimPod kept managed fields, volumes or env: %+v", q)
	}
	if _, ok := q.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
		t.Error("TrimPod kept the last-applied annotation")
	}
	// What consolidation reads is intact.
	if q.Annotations[carvev1.AnnotationExpectedDuration] != "1h" || podRequests(q) != before || q.Labels[carvev1.LabelWorkload] != "session" || q.Status.StartTime == nil {
		t.Errorf("TrimPod lost what consolidation reads: %+v", q)
	}
	if obj, _ := TrimPod("not a pod"); obj != "not a pod" {
		t.Errorf("TrimPod changed a non-pod: %v", obj)
	}
}
