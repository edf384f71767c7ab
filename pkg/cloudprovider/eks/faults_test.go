package eks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"google.golang.org/grpc/codes"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/eks/asgserver"
)

// running makes pool's group run n instances (through the platform) and
// returns their provider ids, sorted.
func (e *env) running(t *testing.T, pool *carvev1.NodePool, n int) []string {
	t.Helper()
	if err := e.p.Create(ctxFor(t), pool, n); err != nil {
		t.Fatalf("Create(%d): %v", n, err)
	}
	e.srv.Settle(region, groupOf(pool))
	e.refresh(t, pool)
	return ids(t, e.p, pool, cloudprovider.StateRunning)
}

func (e *env) refresh(t *testing.T, pools ...*carvev1.NodePool) {
	t.Helper()
	if err := e.p.Refresh(ctxFor(t), pools); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
}

func ids(t *testing.T, p *Platform, pool *carvev1.NodePool, state cloudprovider.InstanceState) []string {
	t.Helper()
	ins, err := p.Instances(ctxFor(t), pool)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, in := range ins {
		if in.State == state {
			out = append(out, in.ID)
		}
	}
	slices.Sort(out)
	return out
}

func instanceID(providerID string) string {
	return providerID[strings.LastIndexByte(providerID, '/')+1:]
}

