package webhooks_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/controller"
	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/pkg/webhooks"
)

// handlers serves the webhooks over an in-memory reader holding a workspace
// namespace "alice" of workspace "ml", its profiles and its default
// PriorityClass. Only the HTTP layer is
// under test here; test/integration runs the webhooks against a real
// apiserver.
func handlers(t testing.TB) map[string]http.Handler {
	t.Helper()
	return handlersWith(t, podcontract.Options{PodLevelResources: true})
}

// handlersWith is handlers with the contract's options.
func handlersWith(t testing.TB, opts podcontract.Options) map[string]http.Handler {
	t.Helper()
	scheme := controller.Scheme()
	r := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		ut.MakeNamespace("alice", "ml", ""),
		ut.MakeWorkspace("ml", "small", "gpu-1").PriorityClasses("calm", "", "calm").Obj(),
		ut.MakePriorityClass("calm", 100, corev1.PreemptNever, false),
		ut.MakeProfile("small", "1", "2Gi").Obj(),
		ut.MakeProfile("gpu-1", "8", "32Gi").GPU(1, "").Obj(),
	).Build()
	return webhooks.Handlers(scheme, r, r, opts)
}

// Review wraps a pod in an AdmissionReview as the apiserver sends it.
func Review(t testing.TB, pod *corev1.Pod) []byte {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       "6f7a0b2e-0000-4000-8000-000000000001",
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: pod.Namespace, Name: pod.Name,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(h http.Handler, contentType, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, webhooks.PathPodMutate, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestMalformedReviewsGetA4xx(t *testing.T) {
	h := handlers(t)[webhooks.PathPodMutate]
	for _, tc := range []struct {
		name, contentType, body string
		code                    int
		says                    string
	}{
		{"wrong content type", "text/plain", "{}", http.StatusUnsupportedMediaType, "application/json"},
		{"empty body", "application/json", "", http.StatusBadRequest, "unexpected end of JSON input"},
		{"not json", "application/json", "{", http.StatusBadRequest, "unexpected end of JSON input"},
		{"not a review", "application/json", `{"apiVersion":"v1","kind":"Pod"}`, http.StatusBadRequest, "AdmissionReview"},
		{"no request", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, http.StatusBadRequest, "a request with a uid"},
		{"no uid", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}`, http.StatusBadRequest, "uid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := post(h, tc.contentType, tc.body)
			if rec.Code != tc.code {
				t.Errorf("status = %d, want %d (body %q)", rec.Code, tc.code, rec.Body.String())
			}
			if !strings.Contains(rec.Body.String(), tc.says) {
				t.Errorf("body %q does not say %q", rec.Body.String(), tc.says)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, webhooks.PathPodMutate, nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("status = %d, want 405", rec.Code)
		}
	})
}

func TestPodReviewOverHTTP(t *testing.T) {
	h := handlers(t)
	decode := func(t *testing.T, rec *httptest.ResponseRecorder) *admissionv1.AdmissionResponse {
		t.Helper()
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d: %s", rec.Code, rec.Body.String())
		}
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("response is not an AdmissionReview: %v: %s", err, rec.Body.String())
		}
		if out.Response.UID != "6f7a0b2e-0000-4000-8000-000000000001" {
			t.Errorf("response uid = %q", out.Response.UID)
		}
		return out.Response
	}

	ok := decode(t, post(h[webhooks.PathPodMutate], "application/json",
		string(Review(t, ut.MakePod("nb", "alice").Container("main", "", "").Obj()))))
	if !ok.Allowed || ok.PatchType == nil || !strings.Contains(string(ok.Patch), carvev1.SchedulerName) {
		t.Errorf("mutate: allowed=%v patch=%s, want a patch setting the scheduler", ok.Allowed, ok.Patch)
	}

	denied := decode(t, post(h[webhooks.PathPodMutate], "application/json",
		string(Review(t, ut.MakePod("nb", "alice").Profile("huge").Container("main", "", "").Obj()))))
	if denied.Allowed || denied.Result == nil || !strings.Contains(denied.Result.Message, string(podcontract.RuleProfileNotAllowed)) {
		t.Errorf("mutate of a disallowed profile: allowed=%v result=%+v", denied.Allowed, denied.Result)
	}

	// A pod outside workspace namespaces is never changed, even when it
	// reaches the webhook.
	foreign := ut.MakePod("x", "elsewhere").Container("main", "", "").Obj()
	rec := post(h[webhooks.PathPodMutate], "application/json", string(Review(t, foreign)))
	if resp := decode(t, rec); resp.Allowed || !strings.Contains(resp.Result.Message, "not known") {
		// "elsewhere" is not in the reader: the webhook must not guess.
		t.Errorf("pod in an unknown namespace: allowed=%v result=%+v", resp.Allowed, resp.Result)
	}
}

// FuzzPodWebhook sends arbitrary bodies through the HTTP handler: it must
// never panic or answer 5xx, and an HTTP 200 must be an AdmissionReview.
func FuzzPodWebhook(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":{}}}`))
	f.Add(Review(f, ut.MakePod("nb", "alice").Container("main", "", "").Obj()))
	f.Add(Review(f, ut.MakePod("nb", "alice").Profile("gpu-1").Container("main", "1", "").Obj()))
	h := handlers(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{webhooks.PathPodMutate, webhooks.PathPodValidate} {
			rec := post(h[path], "application/json", string(body))
			switch {
			case rec.Code >= 500:
				t.Fatalf("%s: status %d: %s", path, rec.Code, rec.Body.String())
			case rec.Code >= 400:
				if rec.Body.Len() == 0 {
					t.Fatalf("%s: status %d without a message", path, rec.Code)
				}
			default:
				var out admissionv1.AdmissionReview
				if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
					t.Fatalf("%s: status %d with no AdmissionReview: %s", path, rec.Code, rec.Body.String())
				}
			}
		}
	})
}

