package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carve-dev/carve/pkg/util/semantic"
)

// The pod webhooks run for every pod of every workspace, so they are served
// by podReviews instead of controller-runtime's generic admission.Webhook.
// It makes the same decisions as the typed Defaulter and Validator (Pod), but
// decodes each review once into only the fields the contract reads
// (decodeReview) and writes a JSON patch of the few fields the contract
// changes, where the generic path parses the review twice, decodes and
// re-encodes the whole pod and diffs two JSON trees
// (BenchmarkPodMutateHandler, docs/benchmarks.md).

type reviewResponse struct {
	APIVersion string                         `json:"apiVersion"`
	Kind       string                         `json:"kind"`
	Response   *admissionv1.AdmissionResponse `json:"response"`
}

// podReviews serves the mutating (mutate true) or validating pod webhook.
type podReviews struct {
	pod    *Pod
	mutate bool
}

// bufPool holds the buffers of request and response bodies: a review is
// 4-6 KiB, and the webhooks answer thousands a second.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (h *podReviews) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !acceptable(w, r) {
		return
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, maxReviewBytes+1)); err != nil {
		http.Error(w, "carve webhook: reading the request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if buf.Len() > maxReviewBytes {
		http.Error(w, fmt.Sprintf("carve webhook: request body is larger than %d bytes", maxReviewBytes), http.StatusRequestEntityTooLarge)
		return
	}
	rv, err := decodeReview(buf.Bytes())
	if err != nil {
		http.Error(w, "carve webhook: malformed AdmissionReview: "+err.Error(), http.StatusBadRequest)
		return
	}
	if msg := rv.malformed(); msg != "" {
		http.Error(w, "carve webhook: malformed AdmissionReview: "+msg+
			" (a review needs apiVersion admission.k8s.io/v1, kind AdmissionReview, and a request with a uid and an object)",
			http.StatusBadRequest)
		return
	}

	resp, status := h.review(r.Context(), rv)
	resp.UID = rv.Request.UID
	out := bufPool.Get().(*bytes.Buffer)
	out.Reset()
	defer bufPool.Put(out)
	if b, ok := appendResponse(out.AvailableBuffer(), rv.APIVersion, rv.Kind, resp); ok {
		out.Write(b)
	} else {
		if err := json.NewEncoder(out).Encode(reviewResponse{APIVersion: rv.APIVersion, Kind: rv.Kind, Response: resp}); err != nil {
			http.Error(w, "carve webhook: encoding the response: "+err.Error(), http.StatusInternalServerError)
			return
		}
		out.Truncate(out.Len() - 1) // Encode's newline: the same bytes as json.Marshal
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(out.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(out.Bytes())
}

// review decides one well-formed review. Bad objects inside it are answered
// in the review (the apiserver shows the message), with HTTP 200.
func (h *podReviews) review(ctx context.Context, rv *podReview) (*admissionv1.AdmissionResponse, int) {
	req := rv.Request
	if req.Operation == admissionv1.Delete || req.Operation == admissionv1.Connect {
		return &admissionv1.AdmissionResponse{Allowed: true}, http.StatusOK
	}
	if rv.PodErr != nil {
		return errored(http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", rv.PodErr)), http.StatusOK
	}
	pod := rv.Pod

	if h.mutate {
		if req.Operation != admissionv1.Create {
			return &admissionv1.AdmissionResponse{Allowed: true}, http.StatusOK
		}
		admitted, err := h.pod.admit(ctx, req.Namespace, pod)
		if err != nil {
			return denied(err), http.StatusOK
		}
		if admitted == nil {
			return &admissionv1.AdmissionResponse{Allowed: true}, http.StatusOK
		}
		patch, err := podPatch(pod, admitted)
		if err != nil {
			return errored(http.StatusInternalServerError, err), http.StatusOK
		}
		resp := &admissionv1.AdmissionResponse{Allowed: true}
		if len(patch) > 0 {
			pt := admissionv1.PatchTypeJSONPatch
			resp.PatchType, resp.Patch = &pt, patch
		}
		return resp, http.StatusOK
	}

	var err error
	switch req.Operation {
	case admissionv1.Create:
		err = h.pod.checkCreate(ctx, req.Namespace, pod)
	case admissionv1.Update:
		if rv.OldErr != nil {
			return errored(http.StatusBadRequest, fmt.Errorf("decoding the old pod: %w", rv.OldErr)), http.StatusOK
		}
		err = h.pod.checkUpdate(ctx, req.SubResource, rv.Old, pod)
	}
	if err != nil {
		return denied(err), http.StatusOK
	}
	return &admissionv1.AdmissionResponse{Allowed: true}, http.StatusOK
}

func denied(err error) *admissionv1.AdmissionResponse {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		s := status.Status()
		return &admissionv1.AdmissionResponse{Allowed: false, Result: &s}
	}
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: err.Error(),
	}}
}