func TestThrottlingIsRetried(t *testing.T) {
	e := newEnv(t)
	pool := e.group(asgserver.GroupSpec{})
	e.refresh(t, pool)
	e.srv.Throttle("SetDesiredCapacity", 2)
	if err := e.p.Create(ctxFor(t), pool, 3); err != nil {
		t.Fatalf("Create through two throttled answers: %v", err)
	}
	if got := e.srv.Calls("SetDesiredCapacity"); got != 3 {
		t.Errorf("SetDesiredCapacity calls = %d, want 3 (two throttled, one through)", got)
	}
	if got := e.srv.Desired(region, groupOf(pool)); got != 3 {
		t.Errorf("desired capacity at AWS = %d, want 3", got)
	}

	// Throttled for longer than cloudcall tries: a typed transient error.
	e.srv.Throttle("SetDesiredCapacity", 10)
	err := e.p.Create(ctxFor(t), pool, 1)
	if !errors.Is(err, cloudprovider.ErrTransient) || !strings.Contains(err.Error(), "Throttling") {
		t.Errorf("Create while throttled = %v, want ErrTransient naming Throttling", err)
	}
	if got := e.srv.Desired(region, groupOf(pool)); got != 3 {
		t.Errorf("desired capacity after a failed Create = %d, want 3", got)
	}
	if got, _ := e.p.TargetSize(ctxFor(t), pool); got != 3 {
		t.Errorf("cached target size after a failed Create = %d, want 3", got)
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	for _, f := range []asgserver.Fault{
		{Status: 503, Code: "ServiceUnavailable", Message: "Service is unavailable"},
		{Status: 500, Code: "InternalFailure", Message: "internal failure"},
		{Status: 502, Code: "BadGateway", Message: "an unmodelled 5xx"},
	} {
		t.Run(f.Code, func(t *testing.T) {
			e := newEnv(t)
			pool := e.group(asgserver.GroupSpec{DesiredCapacity: 2})
			e.srv.Settle(region, groupOf(pool))
			e.srv.Inject("DescribeAutoScalingGroups", 1, f)
			e.refresh(t, pool)
			if got := e.srv.Calls("DescribeAutoScalingGroups"); got != 2 {
				t.Errorf("DescribeAutoScalingGroups calls = %d, want 2", got)
			}
			if got := ids(t, e.p, pool, cloudprovider.StateRunning); len(got) != 2 {
				t.Errorf("running after a retried refresh: %v, want 2", got)
			}
		})
	}
}

func TestTimeoutEndsWithinTheCallersDeadline(t *testing.T) {
	e := newEnv(t)
	pool := e.group(asgserver.GroupSpec{})
	e.refresh(t, pool)
	e.srv.Inject("SetDesiredCapacity", 10, asgserver.Fault{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	err := e.p.Create(ctx, pool, 1)
	took := time.Since(start)
	if !errors.Is(err, cloudprovider.ErrTransient) {
		t.Errorf("Create against a hanging API = %v, want ErrTransient", err)
	}
	if ctx.Err() != nil {
		t.Errorf("Create returned after the caller's deadline (%v): the autoscaler would see its own timeout, not the typed error", took)
	}
	if took > time.Second {
		t.Errorf("Create took %v, beyond the 1 s deadline", took)
	}
}

func TestPartialFailureOfAMultiInstanceDelete(t *testing.T) {
	e := newEnv(t)
	pool := e.group(asgserver.GroupSpec{})
	all := e.running(t, pool, 3)
	bad := instanceID(all[1])
	e.srv.FailInstance(bad, asgserver.Fault{Code: "ValidationError", Message: "The instance " + bad + " is not in a state from which it can be terminated."})

	err := e.p.Delete(ctxFor(t), pool, all)
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("Delete with one failing instance = %v, want an error naming %s", err, bad)
	}
	for _, good := range []string{instanceID(all[0]), instanceID(all[2])} {
		if strings.Contains(err.Error(), "terminating "+good) {
			t.Errorf("error names %s, which was terminated: %v", good, err)
		}
	}
	if !errors.Is(err, cloudprovider.ErrInvalid) {
		t.Errorf("error kind: %v, want ErrInvalid (AWS's ValidationError)", err)
	}
	states := map[string]string{}
	for _, in := range e.srv.Instances(region, groupOf(pool)) {
		states[in.ID] = in.LifecycleState
	}
	want := map[string]string{instanceID(all[0]): "Terminating", bad: "InService", instanceID(all[2]): "Terminating"}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("instances at AWS: %v, want %v", states, want)
	}
	if got := e.srv.Desired(region, groupOf(pool)); got != 1 {
		t.Errorf("desired capacity at AWS = %d, want 1", got)
	}
	// The cache knows without a refresh.
	if got, _ := e.p.TargetSize(ctxFor(t), pool); got != 1 {
		t.Errorf("cached target size = %d, want 1", got)
	}
	if got := ids(t, e.p, pool, cloudprovider.StateRunning); !slices.Equal(got, all[1:2]) {
		t.Errorf("running = %v, want only %s", got, all[1])
	}
	if got := e.srv.Calls("TerminateInstanceInAutoScalingGroup"); got != 4 {
		t.Errorf("TerminateInstanceInAutoScalingGroup calls = %d, want 4 (the batch, then one each)", got)
	}

	// Once AWS lets it go, deleting all three again terminates only it.
	e.srv.FailInstance(bad, asgserver.Fault{})
	if err := e.p.Delete(ctxFor(t), pool, all); err != nil {
		t.Fatalf("Delete again: %v", err)
	}
	if got := e.srv.Desired(region, groupOf(pool)); got != 0 {
		t.Errorf("desired capacity at AWS = %d, want 0 (the two terminating ones not decremented twice)", got)
	}
}

func TestBatchDeleteIsOneCall(t *testing.T) {
	e := newEnv(t)
	pool := e.group(asgserver.GroupSpec{})
	all := e.running(t, pool, 4)
	if err := e.p.Delete(ctxFor(t), pool, all[:3]); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Calls("TerminateInstanceInAutoScalingGroup"); got != 1 {
		t.Errorf("TerminateInstanceInAutoScalingGroup calls for 3 instances = %d, want 1 (InstanceIds batch)", got)
	}
	if got := e.srv.Desired(region, groupOf(pool)); got != 1 {
		t.Errorf("desired = %d, want 1", got)
	}
}

func TestDeletingGoneInstancesIsNoError(t *testing.T) {
	e := newEnv(t)
	pool := e.group(asgserver.GroupSpec{})
	all := e.running(t, pool, 3)
	if err := e.p.Delete(ctxFor(t), pool, all[:1]); err != nil {
		t.Fatal(err)
	}
	e.srv.Settle(region, groupOf(pool)) // the instance is terminated and leaves the group
	e.refresh(t, pool)
	e.srv.ResetCalls()
	if err := e.p.Delete(ctxFor(t), pool, all[:1]); err != nil {
		t.Errorf("Delete of a terminated instance: %v", err)
	}
	if got := e.srv.Calls("TerminateInstanceInAutoScalingGroup"); got != 0 {
		t.Errorf("terminated an instance that is gone (%d calls)", got)
	}

	// Another replica terminated one behind this platform's back: its
	// cache still says InService, AWS says not found.
	creds := credentials.NewStaticCredentialsProvider(e.srv.AccessKeyID, e.srv.SecretAccessKey, "")
	p2, err := New(context.Background(), WithEndpoint(e.srv.URL, creds), WithPolicy(fastRetries))
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Delete(ctxFor(t), pool, all[1:2]); err != nil {
		t.Fatal(err)
	}
	e.srv.Settle(region, groupOf(pool))
	if err := e.p.Delete(ctxFor(t), pool, all[1:2]); err != nil {
		t.Errorf("Delete of an instance gone behind the cache: %v", err)
	}
	if got := e.srv.Desired(region, groupOf(pool)); got != 1 {
		t.Errorf("desired = %d, want 1 (lowered once per instance)", got)
	}
	if got, _ := e.p.TargetSize(ctxFor(t), pool); got != 1 {
		t.Errorf("cached target size = %d, want 1", got)
	}
}

func TestLifecycleStates(t *testing.T) {
	e := newEnv(t)
	pool := e.group(asgserver.GroupSpec{})
	all := e.running(t, pool, 3)
	e.srv.SetLifecycle(instanceID(all[0]), "Pending:Wait")
	e.srv.SetLifecycle(instanceID(all[1]), "Terminating:Wait") // AWS replaces it: desired stays 3
	e.refresh(t, pool)
	ins, err := e.p.Instances(ctxFor(t), pool)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]cloudprovider.InstanceState{}
	for _, in := range ins {
		got[in.ID] = in.State
	}
	want := map[string]cloudprovider.InstanceState{
		all[0]: cloudprovider.StateRunning, all[1]: cloudprovider.StateDeleting, all[2]: cloudprovider.StateRunning,
		placeholderID(groupOf(pool), 2): cloudprovider.StateCreating,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("instances = %v, want %v", got, want)
	}
	// Deleting the terminating one is no call at all.
	e.srv.ResetCalls()
	if err := e.p.Delete(ctxFor(t), pool, all[1:2]); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Calls("TerminateInstanceInAutoScalingGroup"); n != 0 {
		t.Errorf("terminated an instance already terminating (%d calls): AWS would lower the desired capacity again", n)
	}
}

