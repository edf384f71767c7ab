package webhooks

import (
	"encoding/json"
	"errors"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	sigsjson "sigs.k8s.io/json"

	"github.com/carve-dev/carve/pkg/podcontract"
)

// Decoding was most of what a pod review cost: a pod is 4-6 KiB of JSON,
// and the contract reads a tenth of it. decodeReview reads a review in one
// pass (scanReview, reviewscan.go) and keeps only what podcontract.Trim
// keeps of its pods; the decision is the same as on the whole pod
// (FuzzTrim), and FuzzTrimmedDecode and FuzzScanReview hold this decoder to
// Trim.

// podReview is a decoded pod AdmissionReview.
type podReview struct {
	APIVersion, Kind string
	// Request is nil when the review has none.
	Request *requestHeader
	// HasObject says request.object is there; Pod and Old are request.object
	// and request.oldObject trimmed (podcontract.Trim), nil when absent or
	// not decoded; PodErr and OldErr say why they could not be decoded.
	HasObject      bool
	Pod, Old       *corev1.Pod
	PodErr, OldErr error
}

// requestHeader is the part of an AdmissionRequest the pod webhooks read
// besides its objects.
type requestHeader struct {
	UID         types.UID                   `json:"uid"`
	Kind        metav1.GroupVersionKind     `json:"kind"`
	Namespace   string                      `json:"namespace"`
	Name        string                      `json:"name"`
	Operation   admissionv1.Operation       `json:"operation"`
	SubResource string                      `json:"subResource"`
	Resource    metav1.GroupVersionResource `json:"resource"`
}

// decodeReview decodes a review. The fast way is one case-sensitive pass
// (as the apiserver and client-go decode) into only the fields carve reads
// (scanReview). A review it cannot take as it stands (a syntax or type error
// anywhere, a field it does not find) is decoded again the way every review
// used to be, with a case-insensitive envelope and whole pods, so that the
// answer to it, usually an error, stays what it was. The one difference
// left: a pod whose fields carve never reads hold values of the wrong type
// is decoded now, and was refused as undecodable before; the apiserver never
// sends one.
func decodeReview(body []byte) (*podReview, error) {
	if rv, hasOld, ok := scanReview(body); ok && rv.Request != nil {
		op := rv.Request.Operation
		if rv.malformed() == "" && (op != admissionv1.Update || hasOld) {
			return rv, nil
		}
	}
	return decodeWholeReview(body)
}

// decodeWholeReview is the slow way: the envelope first, then each pod.
func decodeWholeReview(body []byte) (*podReview, error) {
	var whole struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Request    *struct {
			requestHeader
			Object    json.RawMessage `json:"object"`
			OldObject json.RawMessage `json:"oldObject"`
		} `json:"request"`
	}
	if err := json.Unmarshal(body, &whole); err != nil {
		return nil, err
	}
	rv := &podReview{APIVersion: whole.APIVersion, Kind: whole.Kind}
	if whole.Request == nil {
		return rv, nil
	}
	rv.Request, rv.HasObject = &whole.Request.requestHeader, len(whole.Request.Object) > 0
	switch rv.Request.Operation {
	case admissionv1.Delete, admissionv1.Connect:
	default:
		rv.Pod, rv.PodErr = decodeWholePod(whole.Request.Object)
		if rv.Request.Operation == admissionv1.Update {
			rv.Old, rv.OldErr = decodeWholePod(whole.Request.OldObject)
		}
	}
	return rv, nil
}

func (rv *podReview) malformed() string {
	switch req := rv.Request; {
	case rv.Kind != "AdmissionReview" || (rv.APIVersion != "admission.k8s.io/v1" && rv.APIVersion != "admission.k8s.io/v1beta1"):
		return fmt.Sprintf("got apiVersion %q kind %q", rv.APIVersion, rv.Kind)
	case req == nil:
		return "it has no request"
	case req.UID == "":
		return "request.uid is empty"
	case req.Kind.Kind != "" && (req.Kind.Group != "" || req.Kind.Kind != "Pod"):
		return fmt.Sprintf("this webhook admits pods, not %s", req.Kind.String())
	case req.Operation != admissionv1.Delete && req.Operation != admissionv1.Connect && !rv.HasObject:
		return "request.object is missing"
	}
	return ""
}

// decodeWholePod decodes a pod as the apiserver would (field names are
// case-sensitive and numbers keep their integer type) and trims it.
func decodeWholePod(raw []byte) (*corev1.Pod, error) {
	if len(raw) == 0 {
		return nil, errors.New("no object")
	}
	pod := &corev1.Pod{}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, pod); err != nil {
		return nil, err
	}
	if err := checkPodKind(pod.APIVersion, pod.Kind); err != nil {
		return nil, err
	}
	return podcontract.Trim(pod), nil
}

func checkPodKind(apiVersion, kind string) error {
	if kind != "" && (kind != "Pod" || (apiVersion != "" && apiVersion != "v1")) {
		return fmt.Errorf("object is %s %s, not a v1 Pod", apiVersion, kind)
	}
	return nil
}
