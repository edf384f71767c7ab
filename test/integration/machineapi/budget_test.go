package machineapi_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/machineset"
)

// TestAutoscalerLoopCostsNoAPICall is the cloud API budget: once the
// platform's informers run, the autoscaler's per-loop calls (Refresh, then
// TargetSize and NodeGroupNodes for every pool) and the status writer's
// TemplateDifferences make no request to the API server. A change costs
// exactly its writes: a scale-up reads and writes the scale (2 requests), a
// deletion of one node annotates its Machine and then reads and writes the
// scale (3).
func TestAutoscalerLoopCostsNoAPICall(t *testing.T) {
	for _, f := range flavors()[:2] {
		t.Run(f.name, func(t *testing.T) {
			var calls atomic.Int64
			p := f.newPlatform(counted(t, &calls))
			const pools, each, loops = 4, 2, 20
			var ps []*carvev1.NodePool
			ids := map[string][]cloudprovider.Instance{}
			for range pools {
				pool, ins := f.running(t, p, each, nil)
				ps = append(ps, pool)
				ids[pool.Name] = ins
			}
			calls.Store(0)
			start := time.Now()
			for range loops {
				if err := p.Refresh(ctxFor(t), ps); err != nil {
					t.Fatal(err)
				}
				for _, pool := range ps {
					n, err := p.TargetSize(ctxFor(t), pool)
					if err != nil || n != each {
						t.Fatalf("TargetSize(%s) = %d, %v", pool.Name, n, err)
					}
					if got := sorted(t, p, pool); !cmp.Equal(got, ids[pool.Name]) {
						t.Fatalf("Instances(%s) changed: %s", pool.Name, describe(got))
					}
					if _, err := p.TemplateDifferences(ctxFor(t), pool); err != nil {
						t.Fatal(err)
					}
				}
			}
			elapsed := time.Since(start)
			if n := calls.Load(); n != 0 {
				t.Errorf("%d autoscaler loops over %d pools made %d API requests, want 0", loops, pools, n)
			}
			t.Logf("%d loops × %d pools of %d Machines: %v per loop, 0 API requests", loops, pools, each, elapsed/loops)

			calls.Store(0)
			if err := p.Create(ctxFor(t), ps[0], 1); err != nil {
				t.Fatal(err)
			}
			if n := calls.Load(); n != 2 {
				t.Errorf("Create made %d API requests, want 2 (get and update the scale)", n)
			}
			calls.Store(0)
			if err := p.Delete(ctxFor(t), ps[1], []string{ids[ps[1].Name][0].ID}); err != nil {
				t.Fatal(err)
			}
			if n := calls.Load(); n != 3 {
				t.Errorf("Delete of one node made %d API requests, want 3 (annotate the Machine, get and update the scale)", n)
			}
		})
	}
}

// TestTemplateDifferences: the autoscaler's scale-from-zero annotations on
// a set, as the platform's cache has them, against the NodePool template.
func TestTemplateDifferences(t *testing.T) {
	f := openShiftFlavor()
	p := f.newPlatform(env.cl)
	pool := f.newSet(t, map[string]string{
		machineset.AnnotationCPU:      "8",
		machineset.AnnotationMemory:   "16Gi",
		machineset.AnnotationGPUType:  "nvidia.com/gpu",
		machineset.AnnotationGPUCount: "1",
		machineset.AnnotationLabels:   "nvidia.com/gpu.product=A100,carve.dev/node-pool=other-pool",
		machineset.AnnotationTaints:   "nvidia.com/gpu=present:NoSchedule",
	})
	pool.Spec.Template.Labels = map[string]string{"nvidia.com/gpu.product": "T4"}
	pool.Spec.Template.Taints = []corev1.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}}
	want := []string{
		"cpu: the MachineSet says 8, the template 4",
		"GPUs (nvidia.com/gpu): the MachineSet says 1, the template 0",
		`label carve.dev/node-pool: the MachineSet says "other-pool", the template "` + pool.Name + `"`,
		`label nvidia.com/gpu.product: the MachineSet says "A100", the template "T4"`,
	}
	eventually(t, "the differences are listed", func(ctx context.Context) (bool, string, error) {
		if _, err := p.TargetSize(ctx, pool); err != nil { // starts the cache
			return false, "", err
		}
		got, err := p.TemplateDifferences(ctx, pool)
		diff := cmp.Diff(want, got)
		return diff == "", fmt.Sprintf("(-want +got):\n%s", diff), err
	})
}
