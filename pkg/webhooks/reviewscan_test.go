package webhooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"

	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// reflectiveDecode is the decoder scanReview replaced, kept as its
// reference: sigs.k8s.io/json's case-sensitive Unmarshal into only the
// fields podcontract.Trim keeps; ok is false when Unmarshal fails.
func reflectiveDecode(body []byte) (rv *podReview, hasOld, ok bool) {
	var fast struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Request    *struct {
			requestHeader
			Object    *trimmedPod `json:"object"`
			OldObject *trimmedPod `json:"oldObject"`
		} `json:"request"`
	}
	if sigsjson.UnmarshalCaseSensitivePreserveInts(body, &fast) != nil {
		return nil, false, false
	}
	rv = &podReview{APIVersion: fast.APIVersion, Kind: fast.Kind}
	if fast.Request == nil {
		return rv, false, true
	}
	rv.Request, rv.HasObject = &fast.Request.requestHeader, fast.Request.Object != nil
	if fast.Request.Object != nil {
		rv.Pod, rv.PodErr = fast.Request.Object.pod()
	}
	if fast.Request.OldObject != nil {
		rv.Old, rv.OldErr = fast.Request.OldObject.pod()
	}
	return rv, fast.Request.OldObject != nil, true
}

// trimmedPod is the JSON of a pod with only the fields podcontract.Trim
// keeps; the JSON names are corev1.Pod's.
type trimmedPod struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Namespace       string                  `json:"namespace"`
		Labels          map[string]string       `json:"labels"`
		Annotations     map[string]string       `json:"annotations"`
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		InitContainers      []trimmedContainer           `json:"initContainers"`
		Containers          []trimmedContainer           `json:"containers"`
		EphemeralContainers []trimmedContainer           `json:"ephemeralContainers"`
		NodeSelector        map[string]string            `json:"nodeSelector"`
		NodeName            string                       `json:"nodeName"`
		Affinity            *corev1.Affinity             `json:"affinity"`
		SchedulerName       string                       `json:"schedulerName"`
		Tolerations         []corev1.Toleration          `json:"tolerations"`
		PriorityClassName   string                       `json:"priorityClassName"`
		Priority            *int32                       `json:"priority"`
		PreemptionPolicy    *corev1.PreemptionPolicy     `json:"preemptionPolicy"`
		Overhead            corev1.ResourceList          `json:"overhead"`
		Resources           *corev1.ResourceRequirements `json:"resources"`
	} `json:"spec"`
}

type trimmedContainer struct {
	Name          string                         `json:"name"`
	Resources     corev1.ResourceRequirements    `json:"resources"`
	RestartPolicy *corev1.ContainerRestartPolicy `json:"restartPolicy"`
}

func (p *trimmedPod) pod() (*corev1.Pod, error) {
	if err := checkPodKind(p.APIVersion, p.Kind); err != nil {
		return nil, err
	}
	m, s := &p.Metadata, &p.Spec
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: p.APIVersion, Kind: p.Kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: m.Namespace, Labels: m.Labels, Annotations: m.Annotations, OwnerReferences: m.OwnerReferences},
		Spec: corev1.PodSpec{
			InitContainers: containers(s.InitContainers), Containers: containers(s.Containers),
			NodeSelector: s.NodeSelector, NodeName: s.NodeName, Affinity: s.Affinity, SchedulerName: s.SchedulerName,
			Tolerations: s.Tolerations, PriorityClassName: s.PriorityClassName, Priority: s.Priority,
			PreemptionPolicy: s.PreemptionPolicy, Overhead: s.Overhead, Resources: s.Resources,
		},
	}
	if s.EphemeralContainers != nil {
		pod.Spec.EphemeralContainers = make([]corev1.EphemeralContainer, len(s.EphemeralContainers))
		for i, c := range s.EphemeralContainers {
			pod.Spec.EphemeralContainers[i].Name, pod.Spec.EphemeralContainers[i].Resources = c.Name, c.Resources
		}
	}
	return pod, nil
}

func containers(cs []trimmedContainer) []corev1.Container {
	if cs == nil {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		out[i] = corev1.Container{Name: c.Name, Resources: c.Resources, RestartPolicy: c.RestartPolicy}
	}
	return out
}

