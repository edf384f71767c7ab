package aks_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/aks"
	"github.com/carve-dev/carve/pkg/cloudprovider/aks/armserver"
)

// armFixture is a platform talking HTTPS to a test AKS with one cluster.
type armFixture struct {
	t       *testing.T
	srv     *armserver.Server
	p       *aks.Platform
	cluster string
}

func newARM(t *testing.T) *armFixture {
	t.Helper()
	srv := armserver.NewServer(t)
	f := &armFixture{t: t, srv: srv, cluster: "c1"}
	srv.AddCluster(sub, rg, f.cluster)
	f.p = newPlatform(t, srv.ClientOptions())
	return f
}

// pool adds an agent pool and returns its NodePool.
func (f *armFixture) pool(spec armserver.PoolSpec) *carvev1.NodePool {
	name := poolName()
	f.srv.AddPool(sub, rg, f.cluster, name, spec)
	return nodePool("np-"+name, sub, rg, f.cluster, name)
}

func agentPool(np *carvev1.NodePool) string { return np.Spec.Platform.AKS.AgentPool }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// state is what the platform says of a pool.
type state struct {
	target                      int32
	running, creating, deleting []cloudprovider.Instance
}

func (f *armFixture) state(np *carvev1.NodePool) state {
	f.t.Helper()
	n, err := f.p.TargetSize(ctx(f.t), np)
	if err != nil {
		f.t.Fatalf("TargetSize: %v", err)
	}
	ins, err := f.p.Instances(ctx(f.t), np)
	if err != nil {
		f.t.Fatalf("Instances: %v", err)
	}
	st := state{target: n}
	for _, in := range ins {
		switch in.State {
		case cloudprovider.StateRunning:
			st.running = append(st.running, in)
		case cloudprovider.StateCreating:
			st.creating = append(st.creating, in)
		case cloudprovider.StateDeleting:
			st.deleting = append(st.deleting, in)
		}
	}
	return st
}

func (f *armFixture) refresh(pools ...*carvev1.NodePool) {
	f.t.Helper()
	if err := f.p.Refresh(ctx(f.t), pools); err != nil {
		f.t.Fatalf("Refresh: %v", err)
	}
}

func ids(ins []cloudprovider.Instance) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.ID)
	}
	slices.Sort(out)
	return out
}

func (f *armFixture) want(np *carvev1.NodePool, what string, target int32, running, creating, deleting int) state {
	f.t.Helper()
	st := f.state(np)
	if st.target != target || len(st.running) != running || len(st.creating) != creating || len(st.deleting) != deleting {
		f.t.Fatalf("%s: target %d, %d running, %d creating, %d deleting; want %d, %d, %d, %d",
			what, st.target, len(st.running), len(st.creating), len(st.deleting), target, running, creating, deleting)
	}
	return st
}

// TestCountUpdateOperation: Create returns once AKS accepted the PUT (201 +
// Azure-AsyncOperation); the capacity is creating until the operation ends
// and its machines are listed. No poll is spent while the listed agent
// pool says it is still scaling.
func TestCountUpdateOperation(t *testing.T) {
	f := newARM(t)
	np := f.pool(armserver.PoolSpec{Count: 1})
	if err := f.p.Create(ctx(t), np, 2); err != nil {
		t.Fatal(err)
	}
	if op := f.srv.Op(f.srv.PoolOp(sub, rg, f.cluster, agentPool(np))); op == nil || op.Status != armserver.InProgress || op.Kind != "scale" {
		t.Fatalf("the server's operation after Create: %+v, want a scale in progress", op)
	}
	if got := f.srv.Count(sub, rg, f.cluster, agentPool(np)); got != 3 {
		t.Errorf("the server's count after Create(2) of 1 = %d, want 3", got)
	}
	st := f.want(np, "right after Create(2)", 3, 1, 2, 0)
	for _, c := range st.creating {
		if c.Error != nil {
			t.Errorf("creating instance %s has an error while the operation runs: %+v", c.ID, c.Error)
		}
	}

	f.srv.ResetCalls()
	f.refresh(np)
	if n := f.srv.Calls()[armserver.CallPollOperation]; n != 0 {
		t.Errorf("a Refresh while the agent pool is Scaling polled the operation %d times, want 0", n)
	}
	f.want(np, "while the operation runs", 3, 1, 2, 0)

	f.srv.Complete(sub, rg, f.cluster, agentPool(np))
	f.refresh(np)
	if n := f.srv.Calls()[armserver.CallPollOperation]; n != 1 {
		t.Errorf("the Refresh after the operation ended polled it %d times, want 1", n)
	}
	st = f.want(np, "after the operation succeeded", 3, 3, 0, 0)
	if got, want := ids(st.running), f.srv.ProviderIDs(sub, rg, f.cluster, agentPool(np)); !slices.Equal(got, want) {
		t.Errorf("running ids %v, want the Nodes' provider ids %v", got, want)
	}
}

