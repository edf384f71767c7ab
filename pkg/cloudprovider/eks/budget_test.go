package eks

import (
	"context"
	"testing"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/eks/asgserver"
)

// TestCloudAPIBudget replays the autoscaler's loop over 50 pools for one
// minute (6 loops at its default 10 s scan interval): each loop sends
// Refresh once, then NodeGroupTargetSize and NodeGroupNodes for every pool
// (Platform.TargetSize and Instances); in loop 2 three pools grow, AWS
// launches their instances in loop 4, and in loop 5 two pools lose an
// instance. The calls are counted at the wire server, once with the cache
// and once the naive way (one DescribeAutoScalingGroups per TargetSize or
// Instances call) with the same changes.
//
//	go test -run TestCloudAPIBudget -v ./pkg/cloudprovider/eks/
func TestCloudAPIBudget(t *testing.T) {
	const pools, loops = 50, 6
	cached := budgetRun(t, pools, loops, false)
	naive := budgetRun(t, pools, loops, true)
	sum := func(m map[string]int) int {
		n := 0
		for _, v := range m {
			n += v
		}
		return n
	}
	t.Logf("%d pools, %d loops (one minute at 10 s):", pools, loops)
	t.Logf("  cached: %3d calls/min %v", sum(cached), cached)
	t.Logf("  naive:  %3d calls/min %v", sum(naive), naive)

	// The goal: one describe per refresh per 100 pools, one call per change.
	refreshes, perRefresh, changes := loops, (pools+99)/100, 3+2
	if got := cached["DescribeAutoScalingGroups"]; got > refreshes*perRefresh {
		t.Errorf("DescribeAutoScalingGroups = %d, want at most %d (one per refresh per 100 pools)", got, refreshes*perRefresh)
	}
	if got := cached["SetDesiredCapacity"] + cached["TerminateInstanceInAutoScalingGroup"]; got != changes {
		t.Errorf("change calls = %d, want %d (one per change)", got, changes)
	}
	// Groups short of capacity have their activities read once per
	// activity interval (30 s): the three grown pools, in loop 3.
	if got := cached["DescribeScalingActivities"]; got != 3 {
		t.Errorf("DescribeScalingActivities = %d, want 3 (each group short of capacity once per interval)", got)
	}
	if got, other := sum(cached), refreshes*perRefresh+changes+3; got != other {
		t.Errorf("cached total = %d, want %d: some other call crept in: %v", got, other, cached)
	}
	if want := loops*pools*2 + changes; naive["DescribeAutoScalingGroups"]+naive["SetDesiredCapacity"]+naive["TerminateInstanceInAutoScalingGroup"] < want {
		t.Errorf("naive run made fewer calls than %d: %v", want, naive)
	}
}

func budgetRun(t *testing.T, pools, loops int, naive bool) map[string]int {
	e := newEnv(t)
	var ps []*carvev1.NodePool
	for range pools {
		ps = append(ps, e.group(asgserver.GroupSpec{DesiredCapacity: 2}))
	}
	e.srv.SettleAll()
	ctx := context.Background()
	// What the autoscaler's first loop would have done already: not counted.
	if err := e.p.Refresh(ctx, ps); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetCalls()

	for loop := 1; loop <= loops; loop++ {
		if loop == 4 {
			e.srv.SettleAll() // AWS has launched the instances asked for in loop 2
		}
		if !naive {
			if err := e.p.Refresh(ctx, ps); err != nil {
				t.Fatal(err)
			}
		}
		for _, pool := range ps {
			if naive {
				k, _ := keyOf(pool)
				if _, err := e.p.fetch(ctx, k); err != nil { // what TargetSize would cost
					t.Fatal(err)
				}
				if _, err := e.p.fetch(ctx, k); err != nil { // and Instances
					t.Fatal(err)
				}
			}
			if _, err := e.p.TargetSize(ctx, pool); err != nil {
				t.Fatal(err)
			}
			if _, err := e.p.Instances(ctx, pool); err != nil {
				t.Fatal(err)
			}
		}
		switch loop {
		case 2:
			for _, pool := range ps[:3] {
				if err := e.p.Create(ctx, pool, 1); err != nil {
					t.Fatal(err)
				}
			}
		case 5:
			for _, pool := range ps[10:12] {
				running := ids(t, e.p, pool, cloudprovider.StateRunning)
				if err := e.p.Delete(ctx, pool, running[:1]); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// The changes happened: the grown pools run 3, the shrunk ones 1.
	for i, pool := range ps[:12] {
		want := int32(2)
		switch {
		case i < 3:
			want = 3
		case i >= 10:
			want = 1
		}
		if got := e.srv.Desired(region, groupOf(pool)); got != want {
			t.Errorf("desired of %s = %d, want %d", pool.Name, got, want)
		}
	}
	return e.srv.CallCounts()
}
