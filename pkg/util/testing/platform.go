package testing

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// PlatformObjects are the carve objects of the workspace that PlatformPod's
// pods are created in: workspace "ml" with profiles small, large (CPU
// burst) and gpu-1, on node pools cpu and gpu (GPU nodes tainted).
func PlatformObjects() []client.Object {
	return []client.Object{
		MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 10, "16", "64Gi").Obj(),
		MakeNodePool("gpu", carvev1.NodePoolRoleGPU, 0, 4, "32", "128Gi").Capacity("nvidia.com/gpu", "4").
			Taint("nvidia.com/gpu", "", corev1.TaintEffectNoSchedule).Obj(),
		MakeProfile("small", "1", "2Gi").Pools("cpu").Obj(),
		MakeProfile("large", "4", "16Gi").CPULimit("6").Pools("cpu").Obj(),
		MakeProfile("gpu-1", "8", "32Gi").GPU(1, "").Pools("gpu").Obj(),
		MakeWorkspace("ml", "small", "large", "gpu-1").Obj(),
	}
}

// PlatformPod is pod i of the mix a data-science platform creates in
// namespace ns, as the apiserver sends it to the webhooks on create: half
// notebook sessions, a quarter Job pods, a quarter model pods with a
// sidecar; with env, mounts, probes, volumes and the apiserver's default
// tolerations, 4 to 6 KiB of JSON each. The benchmarks of the pod webhooks
// use it.
func PlatformPod(ns string, i int) *corev1.Pod {
	var pod *corev1.Pod
	name := fmt.Sprintf("pod-%05d", i)
	switch i % 4 {
	case 0, 1:
		pod = MakePod(name, ns).Profile("small").Container("notebook", "", "").Obj()
	case 2:
		pod = MakePod(name, ns).Profile("large").Owner("batch/v1", "Job", "train-"+name).Container("train", "2", "8Gi").Obj()
	default:
		pod = MakePod(name, ns).Profile("gpu-1").Owner("apps/v1", "ReplicaSet", "serve-abc").Container("serve", "", "").Sidecar("proxy", "100m", "128Mi").Obj()
	}
	pod.Labels["app.kubernetes.io/name"] = "workbench"
	pod.Labels["project"] = "churn-model"
	pod.Annotations = map[string]string{"workbench.example/owner": "alice@example.com"}
	pod.Spec.ServiceAccountName = "default"
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "home", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "home-alice"}}},
		{Name: "shm", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}}}}}},
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		c.Image = "registry.invalid/ml/runtime:2026.11-py311-cuda12"
		c.Command = []string{"/bin/bash", "-c", "exec jupyter lab --ip=0.0.0.0 --port=8888 --no-browser --NotebookApp.token=''"}
		for j := 0; j < 12; j++ {
			c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("WORKBENCH_SETTING_%02d", j), Value: strings.Repeat("v", 24)})
		}
		c.VolumeMounts = []corev1.VolumeMount{{Name: "home", MountPath: "/home/cdsw"}, {Name: "shm", MountPath: "/dev/shm"},
			{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}}
		c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8888, Protocol: corev1.ProtocolTCP}}
		c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/api", Port: intstr.FromInt32(8888)}}, PeriodSeconds: 10}
		c.TerminationMessagePath = "/dev/termination-log"
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
		c.ImagePullPolicy = corev1.PullIfNotPresent
	}
	pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
	pod.Spec.DNSPolicy = corev1.DNSClusterFirst
	pod.Spec.SchedulerName = corev1.DefaultSchedulerName
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	pod.Spec.Tolerations = []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
	}
	return pod
}
