package webhooks

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", `{"a":"b\\c"}`, "<&>", "\x7f\x1f", "é\u2028\u2029\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("appendJSONString(%q) = %s, json.Marshal gives %s", s, got, want)
		}
	})
}
