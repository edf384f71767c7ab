package podcontract_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// world is the cluster most tests run against: a workspace "ml" allowing
// small (default), large and gpu-1; a profile "huge" it does not allow; a CPU
// pool, a GPU pool and a second CPU pool.
func world() *ut.Objects {
	return ut.NewObjects(
		ut.MakeWorkspace("ml", "small", "large", "gpu-1", "ghost", "multi").Obj(),
		ut.MakeProfile("small", "1", "2Gi").Obj(),
		ut.MakeProfile("large", "4", "16Gi").CPULimit("6").EphemeralStorage("20Gi").Pools("cpu").Obj(),
		ut.MakeProfile("gpu-1", "8", "32Gi").GPU(1, "").GPUProduct("NVIDIA-A10G").Pools("gpu").Obj(),
		ut.MakeProfile("multi", "2", "4Gi").Pools("cpu", "cpu-spot").Obj(),
		ut.MakeProfile("huge", "64", "512Gi").Obj(),
		ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 10, "8", "32Gi").Obj(),
		ut.MakeNodePool("cpu-spot", carvev1.NodePoolRoleCPU, 0, 10, "8", "32Gi").
			Taint("carve.dev/spot", "true", corev1.TaintEffectNoSchedule).Obj(),
		ut.MakeNodePool("gpu", carvev1.NodePoolRoleGPU, 0, 4, "16", "64Gi").
			Capacity("nvidia.com/gpu", "1").Taint("nvidia.com/gpu", "", corev1.TaintEffectNoSchedule).Obj(),
	)
}

var (
	mlNS   = ut.MakeNamespace("alice", "ml", "")
	teamNS = ut.MakeNamespace("bob", "ml", "vision")
	podLvl = podcontract.Options{PodLevelResources: true}
	ctrLvl = podcontract.Options{PodLevelResources: false}
)

func q(s string) resource.Quantity { return resource.MustParse(s) }

func applied(t *testing.T, a podcontract.Applied) string {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAdmitBarePodGetsDefaultProfile(t *testing.T) {
	pod := ut.MakePod("nb", "alice").Container("main", "", "").Obj()
	got, err := podcontract.Admit(pod, mlNS, world(), podLvl)
	if err != nil {
		t.Fatal(err)
	}
	want := ut.MakePod("nb", "alice").Container("main", "", "").
		Label(carvev1.LabelWorkspace, "ml").Profile("small").Workload(carvev1.WorkloadSession).
		Annotation(carvev1.AnnotationSafeToEvict, "false").
		Annotation(carvev1.AnnotationApplied, applied(t, podcontract.Applied{
			Workspace: "ml", Profile: "small", Workload: carvev1.WorkloadSession, Mode: podcontract.ModePod,
			Requests: corev1.ResourceList{"cpu": q("1"), "memory": q("2Gi")},
			Limits:   corev1.ResourceList{"cpu": q("1"), "memory": q("2Gi")},
		})).
		SchedulerName(carvev1.SchedulerName).Obj()
	want.Spec.Resources = &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{"cpu": q("1"), "memory": q("2Gi")},
		Limits:   corev1.ResourceList{"cpu": q("1"), "memory": q("2Gi")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Admit (-want +got):\n%s", diff)
	}
	if pod.Spec.SchedulerName != "" || pod.Labels != nil {
		t.Errorf("Admit modified its input: %+v", pod.ObjectMeta)
	}
}

func TestAdmitGPUProfile(t *testing.T) {
	pod := ut.MakePod("train", "bob").Profile("gpu-1").
		Owner("batch/v1", "Job", "train").Container("main", "2", "8Gi").Container("log", "", "").Obj()
	got, err := podcontract.Admit(pod, teamNS, world(), podLvl)
	if err != nil {
		t.Fatal(err)
	}
	want := ut.MakePod("train", "bob").Profile("gpu-1").Owner("batch/v1", "Job", "train").
		Container("main", "2", "8Gi").GPU("nvidia.com/gpu", "1").Container("log", "", "").
		Label(carvev1.LabelWorkspace, "ml").Label(carvev1.LabelTeam, "vision").Workload(carvev1.WorkloadJob).
		Annotation(carvev1.AnnotationApplied, applied(t, podcontract.Applied{
			Workspace: "ml", Team: "vision", Profile: "gpu-1", Workload: carvev1.WorkloadJob, Mode: podcontract.ModePod,
			Requests:  corev1.ResourceList{"cpu": q("8"), "memory": q("32Gi"), "nvidia.com/gpu": q("1")},
			Limits:    corev1.ResourceList{"cpu": q("8"), "memory": q("32Gi"), "nvidia.com/gpu": q("1")},
			NodePools: []string{"gpu"},
		})).
		SchedulerName(carvev1.SchedulerName).
		NodeSelector(carvev1.LabelNodePool, "gpu").NodeSelector(podcontract.LabelGPUProduct, "NVIDIA-A10G").
		Toleration(corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}).
		Obj()
	want.Spec.Resources = &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{"cpu": q("8"), "memory": q("32Gi")},
		Limits:   corev1.ResourceList{"cpu": q("8"), "memory": q("32Gi")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Admit (-want +got):\n%s", diff)
	}
}

