package image

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReference(t *testing.T) {
	for _, tc := range []struct{ registry, binary, tag, want string }{
		{DefaultRegistry, "carve-controller", "0.1.0", "carve-dev/carve-controller:0.1.0"},
		{"registry.invalid:5000/team/", "carve-scheduler", "v1", "registry.invalid:5000/team/carve-scheduler:v1"},
	} {
		if got := Reference(tc.registry, tc.binary, tc.tag); got != tc.want {
			t.Errorf("Reference(%q, %q, %q) = %q, want %q", tc.registry, tc.binary, tc.tag, got, tc.want)
		}
	}
}

func TestChartAppVersion(t *testing.T) {
	for _, tc := range []struct{ chart, want string }{
		{"apiVersion: v2\nname: carve\nversion: 0.3.0\nappVersion: \"0.2.0\"\n", "0.2.0"},
		{"apiVersion: v2\nappVersion: 1.0.0\n", "1.0.0"},
		{"apiVersion: v2\nname: carve\n", ""},
	} {
		root := t.TempDir()
		dir := filepath.Join(root, "charts", "carve")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte(tc.chart), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ChartAppVersion(root)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ChartAppVersion(%q) = %q, want an error", tc.chart, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ChartAppVersion(%q) = %q, %v; want %q", tc.chart, got, err, tc.want)
		}
	}
}
