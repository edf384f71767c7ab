package server

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func TestRefusalReasons(t *testing.T) {
	cpu := ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 1, 3, "4", "16Gi").Obj()
	base := ut.MakeNodePool("base", carvev1.NodePoolRoleBase, 1, 3, "4", "16Gi").Obj()
	session := ut.MakePod("nb", "alice").Workload(carvev1.WorkloadSession).NodeName("n1").Obj()
	keep := ut.MakePod("db", "alice").Annotation(carvev1.AnnotationSafeToEvict, "false").NodeName("n1").Obj()
	disabled := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Annotations: map[string]string{AnnotationScaleDownDisabled: "true"}}}
	type refusal struct{ Reason, Node, Hint string }
	tests := map[string]struct {
		err  error
		want refusal
	}{
		"above max":   {CheckIncrease(cpu, 3, 1), refusal{ReasonAboveMaxSize, "", "raise spec.maxSize of NodePool cpu if it should grow further"}},
		"below min":   {CheckDeleteSize(cpu, 1, 1, "n1"), refusal{ReasonBelowMinSize, "n1", "lower spec.minSize of NodePool cpu to let the pool shrink further"}},
		"base last":   {CheckDeleteSize(base, 1, 1, "n1"), refusal{ReasonBaseLastNode, "n1", "a Base pool always keeps one node; to replace this one, let the pool grow first"}},
		"session":     {CheckNodeRemovable(nil, []corev1.Pod{*session}), refusal{ReasonSessionRunning, "n1", "the node can go once the session ends (delete pod alice/nb to end it now)"}},
		"not evicted": {CheckNodeRemovable(nil, []corev1.Pod{*keep}), refusal{ReasonPodNotEvictable, "n1", "the node can go once pod alice/db ends or loses the annotation"}},
		"disabled":    {CheckNodeRemovable(disabled, nil), refusal{ReasonScaleDownDisabled, "n1", "remove the annotation from node n1 to let it go"}},
		"registered": {func() error {
			_, err := UnregisteredToForget(cpu, []cloudprovider.Instance{{ID: "a", State: cloudprovider.StateRunning}}, map[string]bool{"a": true}, -1)
			return err
		}(), refusal{ReasonNodesRegistered, "", "nothing to do: the autoscaler removes registered nodes through DeleteNodes"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := AsRefusal(tc.err)
			if r == nil {
				t.Fatalf("%v is not a Refusal", tc.err)
			}
			if diff := cmp.Diff(tc.want, refusal{r.Reason, r.Node, r.Hint}); diff != "" {
				t.Errorf("refusal (-want +got):\n%s", diff)
			}
			if !errors.Is(tc.err, cloudprovider.ErrRefused) {
				t.Errorf("%v is not an ErrRefused", tc.err)
			}
			if want := r.Error() + "; " + r.Hint; r.Note() != want {
				t.Errorf("Note() = %q, want %q", r.Note(), want)
			}
		})
	}
	if AsRefusal(cloudprovider.Errorf(cloudprovider.ErrRefused, "no reason")) != nil || AsRefusal(nil) != nil {
		t.Error("AsRefusal found a Refusal where there is none")
	}
}
