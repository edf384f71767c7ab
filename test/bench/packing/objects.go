package packing

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/test/traces"
)

// replayLabel marks the nodes and pods of one replay, and pods select their
// replay's nodes with it, so that replays in one cluster never mix.
const replayLabel = "bench.carve.dev/replay"

// gpuResource is the extended resource GPU nodes offer and GPU pods ask for.
const gpuResource corev1.ResourceName = carvev1.DefaultGPUResource

func resourceList(r traces.Resources) corev1.ResourceList {
	l := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(r.MilliCPU, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(r.Memory, resource.BinarySI),
	}
	if r.GPU > 0 {
		l[gpuResource] = *resource.NewQuantity(r.GPU, resource.DecimalSI)
	}
	return l
}

// poolTaints are the taints of a pool's nodes: GPU nodes keep CPU-only pods
// off, as on real clusters.
func poolTaints(p traces.Pool) []corev1.Taint {
	if p.Capacity.GPU > 0 {
		return []corev1.Taint{{Key: string(gpuResource), Effect: corev1.TaintEffectNoSchedule}}
	}
	return nil
}

// nodeObject is a Ready node of pool p, as a cloud node of that pool
// registers: labelled with its pool, offering the pool's capacity.
func nodeObject(name, replay string, p traces.Pool) *corev1.Node {
	capacity := resourceList(p.Capacity)
	capacity[corev1.ResourcePods] = resource.MustParse("110")
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				carvev1.LabelNodePool:  p.Name,
				replayLabel:            replay,
				corev1.LabelHostname:   name,
				corev1.LabelOSStable:   "linux",
				corev1.LabelArchStable: "amd64",
			},
		},
		Spec: corev1.NodeSpec{Taints: poolTaints(p)},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}},
		},
	}
}

// podObject is the pod of p as carve's webhook would leave it: requests
// from its profile, its workload label, its pool's node selector and
// tolerations; schedulerName names the profile under test.
func podObject(p traces.Pod, namespace, replay, schedulerName string) *corev1.Pod {
	pool, _ := traces.PoolNamed(p.Pool)
	limits := corev1.ResourceList{corev1.ResourceMemory: *resource.NewQuantity(p.Requests.Memory, resource.BinarySI)}
	if p.Requests.GPU > 0 {
		limits[gpuResource] = *resource.NewQuantity(p.Requests.GPU, resource.DecimalSI)
	}
	var tolerations []corev1.Toleration
	for _, t := range poolTaints(pool) {
		tolerations = append(tolerations, corev1.Toleration{Key: t.Key, Operator: corev1.TolerationOpExists, Effect: t.Effect})
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      p.Name,
			Namespace: namespace,
			Labels:    map[string]string{carvev1.LabelWorkload: string(p.Workload), replayLabel: replay},
		},
		Spec: corev1.PodSpec{
			SchedulerName:                 schedulerName,
			NodeSelector:                  map[string]string{carvev1.LabelNodePool: p.Pool, replayLabel: replay},
			Tolerations:                   tolerations,
			AutomountServiceAccountToken:  ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{
				Name:      "main",
				Image:     "workload",
				Resources: corev1.ResourceRequirements{Requests: resourceList(p.Requests), Limits: limits},
			}},
		},
	}
}