// A pod reaches the pod webhooks only when the apiserver saw its namespace
// labelled; a cache that lags (no namespace yet, or without the label) must
// not let the pod through untouched.
func TestNamespaceCacheLag(t *testing.T) {
	scheme := controller.Scheme()
	carveObjects := []client.Object{
		ut.MakeWorkspace("ml", "small").Obj(),
		ut.MakeProfile("small", "1", "2Gi").Obj(),
	}
	unlabelled := ut.MakeNamespace("alice", "ml", "")
	delete(unlabelled.Labels, carvev1.LabelWorkspace)
	live := fake.NewClientBuilder().WithScheme(scheme).WithObjects(append(carveObjects, ut.MakeNamespace("alice", "ml", ""))...).Build()
	for _, tc := range []struct {
		name   string
		cached []client.Object
		live   client.Reader
		// wantCode is the denial's code; 0 means the pod is admitted with
		// its profile applied.
		wantCode int32
	}{
		{"namespace not cached yet", nil, live, 0},
		{"label not cached yet", []client.Object{unlabelled}, live, 0},
		{"unknown even to the apiserver", nil, fake.NewClientBuilder().WithScheme(scheme).Build(), http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cached := fake.NewClientBuilder().WithScheme(scheme).WithObjects(append(carveObjects, tc.cached...)...).Build()
			for path, wantPatch := range map[string]bool{webhooks.PathPodMutate: true, webhooks.PathPodValidate: false} {
				h := webhooks.Handlers(scheme, cached, tc.live, podcontract.Options{PodLevelResources: true})[path]
				pod := ut.MakePod("p", "alice").Container("c", "", "").Obj()
				if !wantPatch {
					var err error
					if pod, err = podcontract.Admit(pod, ut.MakeNamespace("alice", "ml", ""), ut.NewObjects(carveObjects[0], carveObjects[1]), podcontract.Options{PodLevelResources: true}); err != nil {
						t.Fatal(err)
					}
				}
				rec := post(h, "application/json", string(Review(t, pod)))
				var out admissionv1.AdmissionReview
				if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
					t.Fatalf("%s: response %v %s", path, err, rec.Body.String())
				}
				if tc.wantCode != 0 {
					if out.Response.Allowed || out.Response.Result == nil || out.Response.Result.Code != tc.wantCode ||
						!strings.Contains(out.Response.Result.Message, "try again") {
						t.Errorf("%s: response %+v, want a %d denial saying to try again", path, out.Response, tc.wantCode)
					}
					continue
				}
				if !out.Response.Allowed {
					t.Fatalf("%s: denied: %+v", path, out.Response.Result)
				}
				if got := len(out.Response.Patch) > 0; got != wantPatch {
					t.Errorf("%s: patch present %v, want %v (the profile must be applied)", path, got, wantPatch)
				}
			}
		})
	}
}