func TestFailedLaunchIsOutOfResources(t *testing.T) {
	e := newEnv(t)
	pool := e.group(asgserver.GroupSpec{})
	e.refresh(t, pool)
	if n := e.srv.Calls("DescribeScalingActivities"); n != 0 {
		t.Errorf("read scaling activities of a group without placeholders (%d calls)", n)
	}
	e.srv.FailLaunches(region, groupOf(pool), "We currently do not have sufficient p4d.24xlarge capacity in the Availability Zone you requested (us-east-1a).")
	if err := e.p.Create(ctxFor(t), pool, 2); err != nil {
		t.Fatal(err)
	}
	e.srv.Settle(region, groupOf(pool))
	e.refresh(t, pool)
	ins, err := e.p.Instances(ctxFor(t), pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 2 {
		t.Fatalf("instances = %v, want 2 placeholders", ins)
	}
	for _, in := range ins {
		if in.State != cloudprovider.StateCreating || in.Error == nil || !in.Error.OutOfResources ||
			in.Error.Code != "InsufficientInstanceCapacity" || !strings.Contains(in.Error.Message, "p4d.24xlarge") {
			t.Errorf("placeholder %s = %+v (error %+v), want creating, out of resources, InsufficientInstanceCapacity", in.ID, in, in.Error)
		}
		if _, ok := parseProviderID(in.ID); !ok || !strings.HasPrefix(in.ID, "aws:///placeholder/") {
			t.Errorf("placeholder id %q is not a placeholder provider id", in.ID)
		}
	}
	// Within the activity interval, refreshes do not read activities again.
	e.refresh(t, pool)
	if n := e.srv.Calls("DescribeScalingActivities"); n != 1 {
		t.Errorf("DescribeScalingActivities calls = %d, want 1 within the interval", n)
	}

	// The autoscaler gives up on them: deleting the placeholders lowers the
	// desired capacity.
	if err := e.p.Delete(ctxFor(t), pool, []string{ins[0].ID, ins[1].ID}); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Desired(region, groupOf(pool)); got != 0 {
		t.Errorf("desired after deleting both placeholders = %d, want 0", got)
	}
	if got, _ := e.p.Instances(ctxFor(t), pool); len(got) != 0 {
		t.Errorf("instances after deleting both placeholders: %v", got)
	}
}

func TestOtherLaunchFailureIsNotOutOfResources(t *testing.T) {
	e := newEnv(t, WithActivityInterval(0))
	pool := e.group(asgserver.GroupSpec{})
	e.refresh(t, pool)
	e.srv.FailLaunches(region, groupOf(pool), "The requested configuration is currently not supported. Please check the documentation for supported configurations.")
	if err := e.p.Create(ctxFor(t), pool, 1); err != nil {
		t.Fatal(err)
	}
	e.srv.Settle(region, groupOf(pool))
	e.refresh(t, pool)
	ins, _ := e.p.Instances(ctxFor(t), pool)
	if len(ins) != 1 || ins[0].Error == nil || ins[0].Error.OutOfResources || ins[0].Error.Code != "LaunchFailed" {
		t.Fatalf("instances = %+v, want one placeholder with a LaunchFailed error, not out of resources", ins)
	}
	// Launches work again: the error goes with the placeholder.
	e.srv.FailLaunches(region, groupOf(pool), "")
	e.srv.Settle(region, groupOf(pool))
	e.refresh(t, pool)
	ins, _ = e.p.Instances(ctxFor(t), pool)
	if len(ins) != 1 || ins[0].State != cloudprovider.StateRunning || ins[0].Error != nil {
		t.Errorf("instances after a successful launch = %+v, want one running without error", ins)
	}
}

func TestOldFailedLaunchIsIgnored(t *testing.T) {
	// This platform's clock is 10 minutes ahead of AWS's: every activity
	// the server records predates the shortfall by more than the lookback.
	e := newEnv(t, WithClock(func() time.Time { return time.Now().Add(10 * time.Minute) }))
	pool := e.group(asgserver.GroupSpec{})
	e.refresh(t, pool)
	e.srv.FailLaunches(region, groupOf(pool), "We currently do not have sufficient m5.large capacity.")
	if err := e.p.Create(ctxFor(t), pool, 1); err != nil {
		t.Fatal(err)
	}
	e.srv.Settle(region, groupOf(pool))
	e.refresh(t, pool)
	ins, _ := e.p.Instances(ctxFor(t), pool)
	if len(ins) != 1 || ins[0].Error != nil {
		t.Errorf("instances = %+v, want one placeholder without error (the failure is older than the shortfall)", ins)
	}
	if n := e.srv.Calls("DescribeScalingActivities"); n != 1 {
		t.Errorf("DescribeScalingActivities calls = %d, want 1", n)
	}
}

func TestMissingGroupIsNotFound(t *testing.T) {
	e := newEnv(t)
	pool := e.group(asgserver.GroupSpec{})
	e.refresh(t, pool)
	// Deleted at AWS after it was cached: SetDesiredCapacity says so.
	e.srv.DeleteGroup(region, groupOf(pool))
	if err := e.p.Create(ctxFor(t), pool, 1); !errors.Is(err, cloudprovider.ErrNotFound) {
		t.Errorf("Create in a group deleted behind the cache = %v, want ErrNotFound", err)
	}
	// The next refresh remembers it missing, without failing.
	e.refresh(t, pool)
	e.srv.ResetCalls()
	if _, err := e.p.Instances(ctxFor(t), pool); !errors.Is(err, cloudprovider.ErrNotFound) {
		t.Errorf("Instances of a missing group = %v, want ErrNotFound", err)
	}
	if err := e.p.Delete(ctxFor(t), pool, []string{placeholderID(groupOf(pool), 0)}); !errors.Is(err, cloudprovider.ErrNotFound) {
		t.Errorf("Delete in a missing group = %v, want ErrNotFound", err)
	}
	if n := len(e.srv.CallCounts()); n != 0 {
		t.Errorf("reads of a group known missing called AWS: %v", e.srv.CallCounts())
	}
}

func TestCreateAboveMaxSizeIsRefused(t *testing.T) {
	e := newEnv(t)
	pool := e.group(asgserver.GroupSpec{MaxSize: 3, DesiredCapacity: 2})
	e.refresh(t, pool)
	err := e.p.Create(ctxFor(t), pool, 2)
	if !errors.Is(err, cloudprovider.ErrRefused) || !strings.Contains(err.Error(), "MaxSize 3") {
		t.Errorf("Create above MaxSize = %v, want ErrRefused naming MaxSize 3", err)
	}
	if n := e.srv.Calls("SetDesiredCapacity"); n != 0 {
		t.Errorf("SetDesiredCapacity called %d times for a refused Create", n)
	}
	if err := e.p.Create(ctxFor(t), pool, 1); err != nil {
		t.Errorf("Create up to MaxSize: %v", err)
	}
}

func TestBadCredentialsNameThePermission(t *testing.T) {
	srv := asgserver.New(t)
	srv.AddGroup(asgserver.GroupSpec{Name: "g", MaxSize: 3})
	creds := credentials.NewStaticCredentialsProvider(srv.AccessKeyID, "not-the-secret", "")
	p, err := New(context.Background(), WithEndpoint(srv.URL, creds), WithPolicy(fastRetries))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Create(ctxFor(t), poolFor("p", "g"), 1)
	if err == nil || !strings.Contains(err.Error(), "autoscaling:DescribeAutoScalingGroups") || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("Create with a wrong secret = %v, want an error naming the IAM permission and SignatureDoesNotMatch", err)
	}
	if c := cloudprovider.Code(err); c != codes.Internal {
		t.Errorf("code = %v, want Internal (an admin must act)", c)
	}
	if n := srv.Calls("DescribeAutoScalingGroups"); n != 1 {
		t.Errorf("calls = %d, want 1 (a permission error is not retried)", n)
	}
}

