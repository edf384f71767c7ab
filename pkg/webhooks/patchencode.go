package webhooks

import (
	"encoding/json"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// appendPatch appends the JSON of ops, the same bytes as json.Marshal(ops)
// (TestAppendPatchMatchesMarshal). The values the contract writes on every
// pod (labels, annotations, the scheduler's name, resources) are written
// here without reflection; the rarer ones (affinity, tolerations, resource
// claims) still go through encoding/json.
func appendPatch(b []byte, ops []patchOp) ([]byte, error) {
	b = append(b, '[')
	for i, op := range ops {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"op":`...)
		b = appendJSONString(b, op.Op)
		b = append(b, `,"path":`...)
		b = appendJSONString(b, op.Path)
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
		return appendJSONString(append(b, `,"value":`...), v), nil
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
		return appendJSONString(append(b, `,"value":`...), string(*v)), nil
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
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
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
		b = appendJSONString(b, n)
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

// appendJSONString appends s as encoding/json writes it. Strings of plain
// printable ASCII, with quotes and backslashes escaped, are written here;
// anything else (control characters, <, >, &, non-ASCII) goes through
// encoding/json, whose escaping of those is not repeated here.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			raw, _ := json.Marshal(s) // a string always encodes
			return append(b, raw...)
		}
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}
