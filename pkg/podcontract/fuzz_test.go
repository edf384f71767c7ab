package podcontract_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/klog/v2"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func seedPods(f *testing.F) {
	for _, p := range []*corev1.Pod{
		ut.MakePod("a", "alice").Container("c", "", "").Obj(),
		ut.MakePod("b", "alice").Profile("gpu-1").Owner("batch/v1", "Job", "j").Container("c", "1", "1Gi").Container("d", "", "").Obj(),
		ut.MakePod("c", "alice").Profile("multi").Owner("apps/v1", "ReplicaSet", "r").Container("c", "", "").Sidecar("s", "100m", "").Obj(),
		ut.MakePod("d", "alice").Profile("large").InitContainer("init", "4", "1Gi").Container("c", "", "").Limit("cpu", "5").Obj(),
		ut.MakePod("e", "alice").Profile("small").PodResources("500m", "1Gi").Container("c", "", "").GPU("amd.com/gpu", "1").Obj(),
		ut.MakePod("g", "alice").Profile("multi").Container("c", "", "").
			Toleration(corev1.Toleration{Key: "carve.dev/spot", Operator: corev1.TolerationOpExists}).
			Toleration(corev1.Toleration{Key: "carve.dev/spot", Operator: "Gt", Value: "true"}).Obj(),
		ut.MakePod("h", "alice").Profile("gpu-1").Container("c", "", "").
			Toleration(corev1.Toleration{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}).Obj(),
		ut.MakePod("f", "alice").Container("c", "", "").NodeSelector("carve.dev/node-pool", "gpu").SchedulerName("default-scheduler").Obj(),
	} {
		b, err := json.Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
		f.Add(b, false)
	}
}

// FuzzAdmit feeds arbitrary pods to the contract: it must never panic; a pod
// it admits must be admitted unchanged a second time (the webhook may be
// reinvoked) and must pass the validating webhook's Check; and a refusal
// must be a *Denial naming a rule.
func FuzzAdmit(f *testing.F) {
	seedPods(f)
	f.Fuzz(func(t *testing.T, data []byte, podLevel bool) {
		pod := &corev1.Pod{}
		if err := json.Unmarshal(data, pod); err != nil {
			return
		}
		opts := podcontract.Options{PodLevelResources: podLevel}
		once, err := podcontract.Admit(pod, mlNS, world(), opts)
		if err != nil {
			var d *podcontract.Denial
			if !errors.As(err, &d) || len(d.Violations) == 0 {
				t.Fatalf("Admit error %v is not a Denial naming a rule", err)
			}
			return
		}
		if got, want := podcontract.AdmittedAs(once, pod), equality.Semantic.DeepEqual(once, pod); got != want {
			t.Fatalf("admittedAs(Admit(pod), pod) = %v, DeepEqual gives %v", got, want)
		}
		twice, err := podcontract.Admit(once, mlNS, world(), opts)
		if err != nil {
			t.Fatalf("second Admit refused an admitted pod: %v", err)
		}
		if diff := cmp.Diff(once, twice); diff != "" {
			t.Fatalf("Admit is not idempotent (-once +twice):\n%s", diff)
		}
		if err := podcontract.Check(once, mlNS, world(), opts); err != nil {
			t.Fatalf("Check refused an admitted pod: %v", err)
		}
		if tol, taint, ok := toleratesForeignTaint(once); ok {
			t.Fatalf("admitted pod tolerates %v, which its profile does not grant: %+v", taint, tol)
		}
		if msg := outgrowsProfile(once, podLevel); msg != "" {
			t.Fatalf("admitted pod %s", msg)
		}
		// Updates of an admitted pod that change nothing are allowed.
		if err := podcontract.CheckUpdate(once, once.DeepCopy(), "", nil); err != nil {
			t.Fatalf("CheckUpdate refused a no-op update: %v", err)
		}
	})
}

// probeTaints are taints a workspace pod may tolerate only when its profile
// grants them: other pools', the control plane's, and those of nodes being
// cordoned, drained or removed.
var probeTaints = []corev1.Taint{
	{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule},
	{Key: "carve.dev/draining", Effect: corev1.TaintEffectNoSchedule},
	{Key: "ToBeDeletedByClusterAutoscaler", Value: "1700000000", Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule},
	{Key: "nvidia.com/gpu", Effect: corev1.TaintEffectNoSchedule},
	{Key: "carve.dev/spot", Value: "true", Effect: corev1.TaintEffectNoSchedule},
	{Key: "carve.dev/spot", Value: "false", Effect: corev1.TaintEffectNoSchedule},
	{Key: "", Value: "", Effect: corev1.TaintEffectNoExecute},
}