// exactQuantity compares quantities as the patch and the applied record
// write them, not only by value.
var exactQuantity = cmp.Comparer(func(a, b resource.Quantity) bool {
	return a.Cmp(b) == 0 && a.Format == b.Format && a.String() == b.String()
})

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// scanSeeds are reviews as the apiserver sends them and odd ones.
func scanSeeds(f *testing.F) {
	for i := range 4 {
		pod := ut.PlatformPod("alice", i)
		admitted, err := podcontract.Admit(pod, ut.MakeNamespace("alice", "ml", ""), ut.NewObjects(platformLookup()...), podcontract.Options{PodLevelResources: i%2 == 0})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(reviewOf(f, admissionv1.Create, pod, nil))
		f.Add(reviewOf(f, admissionv1.Create, admitted, nil))
		f.Add(reviewOf(f, admissionv1.Update, pod, admitted))
	}
	real := string(reviewOf(f, admissionv1.Create, ut.PlatformPod("alice", 3), nil))
	for _, n := range []int{1, 17, len(real) / 3, len(real) / 2, len(real) - 2, len(real) - 1} {
		f.Add([]byte(real[:n])) // truncated
	}
	f.Add([]byte(real + " \n\t"))
	f.Add([]byte(real + "x"))
	f.Add([]byte(strings.Replace(real, `"containers":[`, `"containers":[null,`, 1)))
	f.Add([]byte(strings.Replace(real, `"labels":{`, `"labels":{"a":null,"b":"\u00e9\n\"\\\/\ud83d\ude00\ud800x","n\u0061me":"é","c":"a\"b\\c\/d\b\f\n\r\té","d":"\t`+"\xff"+`","`+"\xff"+`":"`+"\xfe"+`",`, 1)))
	env := func(pod string) []byte {
		return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","namespace":"alice","object":` + pod + `}}`)
	}
	for _, pod := range []string{
		`{"kind":"Pod","apiVersion":"v1","spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":1,"memory":"1Gi"},"limits":{"cpu":1.5e3,"memory":" 2Gi "}}}]}}`,
		`{"spec":{"containers":[{"resources":{"requests":{"cpu":-1,"memory":null,"gpu":true}}}]}}`,
		`{"spec":{"containers":[{"resources":{"requests":{"cpu":"1\u0030"}}}]}}`,
		`{"spec":{"containers":[{"resources":{"requests":{"cpu":{"x":1}}}}]}}`,
		`{"spec":{"containers":[{"name":"a","name":"b","name":null,"restartPolicy":"Always","restartPolicy":null}]}}`,
		`{"spec":{"containers":[{"name":"a"}],"containers":[{"name":"b"}]}}`,
		`{"metadata":{"labels":{"a":"1","a":"2"},"labels":{"b":"3"}}}`,
		`{"metadata":{"labels":null,"annotations":{},"ownerReferences":[{"apiVersion":"batch/v1","kind":"Job","name":"j","uid":"x","controller":true,"blockOwnerDeletion":false},null]}}`,
		`{"spec":{"priority":2147483647,"preemptionPolicy":"Never","priorityClassName":"p","nodeName":"n","schedulerName":"s","nodeSelector":{"k":"v"}}}`,
		`{"spec":{"priority":2147483648}}`,
		`{"spec":{"priority":-2147483648}}`,
		`{"spec":{"priority":1.0}}`,
		`{"spec":{"priority":1e2}}`,
		`{"spec":{"priority":-0}}`,
		`{"spec":{"priority":"1"}}`,
		`{"spec":{"tolerations":[{"key":"k","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},null,{"tolerationSeconds":-9223372036854775808}],"overhead":{"cpu":"250m"}}}`,
		`{"spec":{"tolerations":[{"tolerationSeconds":9223372036854775808}]}}`,
		`{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"a","operator":"In","values":["x"]}]}]}}}}}`,
		`{"spec":{"affinity":{"nodeAffinity":{"bogus":[1,{"deep":[[[]]]}]}},"resources":null,"ephemeralContainers":[{"name":"dbg","image":"busybox","resources":{"claims":[{"name":"c","request":"r"},null]}}]}}`,
		`{"spec":{"resources":{"requests":{"cpu":"1"},"claims":[]},"initContainers":[]},"status":{"phase":"Pending","conditions":[{"type":"x","status":"True"}]}}`,
		`{"kind":"Deployment","apiVersion":"apps/v1"}`,
		`{"Kind":"Pod","Spec":{"Containers":[{"Name":"x"}]}}`,
		`{"metadata":{"labels":{"a":1}}}`,
		`{"metadata":null,"spec":null}`,
		`null`,
		`"pod"`,
		`[]`,
		`{"spec":{"containers":[{"env":[{"name":"A","value":"\u003c\u003e"}],"ports":[{"containerPort":01}]}]}}`,
		`{"spec":{"containers":[{"x":tru}]}}`,
		`{"spec":{"containers":[{"x":-}]}}`,
		`{"spec":{"containers":[1,]}}`,
		`{"spec":{"containers":[{"name":"a",}]}}`,
		`{"spec":{"containers":[{"name":"a\u12"}]}}`,
		`{"spec":{"containers":[{"name":"a\q"}]}}`,
		`{"spec":{"containers":[{"name":"a` + "\t" + `"}]}}`,
		`{"metadata":{"namespace":"x"},"metadata":{"labels":{}}}`,
		`{"spec":{"nodeSelector":{"a":"b"},"nodeSelector":null}}`,
	} {
		f.Add(env(pod))
	}
	for _, body := range []string{
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","UID":"v","operation":"CREATE","object":{}}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","Request":{"uid":"u","operation":"CREATE","object":{}}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":{}},"request":{"uid":"v"}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u\u2028\u0000<&>","kind":{"group":"","version":"v1","kind":"Pod","Kind":"x"},"operation":"CREATE","object":{}}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","resource":{"group":"","version":"v1","resource":"pods"},"subResource":"resize","operation":"UPDATE","object":{},"oldObject":{"kind":"Pod"}}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"DELETE","oldObject":{}}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":{},"ſubResource":"x"}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":{},"userInfo":{"username":"alice","groups":["a","b"],"extra":{"k":["v"]}},"options":{"kind":"CreateOptions"},"dryRun":false}}`,
		`{"apiVersion":null,"kind":"AdmissionReview","request":{"uid":null,"operation":"CREATE","object":{}}}`,
		` {"apiVersion" : "admission.k8s.io/v1" , "kind" : "AdmissionReview" , "request" : { "uid" : "u" , "operation" : "CREATE" , "object" : { "spec" : { "containers" : [ { "name" : "c" } ] } } } } `,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":5}}`,
		"\xef\xbb\xbf{}",
		`{}`,
		``,
	} {
		f.Add([]byte(body))
	}
	f.Add([]byte(`{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`))
}

