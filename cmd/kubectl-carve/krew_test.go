package main

import (
	"os"
	"regexp"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestKrewManifest: hack/krew/carve.yaml is a krew Plugin for this binary
// whose release fields are placeholders only (no host is named).
func TestKrewManifest(t *testing.T) {
	data, err := os.ReadFile("../../hack/krew/carve.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Version   string `json:"version"`
			Platforms []struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
				URI    string `json:"uri"`
				SHA256 string `json:"sha256"`
				Bin    string `json:"bin"`
			} `json:"platforms"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "carve" {
		t.Errorf("not the krew Plugin carve: %s %s %s", m.APIVersion, m.Kind, m.Metadata.Name)
	}
	placeholder := regexp.MustCompile(`^\$\{[A-Z0-9_]+\}$`)
	if !placeholder.MatchString(m.Spec.Version) {
		t.Errorf("version %q is not a placeholder", m.Spec.Version)
	}
	seen := map[string]bool{}
	for _, p := range m.Spec.Platforms {
		key := p.Selector.MatchLabels["os"] + "/" + p.Selector.MatchLabels["arch"]
		if seen[key] {
			t.Errorf("%s twice", key)
		}
		seen[key] = true
		if p.Bin != "kubectl-carve" {
			t.Errorf("%s: bin %q", key, p.Bin)
		}
		if !placeholder.MatchString(p.URI) || !placeholder.MatchString(p.SHA256) {
			t.Errorf("%s: uri %q and sha256 %q must be placeholders a release fills", key, p.URI, p.SHA256)
		}
	}
	if len(seen) == 0 {
		t.Error("no platforms")
	}
}
