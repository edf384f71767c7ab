package webhooks_test

import (
	"encoding/json"
	"fmt"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/pkg/webhooks"
)

// TestMutatePatchMatchesAdmit holds the pod webhook's hand-made JSON patch
// to the contract: applied to the pod the apiserver sent, it must give
// exactly the pod podcontract.Admit returns.
func TestMutatePatchMatchesAdmit(t *testing.T) {
	for _, opts := range []podcontract.Options{{PodLevelResources: true}, {PodLevelResources: false}} {
		t.Run(fmt.Sprintf("podLevelResources=%v", opts.PodLevelResources), func(t *testing.T) { testMutatePatch(t, opts) })
	}
}

func testMutatePatch(t *testing.T, opts podcontract.Options) {
	h := handlersWith(t, opts)[webhooks.PathPodMutate]
	lookup := ut.NewObjects(ut.MakeWorkspace("ml", "small", "gpu-1").PriorityClasses("calm", "", "calm").Obj(),
		ut.MakePriorityClass("calm", 100, corev1.PreemptNever, false),
		ut.MakeProfile("small", "1", "2Gi").Obj(), ut.MakeProfile("gpu-1", "8", "32Gi").GPU(1, "").Obj())
	ns := ut.MakeNamespace("alice", "ml", "")

	withAffinity := ut.MakePod("aff", "alice").Label("app", "x").Annotation("note", "y").
		Container("main", "500m", "1Gi").Container("side", "", "").Obj()
	withAffinity.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}}
	withAffinity.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{}}

	for _, pod := range []*corev1.Pod{
		ut.MakePod("bare", "alice").Container("main", "", "").Obj(),
		ut.MakePod("gpu", "alice").Profile("gpu-1").Container("a", "1", "").Container("b", "", "").Sidecar("s", "100m", "").Obj(),
		ut.MakePod("job", "alice").Owner("batch/v1", "Job", "j").Label("carve.dev/team", "fake").Container("main", "", "").Obj(),
		withAffinity,
		ut.MakePod("init", "alice").InitContainer("fetch", "200m", "").Sidecar("proxy", "100m", "64Mi").Container("main", "", "").Obj(),
	} {
		t.Run(pod.Name, func(t *testing.T) {
			want, err := podcontract.Admit(pod, ns, lookup, opts)
			if err != nil {
				// Without pod-level resources some of these pods are refused:
				// there is no patch to check.
				t.Skip(err)
			}
			rec := post(h, "application/json", string(Review(t, pod)))
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil || !out.Response.Allowed {
				t.Fatalf("response: %v %s", err, rec.Body.String())
			}
			patch, err := jsonpatch.DecodePatch(out.Response.Patch)
			if err != nil {
				t.Fatalf("patch does not decode: %v\n%s", err, out.Response.Patch)
			}
			raw, _ := json.Marshal(pod)
			patched, err := patch.Apply(raw)
			if err != nil {
				t.Fatalf("patch does not apply: %v\n%s", err, out.Response.Patch)
			}
			var got corev1.Pod
			if err := json.Unmarshal(patched, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, &got, cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
				t.Errorf("patched pod differs from Admit (-want +got):\n%s", diff)
			}
		})
	}
}
