package kubectlcarve

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

func TestPrice(t *testing.T) {
	for in, want := range map[string]string{"0.68": "0.68", "1.006": "1.006", "2": "2", "0.096": "0.096", "12.50": "12.5", "100": "100", "680m": "0.68"} {
		q := resource.MustParse(in)
		if got := price(&q); got != want {
			t.Errorf("price(%s) = %q, want %q", in, got, want)
		}
	}
	if got := price(nil); got != "" {
		t.Errorf("price(nil) = %q", got)
	}
}