func TestPagingAndChunking(t *testing.T) {
	e := newEnv(t)
	var pools []*carvev1.NodePool
	for i := range 230 {
		pools = append(pools, e.group(asgserver.GroupSpec{DesiredCapacity: int32(i % 4)}))
	}
	e.srv.SettleAll()
	e.srv.MaxPage(30) // AWS answers fewer than asked, with a NextToken
	e.refresh(t, pools...)
	// 100 + 100 + 30 names; each of the first two read in 4 pages of 30.
	if got := e.srv.Calls("DescribeAutoScalingGroups"); got != 4+4+1 {
		t.Errorf("DescribeAutoScalingGroups calls = %d, want 9", got)
	}
	e.srv.ResetCalls()
	for i, pool := range pools {
		n, err := e.p.TargetSize(ctxFor(t), pool)
		if err != nil || n != int32(i%4) {
			t.Fatalf("TargetSize(%s) = %d, %v; want %d", pool.Name, n, err, i%4)
		}
		if got := ids(t, e.p, pool, cloudprovider.StateRunning); len(got) != i%4 {
			t.Fatalf("running of %s = %v, want %d", pool.Name, got, i%4)
		}
	}
	if n := len(e.srv.CallCounts()); n != 0 {
		t.Errorf("reads after a refresh called AWS: %v", e.srv.CallCounts())
	}

	e.srv.MaxPage(0)
	e.srv.ResetCalls()
	e.refresh(t, pools...)
	if got := e.srv.Calls("DescribeAutoScalingGroups"); got != 3 {
		t.Errorf("DescribeAutoScalingGroups calls for 230 groups = %d, want 3", got)
	}
}

