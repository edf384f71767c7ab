package podcontract

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/carve-dev/carve/pkg/util/jsonwrite"
)

// appendJSON appends a as json.Marshal writes it (TestAppliedJSON,
// FuzzAppliedJSON): Admit writes the record on every pod it admits, and
// encoding/json's reflection over it was a twentieth of a review's CPU.
func (a *Applied) appendJSON(b []byte) []byte {
	b = jsonwrite.AppendString(append(b, `{"workspace":`...), a.Workspace)
	if a.Team != "" {
		b = jsonwrite.AppendString(append(b, `,"team":`...), a.Team)
	}
	b = jsonwrite.AppendString(append(b, `,"profile":`...), a.Profile)
	b = jsonwrite.AppendString(append(b, `,"workload":`...), string(a.Workload))
	b = jsonwrite.AppendString(append(b, `,"mode":`...), a.Mode)
	b = appendResourceList(append(b, `,"requests":`...), a.Requests)
	b = appendResourceList(append(b, `,"limits":`...), a.Limits)
	if len(a.NodePools) > 0 {
		b = append(b, `,"nodePools":[`...)
		for i, p := range a.NodePools {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonwrite.AppendString(b, p)
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
		b = append(jsonwrite.AppendString(b, string(n)), ':')
		raw, _ := rl[n].MarshalJSON() // a quoted quantity: no error, nothing to escape
		b = append(b, raw...)
	}
	return append(b, '}')
}
