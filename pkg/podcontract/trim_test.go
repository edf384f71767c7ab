package podcontract_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// FuzzTrim holds Trim to its promise: on the trimmed pod every decision is
// the same as on the whole pod (the same pod or the same denial, word for
// word), and Admit changes no field that Trim drops.
func FuzzTrim(f *testing.F) {
	seedPods(f)
	for i := range 4 {
		// Pods with everything a real pod carries (env, volumes, probes...).
		b, err := json.Marshal(ut.PlatformPod("alice", i))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, data []byte, podLevel bool) {
		pod := &corev1.Pod{}
		if err := json.Unmarshal(data, pod); err != nil {
			return
		}
		opts := podcontract.Options{PodLevelResources: podLevel}
		trimmed := podcontract.Trim(pod)

		once, err := podcontract.Admit(pod, mlNS, world(), opts)
		onceT, errT := podcontract.Admit(trimmed, mlNS, world(), opts)
		sameError(t, "Admit", err, errT)
		if err == nil {
			if diff := cmp.Diff(podcontract.Trim(once), onceT); diff != "" {
				t.Fatalf("Admit of the trimmed pod differs (-whole +trimmed):\n%s", diff)
			}
			if diff := cmp.Diff(dropTrimmed(pod), dropTrimmed(once)); diff != "" {
				t.Fatalf("Admit changed fields Trim drops (-before +after):\n%s", diff)
			}
			sameError(t, "Check of the admitted pod", podcontract.Check(once, mlNS, world(), opts), podcontract.Check(onceT, mlNS, world(), opts))
		} else {
			once, onceT = pod, trimmed
		}
		sameError(t, "Check", podcontract.Check(pod, mlNS, world(), opts), podcontract.Check(trimmed, mlNS, world(), opts))
		for _, sub := range []string{"", podcontract.SubresourceEphemeralContainers, podcontract.SubresourceResize} {
			sameError(t, "CheckUpdate "+sub,
				podcontract.CheckUpdate(once, pod, sub, world()),
				podcontract.CheckUpdate(onceT, trimmed, sub, world()))
		}
	})
}

func sameError(t *testing.T, what string, whole, trimmed error) {
	t.Helper()
	msg := func(err error) string {
		if err == nil {
			return "<nil>"
		}
		return err.Error()
	}
	if msg(whole) != msg(trimmed) {
		t.Fatalf("%s: whole pod gives %s, trimmed pod gives %s", what, msg(whole), msg(trimmed))
	}
}

// dropTrimmed is the complement of Trim: a copy of pod without the fields
// Trim keeps.
func dropTrimmed(pod *corev1.Pod) *corev1.Pod {
	p := pod.DeepCopy()
	p.APIVersion, p.Kind = "", ""
	p.Namespace, p.Labels, p.Annotations, p.OwnerReferences = "", nil, nil, nil
	s := &p.Spec
	for _, cs := range [][]corev1.Container{s.InitContainers, s.Containers} {
		for i := range cs {
			cs[i].Name, cs[i].Resources, cs[i].RestartPolicy = "", corev1.ResourceRequirements{}, nil
		}
	}
	for i := range s.EphemeralContainers {
		s.EphemeralContainers[i].Name, s.EphemeralContainers[i].Resources = "", corev1.ResourceRequirements{}
	}
	s.NodeSelector, s.NodeName, s.Affinity, s.SchedulerName, s.Tolerations = nil, "", nil, "", nil
	s.PriorityClassName, s.Priority, s.PreemptionPolicy, s.Overhead, s.Resources = "", nil, nil, nil, nil
	return p
}
