package podcontract

import (
	"encoding/json"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// appendJSON appends a as json.Marshal writes it (TestAppliedJSON,
// FuzzAppliedJSON): Admit writes the record on every pod it admits, and
// encoding/json's reflection over it was a twentieth of a review's CPU.
func (a *Applied) appendJSON(b []byte) []byte {
	b = appendJSONString(append(b, `{"workspace":`...), a.Workspace)
	if a.Team != "" {
		b = appendJSONString(append(b, `,"team":`...), a.Team)
	}
	b = appendJSONString(append(b, `,"profile":`...), a.Profile)
	b = appendJSONString(append(b, `,"workload":`...), string(a.Workload))
	b = appendJSONString(append(b, `,"mode":`...), a.Mode)
	b = appendResourceList(append(b, `,"requests":`...), a.Requests)
	b = appendResourceList(append(b, `,"limits":`...), a.Limits)
	if len(a.NodePools) > 0 {
		b = append(b, `,"nodePools":[`...)
		for i, p := range a.NodePools {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, p)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendResourceList(b []byte, rl corev1.ResourceList) []byte {
	if rl == nil {
		return append(b, "null"...)
	}
	names := make([]corev1.ResourceName, 0, len(rl))
	for n := range rl {
		names = append(names, n)
	}
	slices.Sort(names) // as encoding/json orders map keys
	b = append(b, '{')
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendJSONString(b, string(n)), ':')
		raw, _ := rl[n].MarshalJSON() // a quoted quantity: no error, nothing to escape
		b = append(b, raw...)
	}
	return append(b, '}')
}

// appendJSONString appends s as encoding/json writes it: plain printable
// ASCII here, with quotes and backslashes escaped; anything else (control
// characters, <, >, &, non-ASCII) through encoding/json.
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
