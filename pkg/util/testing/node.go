package testing

import (
	"maps"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// TemplateDrift reports how a real node differs from the template node its
// pool gave the autoscaler, in what scale-from-zero decisions read: labels
// (the hostname aside, it is per node), taints, capacity and allocatable.
// Empty means no drift.
func TemplateDrift(template, node *corev1.Node) string {
	withoutHostname := func(m map[string]string) map[string]string {
		m = maps.Clone(m)
		delete(m, corev1.LabelHostname)
		return m
	}
	var out string
	for _, d := range []struct {
		what      string
		tmpl, got any
	}{
		{"labels", withoutHostname(template.Labels), withoutHostname(node.Labels)},
		{"taints", template.Spec.Taints, node.Spec.Taints},
		{"capacity", template.Status.Capacity, node.Status.Capacity},
		{"allocatable", template.Status.Allocatable, node.Status.Allocatable},
	} {
		if diff := cmp.Diff(d.tmpl, d.got); diff != "" {
			out += d.what + " (-template +node):\n" + diff
		}
	}
	return out
}