// TestChangeQueuedBehindOperation: AKS refuses a second change while one
// runs (409), so a Create then is queued, acknowledged, and sent by the
// Refresh that sees the first operation end — with the counts added up.
func TestChangeQueuedBehindOperation(t *testing.T) {
	f := newARM(t)
	np := f.pool(armserver.PoolSpec{Count: 1})
	if err := f.p.Create(ctx(t), np, 1); err != nil {
		t.Fatal(err)
	}
	f.srv.ResetCalls()
	if err := f.p.Create(ctx(t), np, 2); err != nil {
		t.Fatalf("Create behind a running operation: %v", err)
	}
	calls := f.srv.Calls()
	if calls[armserver.CallPutAgentPool] != 0 || calls[armserver.CallPollOperation] != 1 {
		t.Errorf("the queued Create made calls %v, want one poll and no PUT", calls)
	}
	f.want(np, "with a change queued", 4, 1, 3, 0)

	f.srv.Complete(sub, rg, f.cluster, agentPool(np))
	f.refresh(np)
	if got := f.srv.Count(sub, rg, f.cluster, agentPool(np)); got != 4 {
		t.Errorf("the server's count after the queued change was sent = %d, want 4", got)
	}
	f.want(np, "after the first operation, the queued one sent", 4, 2, 2, 0)
	f.srv.Complete(sub, rg, f.cluster, agentPool(np))
	f.refresh(np)
	f.want(np, "after both", 4, 4, 0, 0)
}

// TestFailedScaleOperation: a count update whose operation fails shows its
// missing capacity as creating instances with the error (out of resources
// for quota), and deleting them lowers the count.
func TestFailedScaleOperation(t *testing.T) {
	f := newARM(t)
	np := f.pool(armserver.PoolSpec{Count: 1})
	if err := f.p.Create(ctx(t), np, 3); err != nil {
		t.Fatal(err)
	}
	f.srv.Fail(sub, rg, f.cluster, agentPool(np), armserver.Error{
		Code: "ReconcileVMSSAgentPoolFailed", Message: "scaling the VM scale set failed",
		Details: []armserver.Error{{Code: "QuotaExceeded", Message: "Operation could not be completed as it results in exceeding approved standardDSv5Family Cores quota."}},
	}, 1)
	f.refresh(np)
	st := f.want(np, "after the operation failed with one VM up", 4, 2, 2, 0)
	for _, c := range st.creating {
		if c.Error == nil || c.Error.Code != "ReconcileVMSSAgentPoolFailed" || !c.Error.OutOfResources {
			t.Fatalf("creating instance %s: error %+v, want ReconcileVMSSAgentPoolFailed, out of resources", c.ID, c.Error)
		}
	}
	if err := f.p.Delete(ctx(t), np, ids(st.creating)); err != nil {
		t.Fatalf("Delete of the failed placeholders: %v", err)
	}
	if got := f.srv.Count(sub, rg, f.cluster, agentPool(np)); got != 2 {
		t.Errorf("the server's count after deleting the failed placeholders = %d, want 2", got)
	}
	f.want(np, "after deleting the failed capacity", 2, 2, 0, 0)
}