func errored(code int32, err error) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: code, Message: err.Error(),
	}}
}

// patchOp is one JSON patch (RFC 6902) operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// podPatch is the JSON patch from before to after, over the fields the pod
// contract writes (podcontract.Admit changes nothing else; a test holds it
// to that). Each changed field is replaced whole: "add" on an object member
// sets it whether or not it was there. Fields are compared as
// equality.Semantic.DeepEqual compares them (package semantic).
func podPatch(before, after *corev1.Pod) ([]byte, error) {
	var ops []patchOp
	field := func(path string, equal bool, a any, empty bool) {
		switch {
		case equal:
		case empty:
			ops = append(ops, patchOp{Op: "remove", Path: path})
		default:
			ops = append(ops, patchOp{Op: "add", Path: path, Value: a})
		}
	}
	b, a := &before.Spec, &after.Spec
	field("/metadata/labels", semantic.StringMaps(before.Labels, after.Labels), after.Labels, len(after.Labels) == 0)
	field("/metadata/annotations", semantic.StringMaps(before.Annotations, after.Annotations), after.Annotations, len(after.Annotations) == 0)
	field("/spec/schedulerName", b.SchedulerName == a.SchedulerName, a.SchedulerName, a.SchedulerName == "")
	field("/spec/nodeSelector", semantic.StringMaps(b.NodeSelector, a.NodeSelector), a.NodeSelector, len(a.NodeSelector) == 0)
	field("/spec/affinity", semantic.Affinity(b.Affinity, a.Affinity), a.Affinity, a.Affinity == nil)
	field("/spec/tolerations", semantic.Tolerations(b.Tolerations, a.Tolerations), a.Tolerations, len(a.Tolerations) == 0)
	field("/spec/resources", semantic.Requirements(b.Resources, a.Resources), a.Resources, a.Resources == nil)
	field("/spec/priorityClassName", b.PriorityClassName == a.PriorityClassName, a.PriorityClassName, a.PriorityClassName == "")
	field("/spec/priority", semantic.Pointers(b.Priority, a.Priority), a.Priority, a.Priority == nil)
	field("/spec/preemptionPolicy", semantic.Pointers(b.PreemptionPolicy, a.PreemptionPolicy), a.PreemptionPolicy, a.PreemptionPolicy == nil)
	if len(b.Containers) != len(a.Containers) || len(b.InitContainers) != len(a.InitContainers) {
		return nil, errors.New("the pod contract added or removed containers")
	}
	for i := range a.InitContainers {
		// Without pod-level resources the contract caps init containers.
		br, ar := &b.InitContainers[i].Resources, &a.InitContainers[i].Resources
		field("/spec/initContainers/"+strconv.Itoa(i)+"/resources", semantic.Requirements(br, ar), ar, false)
	}
	for i := range a.Containers {
		br, ar := &b.Containers[i].Resources, &a.Containers[i].Resources
		field("/spec/containers/"+strconv.Itoa(i)+"/resources", semantic.Requirements(br, ar), ar, false)
	}
	if len(ops) == 0 {
		return nil, nil
	}
	return appendPatch(make([]byte, 0, 2048), ops)
}
