package eks

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

// The cluster-autoscaler's convention for saying, in a group's tags, what
// its nodes will be before one exists (scale from zero).
const (
	tagTemplate  = "k8s.io/cluster-autoscaler/node-template/"
	tagLabel     = tagTemplate + "label/"
	tagTaint     = tagTemplate + "taint/"
	tagResources = tagTemplate + "resources/"
)

// TemplateDifferences compares the cached group's node-template tags with
// the pool's template: a label tag with NodeLabels (the template's labels
// and the kubelet defaults), a taint tag (value:Effect) with the
// template's taints of that key, a resources tag with the template's
// capacity. It reports what the group says and the template contradicts or
// lacks, one sentence each, never with a cloud call: a group not cached yet
// says nothing.
func (p *Platform) TemplateDifferences(_ context.Context, pool *carvev1.NodePool) ([]string, error) {
	k, err := keyOf(pool)
	if err != nil {
		return nil, err
	}
	s, _ := p.load(k)
	if s == nil || s.missing {
		return nil, nil
	}
	return templateDifferences(s.tags, pool), nil
}

func templateDifferences(tags map[string]string, pool *carvev1.NodePool) []string {
	labels := cloudprovider.NodeLabels(pool, "")
	var out []string
	for _, key := range slices.Sorted(maps.Keys(tags)) {
		value := tags[key]
		switch {
		case strings.HasPrefix(key, tagLabel):
			name := strings.TrimPrefix(key, tagLabel)
			if want, ok := labels[name]; !ok {
				out = append(out, fmt.Sprintf("label %s: the group says %q, the template does not set it", name, value))
			} else if want != value {
				out = append(out, fmt.Sprintf("label %s: the group says %q, the template %q", name, value, want))
			}
		case strings.HasPrefix(key, tagTaint):
			if d := taintDifference(strings.TrimPrefix(key, tagTaint), value, pool.Spec.Template.Taints); d != "" {
				out = append(out, d)
			}
		case strings.HasPrefix(key, tagResources):
			name := corev1.ResourceName(strings.TrimPrefix(key, tagResources))
			q, err := resource.ParseQuantity(value)
			if err != nil {
				out = append(out, fmt.Sprintf("resource %s: the group's tag value %q is not a quantity", name, value))
				continue
			}
			if want, ok := pool.Spec.Template.Capacity[name]; !ok {
				out = append(out, fmt.Sprintf("resource %s: the group says %s, the template's capacity has none", name, q.String()))
			} else if want.Cmp(q) != 0 {
				out = append(out, fmt.Sprintf("resource %s: the group says %s, the template %s", name, q.String(), want.String()))
			}
		}
	}
	return out
}

func taintDifference(key, tag string, taints []corev1.Taint) string {
	i := strings.LastIndexByte(tag, ':')
	if i < 0 {
		return fmt.Sprintf("taint %s: the group's tag value %q is not value:Effect", key, tag)
	}
	value, effect := tag[:i], corev1.TaintEffect(tag[i+1:])
	switch effect {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
	default:
		return fmt.Sprintf("taint %s: the group's tag value %q has no effect NoSchedule, PreferNoSchedule or NoExecute", key, tag)
	}
	var have []string
	for _, t := range taints {
		if t.Key != key {
			continue
		}
		if t.Value == value && t.Effect == effect {
			return ""
		}
		have = append(have, t.Value+":"+string(t.Effect))
	}
	if len(have) == 0 {
		return fmt.Sprintf("taint %s: the group says %q, the template has no taint with that key", key, tag)
	}
	return fmt.Sprintf("taint %s: the group says %q, the template %q", key, tag, strings.Join(have, ", "))
}

// TemplateNode is cloudprovider.NodeFromTemplate plus the topology labels
// the AWS cloud controller puts on every EKS node and the template cannot
// know: topology.kubernetes.io/region (the pool's region) and, when the
// cached group launches into one availability zone only,
// topology.kubernetes.io/zone. The autoscaler uses them to simulate pods
// whose affinity or topology spread names a region or zone. The template's
// own labels win.
func (p *Platform) TemplateNode(pool *carvev1.NodePool, name string) *corev1.Node {
	node := cloudprovider.NodeFromTemplate(pool, name)
	k, err := keyOf(pool)
	if err != nil {
		return node
	}
	add := map[string]string{corev1.LabelTopologyRegion: k.region}
	if s, _ := p.load(k); s != nil && len(s.zones) == 1 {
		add[corev1.LabelTopologyZone] = s.zones[0]
	}
	for l, v := range add {
		if _, ok := node.Labels[l]; !ok {
			node.Labels[l] = v
		}
	}
	return node
}