// TestDeleteMachinesOperation: deleteMachines (202 + Location, with and
// without Azure-AsyncOperation) lowers the count at once and lists the
// machines as deleting until they are gone.
func TestDeleteMachinesOperation(t *testing.T) {
	for _, locationOnly := range []bool{false, true} {
		name := "Azure-AsyncOperation"
		if locationOnly {
			name = "Location only"
		}
		t.Run(name, func(t *testing.T) {
			f := newARM(t)
			f.srv.LocationOnly = locationOnly
			np := f.pool(armserver.PoolSpec{Count: 3})
			st := f.want(np, "before", 3, 3, 0, 0)
			gone := ids(st.running)[:2]
			if err := f.p.Delete(ctx(t), np, gone); err != nil {
				t.Fatal(err)
			}
			st = f.want(np, "right after Delete", 1, 1, 0, 2)
			if !slices.Equal(ids(st.deleting), gone) {
				t.Errorf("deleting %v, want %v", ids(st.deleting), gone)
			}
			f.refresh(np)
			f.want(np, "while the deletion runs", 1, 1, 0, 2)
			f.srv.Complete(sub, rg, f.cluster, agentPool(np))
			f.refresh(np)
			st = f.want(np, "after the deletion", 1, 1, 0, 0)
			if got := f.srv.ProviderIDs(sub, rg, f.cluster, agentPool(np)); !slices.Equal(got, ids(st.running)) {
				t.Errorf("the server has %v, the platform lists %v", got, ids(st.running))
			}
		})
	}
}

// TestPartialDeleteFailure: a deletion of three machines that fails after
// one: the one is gone, the two others run again and carry the error.
func TestPartialDeleteFailure(t *testing.T) {
	f := newARM(t)
	np := f.pool(armserver.PoolSpec{Count: 3})
	all := ids(f.want(np, "before", 3, 3, 0, 0).running)
	if err := f.p.Delete(ctx(t), np, all); err != nil {
		t.Fatal(err)
	}
	f.srv.Fail(sub, rg, f.cluster, agentPool(np), armserver.Error{Code: "DeleteVMSSInstancesFailed", Message: "2 of 3 instances could not be deleted"}, 1)
	f.refresh(np)
	st := f.want(np, "after the partial failure", 2, 2, 0, 0)
	if got, want := ids(st.running), f.srv.ProviderIDs(sub, rg, f.cluster, agentPool(np)); !slices.Equal(got, want) {
		t.Errorf("running %v, the server has %v", got, want)
	}
	for _, in := range st.running {
		if in.Error == nil || in.Error.Code != "DeleteVMSSInstancesFailed" || in.Error.OutOfResources {
			t.Errorf("machine %s whose deletion failed: error %+v, want DeleteVMSSInstancesFailed", in.ID, in.Error)
		}
	}
	// Deleting them again is accepted and clears the error.
	if err := f.p.Delete(ctx(t), np, ids(st.running)); err != nil {
		t.Fatal(err)
	}
	st = f.want(np, "deleting them again", 0, 0, 0, 2)
	for _, in := range st.deleting {
		if in.Error != nil {
			t.Errorf("machine %s deleted again still shows %+v", in.ID, in.Error)
		}
	}
}

// TestFailedOperationOfCreateIsTyped: a change AKS refuses outright comes
// back typed, and the capacity it asked for is not listed.
func TestFailedCreateIsTyped(t *testing.T) {
	f := newARM(t)
	np := f.pool(armserver.PoolSpec{Count: 1})
	f.want(np, "before", 1, 1, 0, 0)
	f.srv.Inject(armserver.Fault{Call: armserver.CallPutAgentPool, Status: 400, Code: "QuotaExceeded"})
	err := f.p.Create(ctx(t), np, 2)
	if !errors.Is(err, cloudprovider.ErrQuotaExceeded) {
		t.Fatalf("Create refused for quota = %v, want ErrQuotaExceeded", err)
	}
	f.want(np, "after the refused Create", 1, 1, 0, 0)
}
