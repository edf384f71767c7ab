package aks_test

import (
	"fmt"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider/aks/armserver"
)

// TestCallBudget counts, at the server, the calls of the autoscaler's loop
// pattern (Refresh, then TargetSize and Instances of every pool) over 50
// pools in 2 clusters for 6 loops, one pool scaling up in between, against
// a backend without a cache that reads the agent pool for TargetSize and
// the agent pool and its machines for Instances.
func TestCallBudget(t *testing.T) {
	const (
		clusters, perCluster, loops = 2, 25, 6
	)
	srv := armserver.NewServer(t)
	var pools []*carvev1.NodePool
	for c := range clusters {
		cluster := fmt.Sprintf("budget%d", c)
		srv.AddCluster(sub, rg, cluster)
		for i := range perCluster {
			name := fmt.Sprintf("pool%d", i)
			srv.AddPool(sub, rg, cluster, name, armserver.PoolSpec{Count: 3})
			pools = append(pools, nodePool(cluster+"-"+name, sub, rg, cluster, name))
		}
	}
	p := newPlatform(t, srv.ClientOptions())
	scaled := pools[7]

	perLoop := make([]int, loops)
	changes := 0
	for loop := range loops {
		srv.ResetCalls()
		if err := p.Refresh(ctx(t), pools); err != nil {
			t.Fatal(err)
		}
		for _, np := range pools {
			if _, err := p.TargetSize(ctx(t), np); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Instances(ctx(t), np); err != nil {
				t.Fatal(err)
			}
		}
		perLoop[loop] = srv.Total()
		// Between loops: the autoscaler scales one pool up after loop 2;
		// Azure finishes it after loop 3.
		srv.ResetCalls()
		switch loop {
		case 1:
			if err := p.Create(ctx(t), scaled, 1); err != nil {
				t.Fatal(err)
			}
		case 2:
			srv.Complete(sub, rg, scaled.Spec.Platform.AKS.Cluster, scaled.Spec.Platform.AKS.AgentPool)
		}
		changes += srv.Total()
	}
	ours := 0
	for _, n := range perLoop {
		ours += n
	}
	if n, err := p.TargetSize(ctx(t), scaled); err != nil || n != 4 {
		t.Fatalf("the scaled pool's target = %d, %v; want 4", n, err)
	}

	// The same loops without a cache.
	srv.ResetCalls()
	aps, err := armcontainerservice.NewAgentPoolsClient(sub, &azfake.TokenCredential{}, func() *arm.ClientOptions { o := srv.ClientOptions(); return &o }())
	if err != nil {
		t.Fatal(err)
	}
	ms, err := armcontainerservice.NewMachinesClient(sub, &azfake.TokenCredential{}, func() *arm.ClientOptions { o := srv.ClientOptions(); return &o }())
	if err != nil {
		t.Fatal(err)
	}
	for range loops {
		for _, np := range pools {
			a := np.Spec.Platform.AKS
			if _, err := aps.Get(ctx(t), a.ResourceGroup, a.Cluster, a.AgentPool, nil); err != nil { // TargetSize
				t.Fatal(err)
			}
			if _, err := aps.Get(ctx(t), a.ResourceGroup, a.Cluster, a.AgentPool, nil); err != nil { // Instances
				t.Fatal(err)
			}
			pager := ms.NewListPager(a.ResourceGroup, a.Cluster, a.AgentPool, nil)
			for pager.More() {
				if _, err := pager.NextPage(ctx(t)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	naive := srv.Total()

	// Expected: loop 1 lists each cluster and each pool's machines; later
	// loops list each cluster only, plus, for the scaled pool, its machines
	// while it scales (loop 3) and, once Azure says it is done (loop 4),
	// one poll, the poller's final GET and its machines.
	want := []int{clusters + clusters*perCluster, clusters, clusters + 1, clusters + 3, clusters, clusters}
	for i := range loops {
		if perLoop[i] != want[i] {
			t.Errorf("loop %d: %d calls, want %d", i+1, perLoop[i], want[i])
		}
	}
	if wantNaive := loops * len(pools) * 3; naive != wantNaive {
		t.Errorf("naive: %d calls, want %d", naive, wantNaive)
	}
	t.Logf("%d pools in %d clusters, %d loops: %d calls with the cache (per loop %v) + %d for the scale-up, against %d without (%.1f×)",
		len(pools), clusters, loops, ours, perLoop, changes, naive, float64(naive)/float64(ours))
}
