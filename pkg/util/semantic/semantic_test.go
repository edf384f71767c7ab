package semantic_test

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/carve-dev/carve/pkg/util/semantic"
)

// fields are the values the package compares, decoded from fuzzed JSON.
type fields struct {
	Labels       map[string]string            `json:"labels"`
	Resources    corev1.ResourceList          `json:"resources"`
	Requirements *corev1.ResourceRequirements `json:"requirements"`
	Tolerations  []corev1.Toleration          `json:"tolerations"`
	Priority     *int32                       `json:"priority"`
	Policy       *corev1.PreemptionPolicy     `json:"policy"`
	Affinity     *corev1.Affinity             `json:"affinity"`
}

// FuzzEqual holds each comparison to equality.Semantic.DeepEqual, on two
// values decoded from fuzzed JSON, and on a value and its copy.
func FuzzEqual(f *testing.F) {
	for _, pair := range [][2]string{
		{`{}`, `{}`},
		{`{"labels":{}}`, `{"labels":null}`},
		{`{"labels":{"a":"1","b":""}}`, `{"labels":{"a":"1","c":""}}`},
		{`{"labels":{"a":"1"}}`, `{"labels":{"a":"2"}}`},
		{`{"resources":{"cpu":"1","memory":"1Gi"}}`, `{"resources":{"cpu":"1000m","memory":"1073741824"}}`},
		{`{"resources":{"cpu":"0"}}`, `{"resources":{"memory":"0"}}`},
		{`{"resources":{}}`, `{}`},
		{`{"requirements":{}}`, `{}`},
		{`{"requirements":{"limits":{},"claims":[]}}`, `{"requirements":{}}`},
		{`{"requirements":{"requests":{"cpu":"2"},"claims":[{"name":"a","request":"r"}]}}`, `{"requirements":{"requests":{"cpu":"2000m"},"claims":[{"name":"a"}]}}`},
		{`{"tolerations":[{"key":"k","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}]}`, `{"tolerations":[{"key":"k","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}]}`},
		{`{"tolerations":[{"key":"k","tolerationSeconds":300}]}`, `{"tolerations":[{"key":"k"}]}`},
		{`{"tolerations":[]}`, `{}`},
		{`{"tolerations":[{},{"value":"v"}]}`, `{"tolerations":[{"value":"v"},{}]}`},
		{`{"priority":0,"policy":"Never"}`, `{"policy":"Never"}`},
		{`{"priority":5,"policy":""}`, `{"priority":5,"policy":""}`},
		{`{"affinity":{}}`, `{}`},
		{`{"affinity":{"nodeAffinity":{}}}`, `{"affinity":{}}`},
	} {
		f.Add([]byte(pair[0]), []byte(pair[1]))
	}
	f.Fuzz(func(t *testing.T, ja, jb []byte) {
		var a, b, c fields
		if json.Unmarshal(ja, &a) != nil || json.Unmarshal(jb, &b) != nil || json.Unmarshal(ja, &c) != nil {
			return
		}
		for _, p := range []struct {
			name string
			x, y *fields
		}{{"a, b", &a, &b}, {"a, its copy", &a, &c}} {
			x, y := p.x, p.y
			check := func(field string, got bool, xv, yv any) {
				t.Helper()
				if want := equality.Semantic.DeepEqual(xv, yv); got != want {
					t.Fatalf("%s of %s: %v, DeepEqual gives %v\n%+v\n%+v", field, p.name, got, want, xv, yv)
				}
			}
			check("StringMaps", semantic.StringMaps(x.Labels, y.Labels), x.Labels, y.Labels)
			check("ResourceLists", semantic.ResourceLists(x.Resources, y.Resources), x.Resources, y.Resources)
			check("Requirements", semantic.Requirements(x.Requirements, y.Requirements), x.Requirements, y.Requirements)
			check("Tolerations", semantic.Tolerations(x.Tolerations, y.Tolerations), x.Tolerations, y.Tolerations)
			check("Pointers", semantic.Pointers(x.Priority, y.Priority), x.Priority, y.Priority)
			check("Pointers", semantic.Pointers(x.Policy, y.Policy), x.Policy, y.Policy)
			check("Affinity", semantic.Affinity(x.Affinity, y.Affinity), x.Affinity, y.Affinity)
		}
	})
}
