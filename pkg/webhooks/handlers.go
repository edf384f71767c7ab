package webhooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/podcontract"
)

// Handlers returns carve's webhook handlers by path. The pod webhooks, on
// every pod's path, are served by podReviews; carve's own kinds by
// controller-runtime's typed webhooks behind Strict. cached serves the
// lookups on the hot path; live (the apiserver itself) the in-use checks
// of deletions, which are rare and must see objects created a moment ago,
// and namespaces the cache does not show as workspace namespaces yet.
func Handlers(scheme *runtime.Scheme, cached, live client.Reader, opts podcontract.Options) map[string]http.Handler {
	pod := &Pod{Reader: cached, Live: live, Options: opts}
	return map[string]http.Handler{
		PathPodMutate:         &podReviews{pod: pod, mutate: true},
		PathPodValidate:       &podReviews{pod: pod},
		PathProfileValidate:   Strict(admission.WithValidator[*carvev1.ResourceProfile](scheme, &ResourceProfile{Reader: cached, Live: live})),
		PathWorkspaceValidate: Strict(admission.WithValidator[*carvev1.Workspace](scheme, &Workspace{Reader: cached, Live: live})),
		PathNodePoolValidate:  Strict(admission.WithValidator[*carvev1.NodePool](scheme, &NodePool{Reader: cached, Live: live})),
	}
}

// maxReviewBytes bounds a request body; the apiserver's own limit on an
// object is 3 MiB, and a review carries at most two objects.
const maxReviewBytes = 7 << 20

// Strict answers requests that are not answerable AdmissionReviews with an
// HTTP 4xx and a plain message, where controller-runtime would answer HTTP
// 200 with an error inside a review that has no uid (which the apiserver
// rejects anyway): callers other than the apiserver, and people with curl,
// then see at once what is wrong. It checks the method and content type
// itself and leaves decoding to h, so a well-formed review is parsed once.
func Strict(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !acceptable(w, r) {
			return
		}
		rec := &recorder{header: http.Header{}, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		body := rec.body.Bytes()
		if rec.code == http.StatusOK && bytes.Contains(body, []byte(`"uid":""`)) {
			// Only a review that could not be decoded is answered without
			// its uid: say why, as an HTTP error.
			var out admissionv1.AdmissionReview
			msg, code := "malformed AdmissionReview", http.StatusBadRequest
			if json.Unmarshal(body, &out) == nil && out.Response != nil && out.Response.Result != nil {
				msg += ": " + out.Response.Result.Message
				if c := int(out.Response.Result.Code); c >= 400 && c < 500 {
					code = c
				}
			}
			if len(bytes.TrimSpace(body)) > 0 && out.Response != nil && out.Response.UID == "" {
				msg += " (a review needs apiVersion admission.k8s.io/v1, kind AdmissionReview, and a request with a uid and an object)"
			}
			http.Error(w, "carve webhook: "+msg, code)
			return
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		_, _ = w.Write(body)
	})
}

// acceptable answers a request that is not a POST of JSON with a 405 or 415
// and reports false; it reports true for requests worth decoding.
func acceptable(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "carve webhook: send an AdmissionReview with POST", http.StatusMethodNotAllowed)
		return false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		http.Error(w, fmt.Sprintf("carve webhook: Content-Type %q is not supported; send application/json", r.Header.Get("Content-Type")),
			http.StatusUnsupportedMediaType)
		return false
	}
	return true
}

// recorder keeps a handler's response so Strict can look at it first.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
