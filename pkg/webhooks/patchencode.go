package webhooks

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/carve-dev/carve/pkg/util/jsonwrite"
)

// appendPatch appends the JSON of ops, the same bytes as json.Marshal(ops)
// (TestAppendPatchMatchesMarshal). The values the contract writes on every
// pod (labels, annotations, the scheduler's name, resources) are written
// here without reflection, and so are tolerations (the contract adds the
// GPU pools' one); the rarer ones (affinity, resource claims) still go
// through encoding/json.
func appendPatch(b []byte, ops []patchOp) ([]byte, error) {
	b = append(b, '[')
	for i, op := range ops {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"op":`...)
		b = jsonwrite.AppendString(b, op.Op)
		b = append(b, `,"path":`...)
		b = jsonwrite.AppendString(b, op.Path)
		if op.Value != nil {
			var err error
			if b, err = appendValue(b, op.Value); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// appendValue appends `,"value":v` (omitempty leaves out only a nil any).
func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return jsonwrite.AppendString(append(b, `,"value":`...), v), nil
	case map[string]string:
		if v == nil {
			break
		}
		return appendStringMap(append(b, `,"value":`...), v), nil
	case *int32:
		if v == nil {
			break
		}
		return strconv.AppendInt(append(b, `,"value":`...), int64(*v), 10), nil
	case *corev1.PreemptionPolicy:
		if v == nil {
			break
		}
		return jsonwrite.AppendString(append(b, `,"value":`...), string(*v)), nil
	case []corev1.Toleration:
		if v == nil {
			break
		}
		b = append(b, `,"value":[`...)
		for i := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendToleration(b, &v[i])
		}
		return append(b, ']'), nil
	case *corev1.ResourceRequirements:
		if v == nil || len(v.Claims) > 0 {
			break // a nil pointer in an interface is not empty to omitempty
		}
		b = append(b, `,"value":{`...)
		comma := false
		for _, f := range []struct {
			name string
			rl   corev1.ResourceList
		}{{"limits", v.Limits}, {"requests", v.Requests}} {
			if len(f.rl) == 0 {
				continue
			}
			if comma {
				b = append(b, ',')
			}
			comma = true
			b = append(b, '"')
			b = append(b, f.name...)
			b = append(b, `":`...)
			var err error
			if b, err = appendResourceList(b, f.rl); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"value":`...)
	return append(b, raw...), nil
}

// appendToleration writes t as encoding/json does: every field omitempty.
func appendToleration(b []byte, t *corev1.Toleration) []byte {
	b = append(b, '{')
	comma := false
	for _, f := range []struct{ name, v string }{{"key", t.Key}, {"operator", string(t.Operator)}, {"value", t.Value}, {"effect", string(t.Effect)}} {
		if f.v == "" {
			continue
		}
		if comma {
			b = append(b, ',')
		}
		comma = true
		b = append(b, '"')
		b = append(b, f.name...)
		b = append(b, `":`...)
		b = jsonwrite.AppendString(b, f.v)
	}
	if t.TolerationSeconds != nil {
		if comma {
			b = append(b, ',')
		}
		b = strconv.AppendInt(append(b, `"tolerationSeconds":`...), *t.TolerationSeconds, 10)
	}
	return append(b, '}')
}

func appendStringMap(b []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // as encoding/json orders map keys
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonwrite.AppendString(b, k)
		b = append(b, ':')
		b = jsonwrite.AppendString(b, m[k])
	}
	return append(b, '}')
}

func appendResourceList(b []byte, rl corev1.ResourceList) ([]byte, error) {
	names := make([]string, 0, len(rl))
	for n := range rl {
		names = append(names, string(n))
	}
	slices.Sort(names)
	b = append(b, '{')
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonwrite.AppendString(b, n)
		b = append(b, ':')
		q := rl[corev1.ResourceName(n)]
		var err error
		if b, err = appendQuantity(b, &q); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendQuantity(b []byte, q *resource.Quantity) ([]byte, error) {
	raw, err := q.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return append(b, raw...), nil
}

// appendResponse appends the JSON of an AdmissionReview holding resp, the
// same bytes as json.Marshal(reviewResponse{...}) (TestAppendResponse):
// the answer to almost every review is an allowed response with its uid
// and perhaps a patch. It reports false for responses with more in them
// (denials, warnings, audit annotations), which encoding/json writes.
func appendResponse(b []byte, apiVersion, kind string, resp *admissionv1.AdmissionResponse) ([]byte, bool) {
	if resp.Result != nil || len(resp.AuditAnnotations) > 0 || len(resp.Warnings) > 0 {
		return b, false
	}
	b = jsonwrite.AppendString(append(b, `{"apiVersion":`...), apiVersion)
	b = jsonwrite.AppendString(append(b, `,"kind":`...), kind)
	b = jsonwrite.AppendString(append(b, `,"response":{"uid":`...), string(resp.UID))
	b = strconv.AppendBool(append(b, `,"allowed":`...), resp.Allowed)
	if len(resp.Patch) > 0 {
		b = append(b, `,"patch":"`...)
		b = base64.StdEncoding.AppendEncode(b, resp.Patch)
		b = append(b, '"')
	}
	if resp.PatchType != nil {
		b = jsonwrite.AppendString(append(b, `,"patchType":`...), string(*resp.PatchType))
	}
	return append(b, "}}"...), true
}