// FuzzScanReview holds scanReview to the reflective decoder it replaced
// (reflectiveDecode) and to decoding the whole review (decodeWholeReview
// and podcontract.Trim). When the scan takes a review, the reflective
// decoder must take it too and give the same review and pods, to the last
// quantity's format, and so must the whole decode (but for the type errors
// in fields carve does not read that FuzzTrimmedDecode allows). When the
// scan does not take it, the reflective decoder must refuse it as well, or
// the review must have one of the things the scan leaves to the slow way:
// a repeated key, a key of the envelope or request that folds to one the
// scan reads, or deep nesting.
func FuzzScanReview(f *testing.F) {
	scanSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gotOld, ok := scanReview(body)
		ref, refOld, refOK := reflectiveDecode(body)
		whole, wholeErr := decodeWholeReview(body)
		if !ok {
			if refOK {
				if why := slowWayReason(body); why == "" {
					t.Fatalf("scanReview does not take a review the reflective decoder takes, for no reason it has")
				}
			}
			return
		}
		if !refOK {
			t.Fatalf("scanReview takes a review the reflective decoder refuses")
		}
		if gotOld != refOld || errText(got.PodErr) != errText(ref.PodErr) || errText(got.OldErr) != errText(ref.OldErr) {
			t.Fatalf("old object %v, pod errors %q, %q; the reflective decoder gives %v, %q, %q", gotOld, got.PodErr, got.OldErr, refOld, ref.PodErr, ref.OldErr)
		}
		if diff := cmp.Diff(ref, got, exactQuantity, cmp.Comparer(func(a, b error) bool { return errText(a) == errText(b) })); diff != "" {
			t.Fatalf("scanReview differs from the reflective decoder (-reflective +scan):\n%s", diff)
		}
		if wholeErr != nil {
			t.Fatalf("scanReview takes a review that does not decode: %v", wholeErr)
		}
		if (got.Request == nil) != (whole.Request == nil) {
			t.Fatalf("request %v, decoding the whole review gives %v", got.Request, whole.Request)
		}
		if got.APIVersion != whole.APIVersion || got.Kind != whole.Kind {
			t.Fatalf("apiVersion %q kind %q, decoding the whole review gives %q %q", got.APIVersion, got.Kind, whole.APIVersion, whole.Kind)
		}
		if got.Request == nil {
			return
		}
		if diff := cmp.Diff(whole.Request, got.Request); diff != "" {
			t.Fatalf("request header differs from decoding the whole review (-whole +scan):\n%s", diff)
		}
		op := got.Request.Operation
		if op == admissionv1.Delete || op == admissionv1.Connect {
			return // their objects are not read
		}
		// A whole pod that does not decode may hold a type error in a field
		// carve does not read, which fails only the whole decode.
		if got.HasObject && whole.PodErr == nil {
			if got.PodErr != nil {
				t.Fatalf("pod error %v; the whole pod decodes", got.PodErr)
			}
			if diff := cmp.Diff(whole.Pod, got.Pod, exactQuantity); diff != "" {
				t.Fatalf("pod differs from trimming the whole pod (-whole +scan):\n%s", diff)
			}
		}
		if op == admissionv1.Update && gotOld && whole.OldErr == nil {
			if got.OldErr != nil {
				t.Fatalf("old pod error %v; the whole old pod decodes", got.OldErr)
			}
			if diff := cmp.Diff(whole.Old, got.Old, exactQuantity); diff != "" {
				t.Fatalf("old pod differs from trimming the whole old pod (-whole +scan):\n%s", diff)
			}
		}
	})
}

