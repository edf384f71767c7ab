package cloudprovider_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/conformance"
	"github.com/carve-dev/carve/pkg/cloudprovider/kwok"
	"github.com/carve-dev/carve/pkg/cloudprovider/run"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// TestKwokConformance runs the Platform contract against the kwok platform
// as carve-cloudprovider builds it (Nodes read through PoolNodes over an
// informer cache, written to the real API server), with a boot delay so
// that instances are seen creating before their Nodes exist.
func TestKwokConformance(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	scheme, err := run.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	informers, err := cache.New(cluster.Config, cache.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := informers.GetInformer(ctx, &corev1.Node{}); err != nil {
		t.Fatal(err)
	}
	pools, err := cloudprovider.NewPoolNodes(ctx, informers)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) || !toolscache.WaitForCacheSync(ctx.Done(), pools.HasSynced) {
		t.Fatal("caches did not sync")
	}
	var n atomic.Int32
	conformance.Run(t, conformance.Backend{
		Platform: kwok.New(cl, pools, kwok.WithBootDelay(300*time.Millisecond)),
		NewPool: func(t *testing.T) *carvev1.NodePool {
			name := fmt.Sprintf("conf-%d", n.Add(1))
			t.Cleanup(func() {
				_ = cl.DeleteAllOf(context.Background(), &corev1.Node{}, client.MatchingLabels{carvev1.LabelNodePool: name})
			})
			return ut.MakeNodePool(name, carvev1.NodePoolRoleCPU, 0, 5, "2", "4Gi").Obj()
		},
	})
}
