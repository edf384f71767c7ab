package scheduler_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// addNode adds a ready kwok node to pool with cpu CPUs, 64Gi and gpus GPUs.
func addNode(t *testing.T, pool, name, cpu string, gpus string, taints ...corev1.Taint) {
	t.Helper()
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("64Gi")}
	if gpus != "" {
		capacity["nvidia.com/gpu"] = resource.MustParse(gpus)
	}
	if _, err := cluster.AddNode(t.Context(), name, capacity, map[string]string{carvev1.LabelNodePool: pool}, taints); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	if _, err := cluster.WaitNodeReady(t.Context(), name); err != nil {
		t.Fatal(err)
	}
}

func kindPod(ns, name, pool, cpu string, kind carvev1.Workload) *corev1.Pod {
	p := workspacePod("wsp", ns, name, pool, cpu)
	p.Labels[carvev1.LabelWorkload] = string(kind)
	return p
}

// place creates the pod and returns the node it was bound to.
func place(t *testing.T, p *corev1.Pod) string {
	t.Helper()
	create(t, p)
	return waitBound(t, p.Namespace, p.Name)
}

// TestBinPackPlacement: pods fill the fuller node first, CPU-only pods use a
// GPU node only when no CPU node fits, draining nodes are avoided, and a job
// joins the node of jobs rather than the node of model endpoints.
func TestBinPackPlacement(t *testing.T) {
	ws := ut.MakeWorkspace("wsp", "small").Obj()
	pool := setup(t, ws, []string{"wsp-alice"}, 0, "", "")
	ns := "wsp-alice"
	addNode(t, pool, "bp-cpu-a", "8", "")
	addNode(t, pool, "bp-cpu-b", "8", "")
	addNode(t, pool, "bp-gpu", "8", "4")

	first := place(t, kindPod(ns, "s1", pool, "2", carvev1.WorkloadSession))
	if first == "bp-gpu" {
		t.Fatalf("first CPU pod went to the GPU node with two empty CPU nodes")
	}
	other := map[string]string{"bp-cpu-a": "bp-cpu-b", "bp-cpu-b": "bp-cpu-a"}[first]
	if got := place(t, kindPod(ns, "s2", pool, "2", carvev1.WorkloadSession)); got != first {
		t.Errorf("second session went to %s, want %s (the fuller node)", got, first)
	}
	// 4 of 8 used on first; 6 CPUs fit only on the other CPU node.
	if got := place(t, kindPod(ns, "big", pool, "6", carvev1.WorkloadSession)); got != other {
		t.Errorf("6-CPU pod went to %s, want %s", got, other)
	}
	// 5 CPUs fit no CPU node any more (4 and 2 free): the GPU node takes it.
	if got := place(t, kindPod(ns, "spill", pool, "5", carvev1.WorkloadSession)); got != "bp-gpu" {
		t.Errorf("5-CPU pod went to %s, want the GPU node as the only fit", got)
	}
}

func TestBinPackAvoidsDrainingNodes(t *testing.T) {
	ws := ut.MakeWorkspace("wsd", "small").Obj()
	pool := setup(t, ws, []string{"wsd-alice"}, 0, "", "")
	ns := "wsd-alice"
	addNode(t, pool, "bd-draining", "8", "", corev1.Taint{Key: carvev1.TaintDraining, Effect: corev1.TaintEffectPreferNoSchedule})
	addNode(t, pool, "bd-empty", "8", "")
	// Fill the draining node the way it was before it was marked: a pod
	// bound there directly.
	held := workspacePod("wsd", ns, "old", pool, "6")
	held.Spec.NodeName = "bd-draining"
	create(t, held)
	p := workspacePod("wsd", ns, "new", pool, "1")
	if got := place(t, p); got != "bd-empty" {
		t.Errorf("new pod went to %s, want the empty node over the fuller draining one", got)
	}
}

func TestBinPackGroupsLifetimes(t *testing.T) {
	ws := ut.MakeWorkspace("wsl", "small").Obj()
	pool := setup(t, ws, []string{"wsl-alice"}, 0, "", "")
	ns := "wsl-alice"
	addNode(t, pool, "bl-models", "8", "")
	addNode(t, pool, "bl-jobs", "8", "")
	for _, p := range []struct {
		name, node string
		kind       carvev1.Workload
	}{{"model", "bl-models", carvev1.WorkloadModel}, {"job", "bl-jobs", carvev1.WorkloadJob}} {
		pod := workspacePod("wsl", ns, p.name, pool, "4")
		pod.Labels[carvev1.LabelWorkload] = string(p.kind)
		pod.Spec.NodeName = p.node
		create(t, pod)
	}
	job := workspacePod("wsl", ns, "job2", pool, "1")
	job.Labels[carvev1.LabelWorkload] = string(carvev1.WorkloadJob)
	if got := place(t, job); got != "bl-jobs" {
		t.Errorf("job went to %s, want bl-jobs (equally full, same lifetime)", got)
	}
	model := workspacePod("wsl", ns, "model2", pool, "1")
	model.Labels[carvev1.LabelWorkload] = string(carvev1.WorkloadModel)
	if got := place(t, model); got != "bl-models" {
		t.Errorf("model went to %s, want bl-models (a bit emptier, same lifetime)", got)
	}
}
