package aks_test

import (
	"testing"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider/aks/armserver"
	"github.com/carve-dev/carve/pkg/cloudprovider/conformance"
)

// TestConformance runs the Platform contract against the real SDK clients
// over the SDK's fake server factories.
func TestConformance(t *testing.T) {
	cloud := armserver.NewCloud()
	const s, cluster = armserver.FakeSubscription, "fake-cluster"
	cloud.AddCluster(s, rg, cluster)
	p := newPlatform(t, cloud.FakeClientOptions())
	conformance.Run(t, conformance.Backend{
		Platform: p,
		NewPool: func(t *testing.T) *carvev1.NodePool {
			name := poolName()
			cloud.AddPool(s, rg, cluster, name, armserver.PoolSpec{})
			return nodePool("np-"+name, s, rg, cluster, name)
		},
		MissingPool: func(t *testing.T) *carvev1.NodePool {
			return nodePool("np-missing", s, rg, cluster, "missing")
		},
		Boot: func(t *testing.T, pool *carvev1.NodePool) {
			cloud.Boot(s, rg, cluster, pool.Spec.Platform.AKS.AgentPool)
		},
	})
}

// TestConformanceARM runs the contract over HTTPS against the server that
// speaks ARM's long-running-operation protocol.
func TestConformanceARM(t *testing.T) {
	srv := armserver.NewServer(t)
	const cluster = "arm-cluster"
	srv.AddCluster(sub, rg, cluster)
	srv.PageSize = 2 // the machines of a pool come in pages
	// Azure ends an operation by itself; the test server when it is polled
	// (the VMs come up on Boot).
	srv.EndAfterPolls(1)
	p := newPlatform(t, srv.ClientOptions())
	conformance.Run(t, conformance.Backend{
		Platform: p,
		NewPool: func(t *testing.T) *carvev1.NodePool {
			name := poolName()
			srv.AddPool(sub, rg, cluster, name, armserver.PoolSpec{})
			return nodePool("np-"+name, sub, rg, cluster, name)
		},
		MissingPool: func(t *testing.T) *carvev1.NodePool {
			return nodePool("np-missing", sub, rg, cluster, "missing")
		},
		Boot: func(t *testing.T, pool *carvev1.NodePool) {
			srv.Boot(sub, rg, cluster, pool.Spec.Platform.AKS.AgentPool)
		},
	})
}