// TestPodReviewReadsTheRequest checks that the pod webhooks decide with the
// request's namespace (a pod created with generateName through a
// namespaced URL names none) and subresource, which podReviews passes to
// the contract itself.
func TestPodReviewReadsTheRequest(t *testing.T) {
	h := handlers(t)
	send := func(t *testing.T, path string, req admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		t.Helper()
		req.UID, req.Kind = "u", metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
		body, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: &req})
		if err != nil {
			t.Fatal(err)
		}
		rec := post(h[path], "application/json", string(body))
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("response %v %s", err, rec.Body.String())
		}
		return out.Response
	}
	raw := func(pod *corev1.Pod) runtime.RawExtension {
		b, err := json.Marshal(pod)
		if err != nil {
			t.Fatal(err)
		}
		return runtime.RawExtension{Raw: b}
	}

	unnamed := ut.MakePod("", "").Container("main", "", "").Obj()
	for _, tc := range []struct {
		ns      string
		allowed bool
	}{{"alice", true}, {"", false}} {
		resp := send(t, webhooks.PathPodMutate, admissionv1.AdmissionRequest{Namespace: tc.ns, Operation: admissionv1.Create, Object: raw(unnamed)})
		if resp.Allowed != tc.allowed || tc.allowed && !strings.Contains(string(resp.Patch), carvev1.SchedulerName) {
			t.Errorf("pod without a namespace, request namespace %q: allowed=%v patch=%s result=%+v, want allowed=%v (with the profile applied)",
				tc.ns, resp.Allowed, resp.Patch, resp.Result, tc.allowed)
		}
	}

	admitted, err := podcontract.Admit(ut.MakePod("p", "alice").Container("main", "", "").Obj(), ut.MakeNamespace("alice", "ml", ""),
		ut.NewObjects(ut.MakeWorkspace("ml", "small", "gpu-1").PriorityClasses("calm", "", "calm").Obj(),
			ut.MakePriorityClass("calm", 100, corev1.PreemptNever, false), ut.MakeProfile("small", "1", "2Gi").Obj()),
		podcontract.Options{PodLevelResources: true})
	if err != nil {
		t.Fatal(err)
	}
	debugged := admitted.DeepCopy()
	debugged.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "debug", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m")}}}}}
	for _, tc := range []struct {
		sub     string
		allowed bool
	}{{podcontract.SubresourceEphemeralContainers, false}, {"", true}} {
		resp := send(t, webhooks.PathPodValidate, admissionv1.AdmissionRequest{Namespace: "alice", Operation: admissionv1.Update,
			SubResource: tc.sub, Object: raw(debugged), OldObject: raw(admitted)})
		if resp.Allowed != tc.allowed || !tc.allowed && !strings.Contains(resp.Result.Message, string(podcontract.RuleEphemeralResources)) {
			t.Errorf("ephemeral container with resources, subresource %q: allowed=%v result=%+v, want allowed=%v", tc.sub, resp.Allowed, resp.Result, tc.allowed)
		}
	}
}
