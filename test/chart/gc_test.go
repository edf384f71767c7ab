package chart

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// TestControllerGC: carve-controller's garbage collector is tuned for the
// pod webhooks (docs/benchmarks.md), and its soft memory limit is the
// container's memory limit, read through the downward API.
func TestControllerGC(t *testing.T) {
	d := named[*appsv1.Deployment](t, render(t, "carve", "carve-system", ""), "carve-system", "carve-controller")
	ctr := d.Spec.Template.Spec.Containers[0]
	env := map[string]bool{}
	for _, e := range ctr.Env {
		env[e.Name] = true
		switch e.Name {
		case "GOGC":
			if e.Value != "200" {
				t.Errorf("GOGC=%q, want 200", e.Value)
			}
		case "GOMEMLIMIT":
			if f := e.ValueFrom; f == nil || f.ResourceFieldRef == nil || f.ResourceFieldRef.Resource != "limits.memory" ||
				f.ResourceFieldRef.ContainerName != ctr.Name {
				t.Errorf("GOMEMLIMIT comes from %+v, want the resourceFieldRef limits.memory of container %q", e.ValueFrom, ctr.Name)
			}
		}
	}
	if !env["GOGC"] || !env["GOMEMLIMIT"] {
		t.Errorf("carve-controller's env %+v lacks GOGC or GOMEMLIMIT", ctr.Env)
	}
}