func TestRefreshRacesChanges(t *testing.T) {
	e := newEnv(t)
	var pools []*carvev1.NodePool
	for range 4 {
		pools = append(pools, e.group(asgserver.GroupSpec{}))
	}
	e.refresh(t, pools...)
	e.srv.AutoSettle(time.Millisecond)
	ctx := ctxFor(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			_ = e.p.Refresh(ctx, pools)
		}
	}()
	var wg sync.WaitGroup
	for _, pool := range pools {
		wg.Go(func() {
			for range 3 {
				if err := e.p.Create(ctx, pool, 1); err != nil {
					t.Errorf("Create(%s): %v", pool.Name, err)
				}
				if _, err := e.p.Instances(ctx, pool); err != nil {
					t.Errorf("Instances(%s): %v", pool.Name, err)
				}
			}
		})
	}
	wg.Wait()
	<-done
	for _, pool := range pools {
		if got := e.srv.Desired(region, groupOf(pool)); got != 3 {
			t.Errorf("desired of %s at AWS = %d, want 3 (a Create lost to a stale cache?)", pool.Name, got)
		}
	}
}

// holdingAPI is the real client, except that one DescribeAutoScalingGroups
// answer is held back after it arrived, until released.
type holdingAPI struct {
	API
	hold          atomic.Bool
	got, released chan struct{}
}

