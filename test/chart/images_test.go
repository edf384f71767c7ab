package chart

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/carve-dev/carve/hack/image"
	"github.com/carve-dev/carve/test/framework"
)

// TestDefaultImages: with default values the chart runs exactly the
// images make images builds and names (hack/image), as the user the
// images declare, so installing the chart of a commit pulls what that
// commit's make images and make push made.
func TestDefaultImages(t *testing.T) {
	tag, err := image.ChartAppVersion(framework.RepoRoot())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, b := range image.Binaries {
		want = append(want, image.Reference(image.DefaultRegistry, b, tag))
	}
	// The cloud provider is off by default; turning it on changes no image.
	objs := render(t, "carve", "carve-system", cloudProviderInsecure)
	var got []string
	for _, d := range all[*appsv1.Deployment](objs) {
		pod := d.Spec.Template.Spec
		for _, c := range pod.Containers {
			got = append(got, c.Image)
		}
		if sc := pod.SecurityContext; sc == nil || sc.RunAsUser == nil || sc.RunAsGroup == nil {
			t.Errorf("Deployment %s sets no runAsUser and runAsGroup", d.Name)
		} else if u := fmt.Sprintf("%d:%d", *sc.RunAsUser, *sc.RunAsGroup); u != image.User {
			t.Errorf("Deployment %s runs as %s, its image as %s", d.Name, u, image.User)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the Deployments' images (-make images +chart):\n%s", diff)
	}
}