func TestAdmitContainerMode(t *testing.T) {
	// Without pod-level resources the main container gets what the profile
	// leaves after its sidecar and the other app container.
	pod := ut.MakePod("nb", "alice").Profile("large").
		Annotation(podcontract.AnnotationDefaultContainer, "main").
		Container("helper", "500m", "1Gi").Container("main", "", "").
		Sidecar("proxy", "500m", "1Gi").Obj()
	got, err := podcontract.Admit(pod, mlNS, world(), ctrLvl)
	if err != nil {
		t.Fatal(err)
	}
	main := got.Spec.Containers[1]
	want := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{"cpu": q("3"), "memory": q("14Gi"), "ephemeral-storage": q("20Gi")},
		Limits:   corev1.ResourceList{"cpu": q("5"), "memory": q("14Gi"), "ephemeral-storage": q("20Gi")},
	}
	if diff := cmp.Diff(want, main.Resources, cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
		t.Errorf("main container resources (-want +got):\n%s", diff)
	}
	if got.Spec.Resources != nil {
		t.Errorf("container mode set pod-level resources: %v", got.Spec.Resources)
	}
	if got.Spec.NodeSelector[carvev1.LabelNodePool] != "cpu" {
		t.Errorf("node selector = %v, want pool cpu", got.Spec.NodeSelector)
	}
}

func TestAdmitWorkloadKinds(t *testing.T) {
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want carvev1.Workload
	}{
		{"bare pod", ut.MakePod("p", "alice").Container("c", "", "").Obj(), carvev1.WorkloadSession},
		{"job", ut.MakePod("p", "alice").Owner("batch/v1", "Job", "j").Container("c", "", "").Obj(), carvev1.WorkloadJob},
		{"deployment", ut.MakePod("p", "alice").Owner("apps/v1", "ReplicaSet", "rs").Container("c", "", "").Obj(), carvev1.WorkloadModel},
		{"statefulset", ut.MakePod("p", "alice").Owner("apps/v1", "StatefulSet", "s").Container("c", "", "").Obj(), carvev1.WorkloadSession},
		{"unknown controller", ut.MakePod("p", "alice").Owner("ray.io/v1", "RayCluster", "r").Container("c", "", "").Obj(), carvev1.WorkloadSession},
		{"label wins", ut.MakePod("p", "alice").Owner("batch/v1", "Job", "j").Workload(carvev1.WorkloadModel).Container("c", "", "").Obj(), carvev1.WorkloadModel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := podcontract.Admit(tc.pod, mlNS, world(), podLvl)
			if err != nil {
				t.Fatal(err)
			}
			if w := carvev1.Workload(got.Labels[carvev1.LabelWorkload]); w != tc.want {
				t.Errorf("workload = %q, want %q", w, tc.want)
			}
			_, protected := got.Annotations[carvev1.AnnotationSafeToEvict]
			if protected != (tc.want == carvev1.WorkloadSession) {
				t.Errorf("safe-to-evict set = %v for a %s", protected, tc.want)
			}
		})
	}
}