func (h *holdingAPI) DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, opts ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	out, err := h.API.DescribeAutoScalingGroups(ctx, in, opts...)
	if h.hold.CompareAndSwap(true, false) {
		h.got <- struct{}{}
		<-h.released
	}
	return out, err
}

func TestRefreshReadBeforeAChangeDoesNotUndoIt(t *testing.T) {
	srv := asgserver.New(t)
	creds := credentials.NewStaticCredentialsProvider(srv.AccessKeyID, srv.SecretAccessKey, "")
	real, _ := WithEndpointClient(srv.URL, creds)(region)
	h := &holdingAPI{API: real, got: make(chan struct{}), released: make(chan struct{})}
	p, err := New(context.Background(), WithClientFactory(func(string) (API, error) { return h, nil }), WithPolicy(fastRetries))
	if err != nil {
		t.Fatal(err)
	}
	srv.AddGroup(asgserver.GroupSpec{Name: "g", MaxSize: 5})
	pool := poolFor("p", "g")
	if err := p.Refresh(ctxFor(t), []*carvev1.NodePool{pool}); err != nil {
		t.Fatal(err)
	}

	h.hold.Store(true)
	refreshed := make(chan error)
	go func() { refreshed <- p.Refresh(ctxFor(t), []*carvev1.NodePool{pool}) }()
	<-h.got // the refresh holds an answer with desired capacity 0
	if err := p.Create(ctxFor(t), pool, 2); err != nil {
		t.Fatal(err)
	}
	close(h.released)
	if err := <-refreshed; err != nil {
		t.Fatal(err)
	}
	if got, _ := p.TargetSize(ctxFor(t), pool); got != 2 {
		t.Errorf("target size after a refresh that read before Create(2) = %d, want 2", got)
	}
}

func TestPoolsInTwoRegions(t *testing.T) {
	e := newEnv(t)
	east := e.group(asgserver.GroupSpec{Name: "nodes", DesiredCapacity: 1})
	e.srv.AddGroup(asgserver.GroupSpec{Name: "nodes", Region: "eu-west-1", MaxSize: 5, DesiredCapacity: 3})
	west := poolFor("west", "nodes")
	west.Spec.Platform.EKS.Region = "eu-west-1"
	e.srv.SettleAll()
	e.refresh(t, east, west)
	if got := e.srv.Calls("DescribeAutoScalingGroups"); got != 2 {
		t.Errorf("DescribeAutoScalingGroups calls = %d, want one per region", got)
	}
	for pool, want := range map[*carvev1.NodePool]int32{east: 1, west: 3} {
		if got, err := e.p.TargetSize(ctxFor(t), pool); err != nil || got != want {
			t.Errorf("TargetSize(%s) = %d, %v; want %d", pool.Name, got, err, want)
		}
	}
	if err := e.p.Create(ctxFor(t), west, 1); err != nil {
		t.Fatal(err)
	}
	if e.srv.Desired("eu-west-1", "nodes") != 4 || e.srv.Desired(region, "nodes") != 1 {
		t.Errorf("Create in eu-west-1 changed the wrong group: west %d, east %d", e.srv.Desired("eu-west-1", "nodes"), e.srv.Desired(region, "nodes"))
	}
}

// TestManyPagedReads reads 100 groups in pages of 30, 100 times over one
// kept-alive connection with the client the platform builds: without
// bodyGuard, some of these reads failed with "use of closed network
// connection".
func TestManyPagedReads(t *testing.T) {
	srv := asgserver.New(t)
	var names []string
	for i := range 100 {
		names = append(names, fmt.Sprintf("g-%03d", i))
		srv.AddGroup(asgserver.GroupSpec{Name: names[i], MaxSize: 4, DesiredCapacity: int32(i % 4)})
	}
	srv.SettleAll()
	srv.MaxPage(30)
	c, err := WithEndpointClient(srv.URL, credentials.NewStaticCredentialsProvider(srv.AccessKeyID, srv.SecretAccessKey, ""))(region)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 100 {
		in := &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: names, MaxRecords: aws.Int32(100)}
		for page := 0; ; page++ {
			out, err := c.DescribeAutoScalingGroups(context.Background(), in)
			if err != nil {
				t.Fatalf("round %d, page %d: %v", round, page, err)
			}
			if out.NextToken == nil {
				break
			}
			in.NextToken = out.NextToken
		}
	}
}
