package webhooks

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// TestAppendPatchMatchesMarshal holds appendPatch to json.Marshal, which
// wrote the patch before, over every kind of value podPatch writes.
func TestAppendPatchMatchesMarshal(t *testing.T) {
	rr := &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), "nvidia.com/gpu": resource.MustParse("1")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourceCPU: resource.MustParse("2.5")},
	}
	ops := []patchOp{
		{Op: "remove", Path: "/metadata/labels"},
		{Op: "add", Path: "/metadata/labels", Value: map[string]string{"b": "2", "a": "1", "carve.dev/profile": "gpu-1"}},
		{Op: "add", Path: "/metadata/annotations", Value: map[string]string{"carve.dev/applied": `{"workspace":"ml","x":"a\\b"}`, "html": "<a & b>", "ctl": "a\tb\nc\x00", "uni": "é\u2028\xff"}},
		{Op: "add", Path: "/metadata/annotations", Value: map[string]string{}},
		{Op: "add", Path: "/spec/schedulerName", Value: "carve-scheduler"},
		{Op: "add", Path: "/spec/schedulerName", Value: ""},
		{Op: "add", Path: "/spec/resources", Value: rr},
		{Op: "add", Path: "/spec/resources", Value: &corev1.ResourceRequirements{}},
		{Op: "add", Path: "/spec/resources", Value: (*corev1.ResourceRequirements)(nil)},
		{Op: "add", Path: "/spec/containers/0/resources", Value: &corev1.ResourceRequirements{Requests: rr.Requests, Claims: []corev1.ResourceClaim{{Name: "c"}}}},
		{Op: "add", Path: "/spec/priority", Value: ptr.To[int32](-7)},
		{Op: "add", Path: "/spec/priority", Value: (*int32)(nil)},
		{Op: "add", Path: "/spec/preemptionPolicy", Value: ptr.To(corev1.PreemptNever)},
		{Op: "add", Path: "/spec/tolerations", Value: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}},
		{Op: "add", Path: "/spec/tolerations", Value: []corev1.Toleration{{}, {Value: "v<\"é"}, {Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr.To[int64](-1)},
			{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			{Key: "a", Operator: corev1.TolerationOpEqual, Value: "b", Effect: corev1.TaintEffectPreferNoSchedule, TolerationSeconds: ptr.To[int64](0)}}},
		{Op: "add", Path: "/spec/tolerations", Value: []corev1.Toleration{}},
		{Op: "add", Path: "/spec/tolerations", Value: []corev1.Toleration(nil)},
		{Op: "add", Path: "/spec/affinity", Value: &corev1.Affinity{}},
	}
	for i := range ops {
		for _, o := range [][]patchOp{ops[i : i+1], ops[:i+1]} {
			want, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendPatch(nil, o)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("appendPatch(%v) (-json.Marshal +appendPatch):\n%s", o, diff)
			}
		}
	}
}

// FuzzAppendJSONString holds the strings of a patch to encoding/json's.
// TestAppendResponse holds the hand-written response envelope to
// json.Marshal, which wrote it before, and checks that responses with more
// in them are left to encoding/json.
func TestAppendResponse(t *testing.T) {
	pt := admissionv1.PatchTypeJSONPatch
	for _, resp := range []*admissionv1.AdmissionResponse{
		{UID: "6f7a0b2e-0000-4000-8000-000000000001", Allowed: true},
		{UID: "u", Allowed: true, Patch: []byte(`[{"op":"add","path":"/a","value":"<é>"}]`), PatchType: &pt},
		{UID: "u\"<&>\u2028\x00", Allowed: false},
		{UID: "", Allowed: true, Patch: []byte{}},
		{UID: "u", Allowed: true, Patch: []byte{0xff, 0, 1}},
	} {
		for _, env := range [][2]string{{"admission.k8s.io/v1", "AdmissionReview"}, {"admission.k8s.io/v1beta1", "AdmissionReview"}} {
			want, err := json.Marshal(reviewResponse{APIVersion: env[0], Kind: env[1], Response: resp})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := appendResponse(nil, env[0], env[1], resp)
			if !ok {
				t.Fatalf("appendResponse does not write %+v", resp)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("appendResponse(%+v) (-json.Marshal +appendResponse):\n%s", resp, diff)
			}
		}
	}
	for _, resp := range []*admissionv1.AdmissionResponse{
		{UID: "u", Result: &metav1.Status{Message: "no"}},
		{UID: "u", Allowed: true, Warnings: []string{"w"}},
		{UID: "u", Allowed: true, AuditAnnotations: map[string]string{"a": "b"}},
	} {
		if b, ok := appendResponse(nil, "admission.k8s.io/v1", "AdmissionReview", resp); ok {
			t.Errorf("appendResponse wrote %s, which it leaves to encoding/json", b)
		}
	}
}

// FuzzAppendResponse holds the envelope to json.Marshal for any uid and
// patch.
func FuzzAppendResponse(f *testing.F) {
	f.Add("u", []byte(`[{"op":"add"}]`), true, true)
	f.Add("<\u2028\xff>", []byte{}, false, false)
	f.Fuzz(func(t *testing.T, uid string, patch []byte, allowed, typed bool) {
		resp := &admissionv1.AdmissionResponse{UID: types.UID(uid), Allowed: allowed, Patch: patch}
		if typed {
			pt := admissionv1.PatchTypeJSONPatch
			resp.PatchType = &pt
		}
		want, err := json.Marshal(reviewResponse{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview", Response: resp})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := appendResponse(nil, "admission.k8s.io/v1", "AdmissionReview", resp); string(got) != string(want) {
			t.Errorf("appendResponse = %s, json.Marshal gives %s", got, want)
		}
	})
}