func TestAdmitPlacement(t *testing.T) {
	t.Run("several pools become a required affinity in every term", func(t *testing.T) {
		pod := ut.MakePod("p", "alice").Profile("multi").Container("c", "", "").Obj()
		pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}},
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}}},
			}}}}
		got, err := podcontract.Admit(pod, mlNS, world(), podLvl)
		if err != nil {
			t.Fatal(err)
		}
		pools := corev1.NodeSelectorRequirement{Key: carvev1.LabelNodePool, Operator: corev1.NodeSelectorOpIn, Values: []string{"cpu", "cpu-spot"}}
		want := []corev1.NodeSelectorTerm{
			{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}, pools}},
			{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}, pools}},
		}
		if diff := cmp.Diff(want, got.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms); diff != "" {
			t.Errorf("affinity (-want +got):\n%s", diff)
		}
		wantTol := []corev1.Toleration{{Key: "carve.dev/spot", Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule}}
		if diff := cmp.Diff(wantTol, got.Spec.Tolerations); diff != "" {
			t.Errorf("tolerations (-want +got):\n%s", diff)
		}
	})
	t.Run("tolerations the profile grants are kept", func(t *testing.T) {
		given := []corev1.Toleration{
			// added by the apiserver's DefaultTolerationSeconds
			{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			{Key: "carve.dev/spot", Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule},
		}
		pod := ut.MakePod("p", "alice").Profile("multi").Container("c", "", "").Toleration(given[0]).Toleration(given[1]).Obj()
		got, err := podcontract.Admit(pod, mlNS, world(), podLvl)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(given, got.Spec.Tolerations); diff != "" {
			t.Errorf("tolerations (-want +got):\n%s", diff)
		}
	})
	t.Run("a team label the namespace lacks is dropped", func(t *testing.T) {
		pod := ut.MakePod("p", "alice").Label(carvev1.LabelTeam, "finance").Container("c", "", "").Obj()
		got, err := podcontract.Admit(pod, mlNS, world(), podLvl)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := got.Labels[carvev1.LabelTeam]; ok {
			t.Errorf("team label = %q, want none", v)
		}
	})
}

func TestAdmitIsIdempotent(t *testing.T) {
	pods := []*corev1.Pod{
		ut.MakePod("a", "alice").Container("c", "", "").Obj(),
		ut.MakePod("b", "bob").Profile("gpu-1").Owner("batch/v1", "Job", "j").Container("c", "1", "1Gi").Container("d", "500m", "512Mi").Obj(),
		ut.MakePod("c", "alice").Profile("multi").Owner("apps/v1", "ReplicaSet", "r").Container("c", "", "").Sidecar("s", "100m", "128Mi").Obj(),
		ut.MakePod("d", "alice").Profile("large").InitContainer("init", "4", "1Gi").Container("c", "", "").Obj(),
	}
	for _, opts := range []podcontract.Options{podLvl, ctrLvl} {
		for _, pod := range pods {
			ns := mlNS
			if pod.Namespace == "bob" {
				ns = teamNS
			}
			once, err := podcontract.Admit(pod, ns, world(), opts)
			if err != nil {
				t.Fatalf("%s: %v", pod.Name, err)
			}
			twice, err := podcontract.Admit(once, ns, world(), opts)
			if err != nil {
				t.Fatalf("%s: second admit: %v", pod.Name, err)
			}
			if diff := cmp.Diff(once, twice); diff != "" {
				t.Errorf("%s (pod-level %v): second Admit changed the pod (-once +twice):\n%s", pod.Name, opts.PodLevelResources, diff)
			}
			if err := podcontract.Check(once, ns, world(), opts); err != nil {
				t.Errorf("%s: Check of an admitted pod: %v", pod.Name, err)
			}
		}
	}
}