// toleratesForeignTaint finds a toleration of an admitted pod that
// tolerates a probe taint which none of its profile's pools carries (and
// which is not its GPU resource's taint), reading the profile and pools
// from the pod's applied record and the test world.
func toleratesForeignTaint(pod *corev1.Pod) (corev1.Toleration, corev1.Taint, bool) {
	a, ok := podcontract.AppliedOf(pod)
	if !ok {
		return corev1.Toleration{}, corev1.Taint{}, false
	}
	w := world()
	granted := func(taint corev1.Taint) bool {
		for _, name := range a.NodePools {
			np, _ := w.NodePool(name)
			for _, pt := range np.Spec.Template.Taints {
				if pt.Key == taint.Key && pt.Value == taint.Value && pt.Effect == taint.Effect {
					return true
				}
			}
		}
		p, _ := w.Profile(a.Profile)
		return p.GPUResourceName() != "" && taint.Key == p.GPUResourceName()
	}
	for _, tol := range pod.Spec.Tolerations {
		for _, taint := range probeTaints {
			if tol.ToleratesTaint(klog.Background(), &taint, true) && !granted(taint) {
				return tol, taint, true
			}
		}
	}
	return corev1.Toleration{}, corev1.Taint{}, false
}

// outgrowsProfile says how an admitted pod escapes its profile, or "": its
// effective requests and limits of CPU and memory (as Kubernetes computes
// them) must be within the profile's, and without pod-level resources every
// container must have CPU and memory limits.
func outgrowsProfile(pod *corev1.Pod, podLevel bool) string {
	a, ok := podcontract.AppliedOf(pod)
	if !ok {
		return "has no applied record"
	}
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	lims := resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{})
	for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, max := reqs[n], a.Requests[n]; q.Cmp(max) > 0 {
			return fmt.Sprintf("requests %s %s, above its profile's %s", q.String(), n, max.String())
		}
		if q, max := lims[n], a.Limits[n]; q.Cmp(max) > 0 {
			return fmt.Sprintf("is limited to %s %s, above its profile's %s", q.String(), n, max.String())
		}
	}
	if podLevel {
		return ""
	}
	var msg string
	visit := func(c *corev1.Container) {
		for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Limits[n]; !ok && msg == "" {
				msg = fmt.Sprintf("has container %q without a %s limit", c.Name, n)
			}
		}
	}
	for i := range pod.Spec.InitContainers {
		visit(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		visit(&pod.Spec.Containers[i])
	}
	return msg
}

// FuzzCheckUpdate must never panic, whatever the old and new pods are, and
// an update it allows of an admitted pod keeps carve's labels and keeps the
// pod within its profile.
func FuzzCheckUpdate(f *testing.F) {
	seedPods(f)
	f.Fuzz(func(t *testing.T, data []byte, resize bool) {
		pod := &corev1.Pod{}
		if err := json.Unmarshal(data, pod); err != nil {
			return
		}
		old, err := podcontract.Admit(pod, mlNS, world(), podLvl)
		admitted := err == nil
		if !admitted {
			old = pod
		}
		sub := ""
		if resize {
			sub = podcontract.SubresourceResize
		}
		// The new pod: the fuzzed one, with the admitted pod's applied
		// record, so that it is the update of an admitted pod.
		updated := pod.DeepCopy()
		if admitted {
			if updated.Annotations == nil {
				updated.Annotations = map[string]string{}
			}
			updated.Annotations[carvev1.AnnotationApplied] = old.Annotations[carvev1.AnnotationApplied]
		}
		if err := podcontract.CheckUpdate(old, updated, sub, world()); err != nil || !admitted {
			return
		}
		for _, k := range []string{carvev1.LabelWorkspace, carvev1.LabelTeam, carvev1.LabelProfile, carvev1.LabelWorkload} {
			if old.Labels[k] != updated.Labels[k] {
				t.Fatalf("allowed update changes label %s from %q to %q", k, old.Labels[k], updated.Labels[k])
			}
		}
		a, _ := podcontract.AppliedOf(old)
		reqs := resourcehelper.PodRequests(updated, resourcehelper.PodResourcesOptions{})
		for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, max := reqs[n], a.Requests[n]; q.Cmp(max) > 0 {
				t.Fatalf("allowed update requests %s %s, above the profile's %s", q.String(), n, max.String())
			}
		}
	})
}
