package machineset

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// The cluster-autoscaler's scale-from-zero annotations on a MachineSet or
// MachineDeployment (its Cluster API provider reads them; OpenShift uses
// that provider).
const (
	AnnotationCPU      = "capacity.cluster-autoscaler.kubernetes.io/cpu"
	AnnotationMemory   = "capacity.cluster-autoscaler.kubernetes.io/memory"
	AnnotationGPUType  = "capacity.cluster-autoscaler.kubernetes.io/gpu-type"
	AnnotationGPUCount = "capacity.cluster-autoscaler.kubernetes.io/gpu-count"
	AnnotationMaxPods  = "capacity.cluster-autoscaler.kubernetes.io/maxPods"
	AnnotationLabels   = "capacity.cluster-autoscaler.kubernetes.io/labels"
	AnnotationTaints   = "capacity.cluster-autoscaler.kubernetes.io/taints"

	// defaultGPUResource is the GPU resource a gpu-count annotation without
	// a gpu-type is compared with.
	defaultGPUResource = "nvidia.com/gpu"
	// defaultMaxPods is what a node has without a pods capacity (the
	// kubelet's default, and carve's template's).
	defaultMaxPods = 110
)

// TemplateDifferences compares the set's scale-from-zero annotations, as
// cached, with pool's template (see TemplateAnnotationDifferences). A set
// not cached yet says nothing.
func (p *Platform) TemplateDifferences(ctx context.Context, pool *carvev1.NodePool) ([]string, error) {
	ref := p.kind.Ref(pool)
	if ref == nil {
		return nil, nil
	}
	s := p.idx.set(key{ref.Namespace, ref.Name})
	if s == nil {
		return nil, nil
	}
	return TemplateAnnotationDifferences(p.kind.Set.Kind, s.annotations, pool), nil
}

// TemplateAnnotationDifferences lists, one sentence each, where the
// scale-from-zero annotations of a set of kind setKind differ from pool's
// template: cpu, memory, the GPU count (of the resource gpu-type names,
// nvidia.com/gpu without it), maxPods (the template's pods, 110 without),
// each label the annotation names (against every label carve gives the
// pool's nodes, cloudprovider.NodeLabels), and taints both ways (key and
// effect, then value). Annotations that are absent say nothing; ones that
// do not parse say so.
func TemplateAnnotationDifferences(setKind string, ann map[string]string, pool *carvev1.NodePool) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	capacity := pool.Spec.Template.Capacity
	quantity := func(annotation, what string, name corev1.ResourceName, dflt *resource.Quantity) {
		v, ok := ann[annotation]
		if !ok {
			return
		}
		q, err := resource.ParseQuantity(strings.TrimSpace(v))
		if err != nil {
			add("annotation %s: %q is not a quantity", annotation, v)
			return
		}
		t, ok := capacity[name]
		if !ok && dflt != nil {
			t, ok = *dflt, true
		}
		switch {
		case !ok:
			add("%s: the %s says %s, the template has none", what, setKind, q.String())
		case q.Cmp(t) != 0:
			add("%s: the %s says %s, the template %s", what, setKind, q.String(), t.String())
		}
	}
	quantity(AnnotationCPU, "cpu", corev1.ResourceCPU, nil)
	quantity(AnnotationMemory, "memory", corev1.ResourceMemory, nil)
	if _, ok := ann[AnnotationGPUCount]; ok {
		gpu := strings.TrimSpace(ann[AnnotationGPUType])
		if gpu == "" {
			gpu = defaultGPUResource
		}
		zero := resource.MustParse("0")
		quantity(AnnotationGPUCount, "GPUs ("+gpu+")", corev1.ResourceName(gpu), &zero)
	}
	pods := resource.MustParse(fmt.Sprint(defaultMaxPods))
	quantity(AnnotationMaxPods, "maxPods", corev1.ResourcePods, &pods)

	if v, ok := ann[AnnotationLabels]; ok {
		want := cloudprovider.NodeLabels(pool, "")
		delete(want, corev1.LabelHostname)
		got, bad := parseLabels(v)
		for _, b := range bad {
			add("annotation %s: %q is not key=value", AnnotationLabels, b)
		}
		for _, k := range slices.Sorted(maps.Keys(got)) {
			t, ok := want[k]
			switch {
			case !ok:
				add("label %s: the %s says %q, the template has none", k, setKind, got[k])
			case t != got[k]:
				add("label %s: the %s says %q, the template %q", k, setKind, got[k], t)
			}
		}
	}
	if v, ok := ann[AnnotationTaints]; ok {
		got, bad := parseTaints(v)
		for _, b := range bad {
			add("annotation %s: %q is not key=value:Effect", AnnotationTaints, b)
		}
		type ke struct {
			key    string
			effect corev1.TaintEffect
		}
		want := map[ke]corev1.Taint{}
		for _, t := range pool.Spec.Template.Taints {
			want[ke{t.Key, t.Effect}] = t
		}
		have := map[ke]bool{}
		for _, g := range got {
			have[ke{g.Key, g.Effect}] = true
			t, ok := want[ke{g.Key, g.Effect}]
			switch {
			case !ok:
				add("taint %s: the %s has it, the template does not", g.ToString(), setKind)
			case t.Value != g.Value:
				add("taint %s:%s: the %s's value is %q, the template's %q", g.Key, g.Effect, setKind, g.Value, t.Value)
			}
		}
		for _, t := range pool.Spec.Template.Taints {
			if !have[ke{t.Key, t.Effect}] {
				add("taint %s: the template has it, the %s does not", t.ToString(), setKind)
			}
		}
	}
	return out
}

// parseLabels reads "k1=v1,k2=v2", returning the entries that are not
// key=value apart.
func parseLabels(v string) (map[string]string, []string) {
	out := map[string]string{}
	var bad []string
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok || k == "" {
			bad = append(bad, part)
			continue
		}
		out[k] = val
	}
	return out, bad
}

// parseTaints reads "k1=v1:NoSchedule,k2:NoExecute", returning the entries
// that do not parse apart.
func parseTaints(v string) ([]corev1.Taint, []string) {
	var out []corev1.Taint
	var bad []string
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		kv, effect, ok := strings.Cut(part, ":")
		k, val, _ := strings.Cut(kv, "=")
		e := corev1.TaintEffect(effect)
		if !ok || k == "" || (e != corev1.TaintEffectNoSchedule && e != corev1.TaintEffectPreferNoSchedule && e != corev1.TaintEffectNoExecute) {
			bad = append(bad, part)
			continue
		}
		out = append(out, corev1.Taint{Key: k, Value: val, Effect: e})
	}
	return out, bad
}
