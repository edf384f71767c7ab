package aks_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/aks"
	"github.com/carve-dev/carve/pkg/cloudprovider/aks/armserver"
)

// TestThrottledRetryAfterHonoured: a 429 with Retry-After is retried after
// the wait asked for.
func TestThrottledRetryAfterHonoured(t *testing.T) {
	f := newARM(t)
	np := f.pool(armserver.PoolSpec{Count: 1})
	f.srv.Inject(armserver.Fault{Call: armserver.CallListAgentPools, Status: 429, Code: "TooManyRequests", Header: http.Header{"Retry-After": {"1"}}})
	start := time.Now()
	f.refresh(np)
	if took := time.Since(start); took < time.Second {
		t.Errorf("Refresh retried the throttled list after %v, before the Retry-After of 1s", took)
	}
	if n := f.srv.Calls()[armserver.CallListAgentPools]; n != 2 {
		t.Errorf("agent pool lists = %d, want 2 (throttled, then retried)", n)
	}
	f.want(np, "after the retried refresh", 1, 1, 0, 0)
}

// TestThrottledRetryAfterBounded: a Retry-After longer than the caller's
// deadline allows is not waited for: the call fails at once, transient.
func TestThrottledRetryAfterBounded(t *testing.T) {
	f := newARM(t)
	np := f.pool(armserver.PoolSpec{Count: 1})
	f.srv.Inject(armserver.Fault{Call: armserver.CallGetAgentPool, Status: 429, Code: "TooManyRequests", Header: http.Header{"Retry-After": {"3600"}}})
	c, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := f.p.TargetSize(c, np)
	if !errors.Is(err, cloudprovider.ErrTransient) {
		t.Fatalf("TargetSize throttled for an hour = %v, want ErrTransient", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the call took %v; a wait beyond the deadline must not be started", took)
	}
}

// TestServerErrorsRetried: 5xx answers are retried; persistent ones end as
// ErrTransient after the policy's attempts.
func TestServerErrorsRetried(t *testing.T) {
	f := newARM(t)
	np := f.pool(armserver.PoolSpec{Count: 2})
	f.srv.Inject(armserver.Fault{Call: armserver.CallGetAgentPool, Status: 503, Code: "ServiceUnavailable", Times: 2})
	n, err := f.p.TargetSize(ctx(t), np)
	if err != nil || n != 2 {
		t.Fatalf("TargetSize after two 503s = %d, %v; want 2", n, err)
	}
	if got := f.srv.Calls()[armserver.CallGetAgentPool]; got != 3 {
		t.Errorf("agent pool GETs = %d, want 3", got)
	}

	other := f.pool(armserver.PoolSpec{Count: 1})
	f.srv.ResetCalls()
	f.srv.Inject(armserver.Fault{Call: armserver.CallGetAgentPool, Status: 500, Code: "InternalServerError", Times: 100})
	_, err = f.p.Instances(ctx(t), other)
	if !errors.Is(err, cloudprovider.ErrTransient) || !strings.Contains(err.Error(), "4 attempts") {
		t.Fatalf("Instances with the API down = %v, want ErrTransient after 4 attempts", err)
	}
	if got := f.srv.Calls()[armserver.CallGetAgentPool]; got != 4 {
		t.Errorf("agent pool GETs = %d, want 4 (the policy's attempts)", got)
	}
}

// TestTimeoutInsideDeadline: a call Azure never answers ends before the
// caller's deadline, as ErrTransient.
func TestTimeoutInsideDeadline(t *testing.T) {
	f := newARM(t)
	np := f.pool(armserver.PoolSpec{Count: 1})
	f.srv.Inject(armserver.Fault{Call: armserver.CallListMachines, Hang: true, Times: 100})
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := f.p.Instances(c, np)
	if !errors.Is(err, cloudprovider.ErrTransient) {
		t.Fatalf("Instances with the machines list hanging = %v, want ErrTransient", err)
	}
	dl, _ := c.Deadline()
	if now := time.Now(); !now.Before(dl) {
		t.Errorf("the call returned %v after its start, not before the caller's deadline", now.Sub(start))
	}
}

// TestETagConflictRetried: a PUT answered 412 (the agent pool changed since
// the GET) is redone on a fresh read.
func TestETagConflictRetried(t *testing.T) {
	f := newARM(t)
	np := f.pool(armserver.PoolSpec{Count: 1})
	f.want(np, "before", 1, 1, 0, 0)
	f.srv.ResetCalls()
	f.srv.Inject(armserver.Fault{Call: armserver.CallPutAgentPool, Status: 412, Code: "PreconditionFailed"})
	if err := f.p.Create(ctx(t), np, 1); err != nil {
		t.Fatal(err)
	}
	calls := f.srv.Calls()
	if calls[armserver.CallGetAgentPool] != 2 || calls[armserver.CallPutAgentPool] != 2 {
		t.Errorf("calls %v, want 2 GETs and 2 PUTs (read-modify-write redone)", calls)
	}
	if got := f.srv.Count(sub, rg, f.cluster, agentPool(np)); got != 2 {
		t.Errorf("server count = %d, want 2", got)
	}
}

// TestWriteCarriesETag: the PUT names the ETag of the agent pool it was
// computed from (If-Match), read fresh, not the cached one.
func TestWriteCarriesETag(t *testing.T) {
	f := newARM(t)
	np := f.pool(armserver.PoolSpec{Count: 1})
	f.want(np, "before", 1, 1, 0, 0)
	// The pool changes after carve cached it.
	f.srv.SetAutoScaling(sub, rg, f.cluster, agentPool(np), false)
	ap, _ := f.srv.Get(sub, rg, f.cluster, agentPool(np))
	if err := f.p.Create(ctx(t), np, 1); err != nil {
		t.Fatal(err)
	}
	if got, want := f.srv.LastIfMatch(), *ap.Properties.ETag; got != want {
		t.Errorf("If-Match %q, want the current ETag %q", got, want)
	}
	if got := f.srv.Count(sub, rg, f.cluster, agentPool(np)); got != 2 {
		t.Errorf("server count = %d, want 2", got)
	}
}

// TestBusyPoolNotRetried: AKS refusing a change because an operation
// (someone else's) runs is transient but not retried within the call.
func TestBusyPoolNotRetried(t *testing.T) {
	f := newARM(t)
	np := f.pool(armserver.PoolSpec{Count: 1})
	f.want(np, "before", 1, 1, 0, 0)
	f.srv.ResetCalls()
	f.srv.Inject(armserver.Fault{Call: armserver.CallPutAgentPool, Status: 409, Code: "OperationNotAllowed"})
	err := f.p.Create(ctx(t), np, 1)
	if !errors.Is(err, cloudprovider.ErrTransient) {
		t.Fatalf("Create on a busy pool = %v, want ErrTransient", err)
	}
	if n := f.srv.Calls()[armserver.CallPutAgentPool]; n != 1 {
		t.Errorf("PUTs = %d, want 1", n)
	}
	f.want(np, "after the refused Create", 1, 1, 0, 0)
}

// TestAutoscaledPoolRefused: an agent pool with AKS's own autoscaler on is
// not scaled by carve.
func TestAutoscaledPoolRefused(t *testing.T) {
	f := newARM(t)
	np := f.pool(armserver.PoolSpec{Count: 1, EnableAutoScaling: true})
	f.srv.ResetCalls()
	err := f.p.Create(ctx(t), np, 1)
	if !errors.Is(err, cloudprovider.ErrRefused) || !strings.Contains(err.Error(), "enableAutoScaling") {
		t.Fatalf("Create in an AKS-autoscaled pool = %v, want ErrRefused naming enableAutoScaling", err)
	}
	ids := f.srv.ProviderIDs(sub, rg, f.cluster, agentPool(np))
	if err := f.p.Delete(ctx(t), np, ids); !errors.Is(err, cloudprovider.ErrRefused) {
		t.Errorf("Delete in an AKS-autoscaled pool = %v, want ErrRefused", err)
	}
	if n := f.srv.Calls()[armserver.CallPutAgentPool] + f.srv.Calls()[armserver.CallDeleteMachines]; n != 0 {
		t.Errorf("%d changes sent to an AKS-autoscaled pool", n)
	}
	// The pool's Ready condition says so before anyone asks.
	if reason, msg := f.p.Refusal(np); reason != aks.ReasonAKSAutoscaler || !strings.Contains(msg, "enableAutoScaling") {
		t.Errorf("Refusal = %q, %q; want %s naming enableAutoScaling", reason, msg, aks.ReasonAKSAutoscaler)
	}
	other := f.pool(armserver.PoolSpec{Count: 1})
	if reason, _ := f.p.Refusal(other); reason != "" {
		t.Errorf("Refusal of a pool without AKS's autoscaler = %q, want none", reason)
	}
}

// TestMissing: a cluster or agent pool that does not exist is ErrNotFound;
// a Refresh marks it without failing.
func TestMissing(t *testing.T) {
	f := newARM(t)
	ok := f.pool(armserver.PoolSpec{Count: 1})
	noPool := nodePool("np-nopool", sub, rg, f.cluster, "nosuchpool")
	noCluster := nodePool("np-nocluster", sub, rg, "nosuchcluster", "p")
	for _, np := range []*carvev1.NodePool{noPool, noCluster} {
		if _, err := f.p.TargetSize(ctx(t), np); !errors.Is(err, cloudprovider.ErrNotFound) {
			t.Errorf("%s: TargetSize = %v, want ErrNotFound", np.Name, err)
		}
		if err := f.p.Create(ctx(t), np, 1); !errors.Is(err, cloudprovider.ErrNotFound) {
			t.Errorf("%s: Create = %v, want ErrNotFound", np.Name, err)
		}
	}
	fresh := newPlatform(t, f.srv.ClientOptions())
	if err := fresh.Refresh(ctx(t), []*carvev1.NodePool{ok, noPool, noCluster}); err != nil {
		t.Fatalf("Refresh with missing pools: %v", err)
	}
	f.srv.ResetCalls()
	for _, np := range []*carvev1.NodePool{noPool, noCluster} {
		if _, err := fresh.Instances(ctx(t), np); !errors.Is(err, cloudprovider.ErrNotFound) {
			t.Errorf("%s after Refresh: Instances = %v, want ErrNotFound", np.Name, err)
		}
	}
	if n := f.srv.Total(); n != 0 {
		t.Errorf("reads of pools a Refresh found missing made %d calls, want 0", n)
	}
	if n, err := fresh.TargetSize(ctx(t), ok); err != nil || n != 1 {
		t.Errorf("the existing pool: %d, %v", n, err)
	}
}

// TestBadProviderIDs: ids that are not the pool's are ErrInvalid and
// change nothing; the resource group is compared case-insensitively; a
// machine already gone is no error.
func TestBadProviderIDs(t *testing.T) {
	f := newARM(t)
	np := f.pool(armserver.PoolSpec{Count: 2})
	other := f.pool(armserver.PoolSpec{Count: 1})
	mine := ids(f.want(np, "before", 2, 2, 0, 0).running)
	theirs := ids(f.want(other, "other", 1, 1, 0, 0).running)
	f.srv.ResetCalls()
	for _, id := range []string{
		"",
		"aws:///us-east-1a/i-0123",
		"azure://",
		"azure:///subscriptions/" + sub,
		strings.Replace(mine[0], "/virtualMachines/", "/vms/", 1),
		strings.Replace(mine[0], "virtualMachineScaleSets", "availabilitySets", 1),
		mine[0] + "/extra",
		strings.Replace(mine[0], sub, "99999999-2222-3333-4444-555555555555", 1),
		theirs[0],
		"aks-placeholder://rg-carve/c1/otherpool/x-1",
	} {
		if err := f.p.Delete(ctx(t), np, []string{mine[1], id}); !errors.Is(err, cloudprovider.ErrInvalid) {
			t.Errorf("Delete of %q = %v, want ErrInvalid", id, err)
		}
	}
	if n := f.srv.Calls()[armserver.CallDeleteMachines]; n != 0 {
		t.Fatalf("%d deleteMachines calls for refused ids", n)
	}
	f.want(np, "after the refused deletes", 2, 2, 0, 0)

	// The Node's id has the resource group in lower case; ARM's answers have
	// it as MC_…: both name the same machine.
	upper := strings.Replace(mine[0], "/resourceGroups/mc_", "/resourceGroups/MC_", 1)
	if upper == mine[0] {
		t.Fatalf("test id %s has no lower-case node resource group", mine[0])
	}
	if err := f.p.Delete(ctx(t), np, []string{upper}); err != nil {
		t.Fatalf("Delete of %s (resource group in upper case): %v", upper, err)
	}
	st := f.want(np, "after deleting one", 1, 1, 0, 1)
	if st.deleting[0].ID != mine[0] {
		t.Errorf("deleting %s, want %s", st.deleting[0].ID, mine[0])
	}
	f.srv.Complete(sub, rg, f.cluster, agentPool(np))
	f.refresh(np)

	// Gone already: no error, nothing sent.
	f.srv.ResetCalls()
	if err := f.p.Delete(ctx(t), np, []string{mine[0]}); err != nil {
		t.Fatalf("Delete of a machine already gone: %v", err)
	}
	if n := f.srv.Calls()[armserver.CallDeleteMachines]; n != 0 {
		t.Errorf("deleteMachines sent for a machine already gone")
	}
	f.want(np, "after deleting a gone machine", 1, 1, 0, 0)
}
