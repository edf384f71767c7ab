package webhooks

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func reviewOf(t testing.TB, op admissionv1.Operation, pod, old *corev1.Pod) []byte {
	t.Helper()
	raw := func(p *corev1.Pod) runtime.RawExtension {
		if p == nil {
			return runtime.RawExtension{}
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return runtime.RawExtension{Raw: b}
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: "alice", Name: "p",
			Operation: op, Object: raw(pod), OldObject: raw(old),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzTrimmedDecode holds decodeReview's one-pass decoder of trimmed pods
// to decoding the whole review and trimming its pods with
// podcontract.Trim: the same header, the same pods, the same errors. The
// one difference allowed is documented at decodeReview: a type error in a
// field carve does not read fails only the whole decode.
func FuzzTrimmedDecode(f *testing.F) {
	for i := range 4 {
		pod := ut.PlatformPod("alice", i)
		admitted, err := podcontract.Admit(pod, ut.MakeNamespace("alice", "ml", ""), ut.NewObjects(platformLookup()...), podcontract.Options{PodLevelResources: i%2 == 0})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(reviewOf(f, admissionv1.Create, pod, nil))
		f.Add(reviewOf(f, admissionv1.Update, pod, admitted))
	}
	withEverything := ut.MakePod("x", "alice").InitContainer("init", "1", "").Sidecar("s", "100m", "").Container("c", "", "").
		PodResources("1", "1Gi").NodeName("n").Priority(5).Owner("batch/v1", "Job", "j").Obj()
	withEverything.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
	withEverything.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}
	withEverything.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}}
	f.Add(reviewOf(f, admissionv1.Update, withEverything, withEverything))
	f.Add(reviewOf(f, admissionv1.Delete, nil, withEverything))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":null}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"UPDATE","object":{"kind":"Pod"},"oldObject":null}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","Request":{"UID":"u","object":{"kind":"Pod","apiVersion":"v2"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		whole, wholeErr := decodeWholeReview(body)
		got, err := decodeReview(body)
		if (wholeErr == nil) != (err == nil) || (err != nil && err.Error() != wholeErr.Error()) {
			t.Fatalf("error %v, decoding the whole review gives %v", err, wholeErr)
		}
		if err != nil {
			return
		}
		if whole.PodErr != nil && got.PodErr == nil || whole.OldErr != nil && got.OldErr == nil {
			return // a type error in a field carve does not read
		}
		msg := func(err error) string {
			if err == nil {
				return ""
			}
			return err.Error()
		}
		if msg(got.PodErr) != msg(whole.PodErr) || msg(got.OldErr) != msg(whole.OldErr) {
			t.Fatalf("pod errors %q, %q; decoding the whole review gives %q, %q", got.PodErr, got.OldErr, whole.PodErr, whole.OldErr)
		}
		if got.Request != nil && (got.Request.Operation == admissionv1.Delete || got.Request.Operation == admissionv1.Connect) {
			// Nothing but the header is read of these.
			got.Pod, got.Old, got.HasObject = nil, nil, whole.HasObject
		}
		if whole.Request != nil && whole.Request.Operation != admissionv1.Update {
			got.Old = nil // read only for updates
		}
		got.PodErr, got.OldErr, whole.PodErr, whole.OldErr = nil, nil, nil, nil
		if diff := cmp.Diff(whole, got); diff != "" {
			t.Fatalf("decodeReview differs from decoding the whole review (-whole +got):\n%s", diff)
		}
	})
}

func platformLookup() []any {
	var out []any
	for _, o := range ut.PlatformObjects() {
		out = append(out, o)
	}
	return out
}
