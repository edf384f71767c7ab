package server

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// outcome is what a test compares: the gRPC code and message of an error.
type outcome struct {
	Code codes.Code
	Msg  string
}

func outcomeOf(err error) outcome {
	if err == nil {
		return outcome{Code: codes.OK}
	}
	return outcome{Code: cloudprovider.Code(err), Msg: err.Error()}
}

func TestCheckIncrease(t *testing.T) {
	pool := ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 5, "4", "16Gi").Obj()
	tests := map[string]struct {
		target, delta int32
		want          outcome
	}{
		"from zero":       {target: 0, delta: 3, want: outcome{Code: codes.OK}},
		"up to max":       {target: 2, delta: 3, want: outcome{Code: codes.OK}},
		"beyond max":      {target: 4, delta: 2, want: outcome{codes.FailedPrecondition, "increasing node group cpu by 2: target size 4 would exceed maxSize 5"}},
		"zero delta":      {target: 1, delta: 0, want: outcome{codes.InvalidArgument, "increasing node group cpu: delta must be positive, got 0"}},
		"negative delta":  {target: 1, delta: -1, want: outcome{codes.InvalidArgument, "increasing node group cpu: delta must be positive, got -1"}},
		"no int overflow": {target: 1, delta: 2147483647, want: outcome{codes.FailedPrecondition, "increasing node group cpu by 2147483647: target size 1 would exceed maxSize 5"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := outcomeOf(CheckIncrease(pool, tc.target, tc.delta))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CheckIncrease (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckDeleteSize(t *testing.T) {
	base := ut.MakeNodePool("base", carvev1.NodePoolRoleBase, 1, 3, "4", "16Gi").Obj()
	baseMin0 := base.DeepCopy() // CEL forbids it; the guard must hold anyway
	baseMin0.Spec.MinSize = 0
	cpu := ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 2, 10, "4", "16Gi").Obj()
	gpu := ut.MakeNodePool("gpu", carvev1.NodePoolRoleGPU, 0, 10, "4", "16Gi").Obj()
	tests := map[string]struct {
		pool         *carvev1.NodePool
		remaining, n int
		want         outcome
	}{
		"base keeps one":        {pool: base, remaining: 2, n: 1, want: outcome{Code: codes.OK}},
		"base last node":        {pool: base, remaining: 1, n: 1, want: outcome{codes.FailedPrecondition, "deleting node n1 from node group base: the Base pool keeps its last node"}},
		"base last node, min 0": {pool: baseMin0, remaining: 1, n: 1, want: outcome{codes.FailedPrecondition, "deleting node n1 from node group base: the Base pool keeps its last node"}},
		"cpu down to min":       {pool: cpu, remaining: 4, n: 2, want: outcome{Code: codes.OK}},
		"cpu below min":         {pool: cpu, remaining: 3, n: 2, want: outcome{codes.FailedPrecondition, "deleting node n1 from node group cpu: 1 nodes would be left, below minSize 2"}},
		"gpu to zero":           {pool: gpu, remaining: 2, n: 2, want: outcome{Code: codes.OK}},
		"more than there are":   {pool: gpu, remaining: 1, n: 2, want: outcome{codes.FailedPrecondition, "deleting node n1 from node group gpu: -1 nodes would be left, below minSize 0"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := outcomeOf(CheckDeleteSize(tc.pool, tc.remaining, tc.n, "n1"))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CheckDeleteSize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckNodeRemovable(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	disabled := node.DeepCopy()
	disabled.Annotations = map[string]string{AnnotationScaleDownDisabled: "true"}
	pod := func(phase corev1.PodPhase) *ut.PodWrapper {
		p := ut.MakePod("p", "ns").NodeName("n1")
		p.Status.Phase = phase
		return p
	}
	tests := map[string]struct {
		node *corev1.Node
		pods []corev1.Pod
		want outcome
	}{
		"empty node":       {node: node, want: outcome{Code: codes.OK}},
		"job pod":          {node: node, pods: []corev1.Pod{*pod(corev1.PodRunning).Workload(carvev1.WorkloadJob).Obj()}, want: outcome{Code: codes.OK}},
		"running session":  {node: node, pods: []corev1.Pod{*pod(corev1.PodRunning).Workload(carvev1.WorkloadSession).Obj()}, want: outcome{codes.FailedPrecondition, "deleting node n1: it runs session ns/p (carve never removes a node under a session)"}},
		"pending session":  {node: node, pods: []corev1.Pod{*pod(corev1.PodPending).Workload(carvev1.WorkloadSession).Obj()}, want: outcome{codes.FailedPrecondition, "deleting node n1: it runs session ns/p (carve never removes a node under a session)"}},
		"finished session": {node: node, pods: []corev1.Pod{*pod(corev1.PodSucceeded).Workload(carvev1.WorkloadSession).Obj()}, want: outcome{Code: codes.OK}},
		"failed session":   {node: node, pods: []corev1.Pod{*pod(corev1.PodFailed).Workload(carvev1.WorkloadSession).Obj()}, want: outcome{Code: codes.OK}},
		"safe-to-evict false": {node: node, pods: []corev1.Pod{*pod(corev1.PodRunning).Annotation(carvev1.AnnotationSafeToEvict, "false").Obj()},
			want: outcome{codes.FailedPrecondition, "deleting node n1: it runs pod ns/p annotated cluster-autoscaler.kubernetes.io/safe-to-evict=false"}},
		"safe-to-evict true":  {node: node, pods: []corev1.Pod{*pod(corev1.PodRunning).Annotation(carvev1.AnnotationSafeToEvict, "true").Obj()}, want: outcome{Code: codes.OK}},
		"scale-down disabled": {node: disabled, want: outcome{codes.FailedPrecondition, "deleting node n1: it is annotated cluster-autoscaler.kubernetes.io/scale-down-disabled=true"}},
		"no node object":      {node: nil, want: outcome{Code: codes.OK}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := outcomeOf(CheckNodeRemovable(tc.node, tc.pods))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CheckNodeRemovable (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnregisteredToForget(t *testing.T) {
	pool := ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 10, "4", "16Gi").Obj()
	instances := []cloudprovider.Instance{
		{ID: "a", State: cloudprovider.StateRunning},
		{ID: "b", State: cloudprovider.StateCreating},
		{ID: "c", State: cloudprovider.StateCreating},
		{ID: "d", State: cloudprovider.StateDeleting},
	}
	registered := map[string]bool{"a": true}
	tests := map[string]struct {
		delta   int32
		want    []string
		wantErr outcome
	}{
		"one":              {delta: -1, want: []string{"b"}, wantErr: outcome{Code: codes.OK}},
		"all unregistered": {delta: -2, want: []string{"b", "c"}, wantErr: outcome{Code: codes.OK}},
		"into registered": {delta: -3, wantErr: outcome{codes.FailedPrecondition,
			"decreasing target size of node group cpu by 3: only 2 of its 3 nodes are not registered; registered nodes are removed only through DeleteNodes"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := UnregisteredToForget(pool, instances, registered, tc.delta)
			if diff := cmp.Diff(tc.wantErr, outcomeOf(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
}
