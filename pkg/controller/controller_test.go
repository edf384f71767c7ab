package controller

import (
	"testing"
	"time"

	"github.com/carve-dev/carve/pkg/certs"
)

// servesTrusted is readiness: ready only once the bundle last published
// trusts the served certificate.
func TestServesTrusted(t *testing.T) {
	p := certs.DefaultPolicy([]string{"127.0.0.1"})
	now := time.Now()
	a, _, _, err := certs.Plan(nil, p, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _, err := certs.Plan(nil, p, now) // another CA altogether
	if err != nil {
		t.Fatal(err)
	}
	trustA, trustB := a.TrustPEM(), b.TrustPEM()
	for name, tc := range map[string]struct {
		cur       *certs.State
		published *[]byte
		ready     bool
	}{
		"nothing loaded":                    {nil, &trustA, false},
		"nothing published":                 {a, nil, false},
		"published another CA":              {a, &trustB, false},
		"published the served CA":           {a, &trustA, true},
		"published both, during a rotation": {a, ptr(append(append([]byte{}, trustB...), trustA...)), true},
	} {
		if err := servesTrusted(tc.cur, tc.published); (err == nil) != tc.ready {
			t.Errorf("%s: servesTrusted = %v, want ready %v", name, err, tc.ready)
		}
	}
}

func ptr[T any](v T) *T { return &v }
