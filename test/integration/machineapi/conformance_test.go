package machineapi_test

import (
	"testing"
	"time"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider/conformance"
)

// TestConformance runs the Platform contract against each Machine API, its
// CRDs served by the real apiserver and the test's machine controller
// bringing Machines and Nodes up when the suite boots a pool.
func TestConformance(t *testing.T) {
	for _, f := range flavors() {
		t.Run(f.name, func(t *testing.T) {
			mc := &machineController{f: f, c: env.cl}
			conformance.Run(t, conformance.Backend{
				Platform:    f.newPlatform(env.cl),
				NewPool:     func(t *testing.T) *carvev1.NodePool { return f.newSet(t, nil) },
				MissingPool: func(t *testing.T) *carvev1.NodePool { return f.pool(uniqueName("missing")) },
				Boot:        mc.boot,
				Settle:      20 * time.Second,
			})
		})
	}
}
