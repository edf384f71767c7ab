package image

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Binaries are the commands under cmd/ that ship as images.
var Binaries = []string{"carve-controller", "carve-scheduler", "carve-cloudprovider"}

// DefaultRegistry is the registry (and namespace) images are named in
// unless told otherwise; the chart's default repositories are in it.
const DefaultRegistry = "carve-dev"

// Source is the repository the images are built from, their
// org.opencontainers.image.source label.
const Source = "https://github.com/carve-dev/carve"

// Reference is the image reference of binary in registry with tag:
// <registry>/<binary>:<tag>.
func Reference(registry, binary, tag string) string {
	return strings.TrimSuffix(registry, "/") + "/" + binary + ":" + tag
}

// ChartAppVersion reads the appVersion of the chart charts/carve under
// root: the default tag, as the chart's images default to it.
func ChartAppVersion(root string) (string, error) {
	path := filepath.Join(root, "charts", "carve", "Chart.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the chart's appVersion: %w", err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &chart); err != nil {
		return "", fmt.Errorf("reading the chart's appVersion from %s: %w", path, err)
	}
	if chart.AppVersion == "" {
		return "", fmt.Errorf("%s has no appVersion", path)
	}
	return chart.AppVersion, nil
}