// jsonFrame is an object or array slowWayReason is in.
type jsonFrame struct {
	object  bool
	keys    map[string]bool
	wantKey bool
	name    string // the member being read, in an object
}

// slowWayReason names what the scan leaves to the slow way in body, or "".
func slowWayReason(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack []jsonFrame
	var reason string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return reason
		}
		if err != nil {
			return reason // a syntax error the reflective decoder saw too
		}
		top := func() *jsonFrame { return &stack[len(stack)-1] }
		if k, isString := tok.(string); isString && len(stack) > 0 && top().object && top().wantKey {
			f := top()
			if f.keys[k] {
				reason = "repeated key " + k
			}
			f.keys[k], f.wantKey = true, false
			f.name = k
			if inEnvelope(stack) && foldNearMiss(k) {
				reason = "folded key " + k
			}
			continue
		}
		if len(stack) > maxSkipDepth-8 {
			reason = "deep"
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, jsonFrame{object: true, keys: map[string]bool{}, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, jsonFrame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && top().object {
			top().wantKey = true
		}
	}
}

// inEnvelope says the keys of the object at the top of stack are matched
// case-insensitively by the slow way: the review's, its request's, and
// those of the request's kind and resource.
func inEnvelope(stack []jsonFrame) bool {
	switch len(stack) {
	case 1:
		return true
	case 2:
		return stack[0].name == "request"
	case 3:
		return stack[0].name == "request" && (stack[1].name == "kind" || stack[1].name == "resource")
	}
	return false
}

func foldNearMiss(k string) bool {
	if !utf8.ValidString(k) || strings.ContainsFunc(k, func(r rune) bool { return r >= utf8.RuneSelf }) {
		return true
	}
	for _, n := range []string{"apiVersion", "kind", "request", "uid", "namespace", "name", "operation", "subResource", "resource", "object", "oldObject", "group", "version"} {
		if k != n && strings.EqualFold(k, n) {
			return true
		}
	}
	return false
}

// TestScanReviewTakesPlatformReviews makes sure the fast way is the way of
// the reviews the apiserver sends: the fuzz test above would pass if the
// scan took nothing.
func TestScanReviewTakesPlatformReviews(t *testing.T) {
	lookup := ut.NewObjects(platformLookup()...)
	for i := range 8 {
		pod := ut.PlatformPod("alice", i)
		admitted, err := podcontract.Admit(pod, ut.MakeNamespace("alice", "ml", ""), lookup, podcontract.Options{PodLevelResources: i%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		for _, body := range [][]byte{reviewOf(t, admissionv1.Create, pod, nil), reviewOf(t, admissionv1.Create, admitted, nil), reviewOf(t, admissionv1.Update, pod, admitted)} {
			got, _, ok := scanReview(body)
			if !ok {
				t.Fatalf("scanReview does not take pod %d's review:\n%s", i, body)
			}
			whole, err := decodeWholeReview(body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(whole.Pod, got.Pod, exactQuantity); diff != "" {
				t.Fatalf("pod %d differs from trimming the whole pod (-whole +scan):\n%s", i, diff)
			}
			if whole.Request.Operation == admissionv1.Update {
				if diff := cmp.Diff(whole.Old, got.Old, exactQuantity); diff != "" {
					t.Fatalf("old pod %d differs from trimming the whole pod (-whole +scan):\n%s", i, diff)
				}
			}
		}
	}
}
