package webhooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/podcontract"
)

// Handlers returns carve's webhook handlers by path, each behind Strict.
func Handlers(scheme *runtime.Scheme, r client.Reader, opts podcontract.Options) map[string]http.Handler {
	pod := &Pod{Reader: r, Options: opts}
	return map[string]http.Handler{
		PathPodMutate:         Strict(admission.WithDefaulter[*corev1.Pod](scheme, pod)),
		PathPodValidate:       Strict(admission.WithValidator[*corev1.Pod](scheme, pod)),
		PathProfileValidate:   Strict(admission.WithValidator[*carvev1.ResourceProfile](scheme, &ResourceProfile{Reader: r})),
		PathWorkspaceValidate: Strict(admission.WithValidator[*carvev1.Workspace](scheme, &Workspace{Reader: r})),
		PathNodePoolValidate:  Strict(admission.WithValidator[*carvev1.NodePool](scheme, &NodePool{Reader: r})),
	}
}

// maxReviewBytes bounds a request body; the apiserver's own limit on an
// object is 3 MiB, and a review carries at most two objects.
const maxReviewBytes = 7 << 20

// envelope is the part of an AdmissionReview that must be there for the
// review to be answerable at all.
type envelope struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Request    *struct {
		UID string `json:"uid"`
	} `json:"request"`
}

// Strict answers requests that are not AdmissionReviews with an HTTP 4xx and
// a plain message, instead of an HTTP 200 carrying an error result: callers
// other than the apiserver (and people with curl) then see at once what is
// wrong. Well-formed reviews go on to h.
func Strict(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "carve webhook: send an AdmissionReview with POST", http.StatusMethodNotAllowed)
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			http.Error(w, fmt.Sprintf("carve webhook: Content-Type %q is not supported; send application/json", r.Header.Get("Content-Type")),
				http.StatusUnsupportedMediaType)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes+1))
		if err != nil {
			http.Error(w, "carve webhook: reading the request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if len(body) > maxReviewBytes {
			http.Error(w, fmt.Sprintf("carve webhook: request body is larger than %d bytes", maxReviewBytes), http.StatusRequestEntityTooLarge)
			return
		}
		var env envelope
		if err := json.Unmarshal(body, &env); err != nil {
			http.Error(w, "carve webhook: the body is not a JSON AdmissionReview: "+err.Error(), http.StatusBadRequest)
			return
		}
		switch {
		case env.Kind != "AdmissionReview" || (env.APIVersion != "admission.k8s.io/v1" && env.APIVersion != "admission.k8s.io/v1beta1"):
			http.Error(w, fmt.Sprintf("carve webhook: got %s %s; send an admission.k8s.io/v1 AdmissionReview", env.APIVersion, env.Kind), http.StatusBadRequest)
			return
		case env.Request == nil || env.Request.UID == "":
			http.Error(w, "carve webhook: the AdmissionReview has no request or no request.uid", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		h.ServeHTTP(w, r)
	})
}
