// Package conformance is the Platform contract as a test suite: every
// backend (kwok, EKS, AKS, OpenShift, Cluster API) runs it against its real
// client and a server that speaks its cloud's API, so that the server and
// its guards can rely on the same behaviour from all of them:
//
//   - Create(n) raises TargetSize by n at once and lists n more instances,
//     creating until the cloud brings them up, then running, under ids that
//     are unique and stable;
//   - Delete of given ids removes exactly those and lowers TargetSize by as
//     many; deleting them again is no error and changes nothing;
//   - an instance still creating (a placeholder) can be deleted, which only
//     lowers the target;
//   - an id that is not the pool's is ErrInvalid and changes nothing;
//   - a pool whose backing object is gone is ErrNotFound;
//   - calls for different pools may run at once (run the suite with -race).
//
// The suite waits for each expectation (clouds and caches are eventually
// consistent) up to Backend.Settle.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// Backend is a platform under test and the cloud behind it.
type Backend struct {
	// Platform is the backend under test.
	Platform cloudprovider.Platform
	// NewPool returns a NodePool backed by a new, empty group in the cloud
	// (an Auto Scaling group, an agent pool, a MachineSet…) with minSize 0
	// and maxSize at least 4. Each call gives a pool of its own.
	NewPool func(t *testing.T) *carvev1.NodePool
	// MissingPool returns a NodePool whose backing group does not exist.
	MissingPool func(t *testing.T) *carvev1.NodePool
	// Boot makes the cloud bring up the instances asked for in pool (launch
	// the VMs, create the Machines and their Nodes). Backends whose cloud
	// does that by itself may leave it nil.
	Boot func(t *testing.T, pool *carvev1.NodePool)
	// Settle bounds how long an expectation may take to hold (default 10 s).
	Settle time.Duration
}

// Run runs the suite.
func Run(t *testing.T, b Backend) {
	if b.Settle <= 0 {
		b.Settle = 10 * time.Second
	}
	s := &suite{Backend: b}
	t.Run("CreateThenInstances", s.createThenInstances)
	t.Run("DeleteGivenIdsTwice", s.deleteGivenIdsTwice)
	t.Run("DeletePlaceholder", s.deletePlaceholder)
	t.Run("ForeignIdIsInvalid", s.foreignIDIsInvalid)
	t.Run("MissingPoolIsNotFound", s.missingPoolIsNotFound)
	t.Run("ConcurrentPools", s.concurrentPools)
}

type suite struct{ Backend }

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// refresh refreshes a caching platform, as the autoscaler's loop does.
func (s *suite) refresh(t *testing.T, pools ...*carvev1.NodePool) {
	t.Helper()
	if r, ok := s.Platform.(cloudprovider.Refresher); ok {
		if err := r.Refresh(ctxFor(t), pools); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
	}
}

func (s *suite) boot(t *testing.T, pool *carvev1.NodePool) {
	t.Helper()
	if s.Boot != nil {
		s.Boot(t, pool)
	}
}

// state is what the platform says of a pool at one moment.
type state struct {
	target    int32
	instances []cloudprovider.Instance
}

func (st state) count(s cloudprovider.InstanceState) int {
	n := 0
	for _, in := range st.instances {
		if in.State == s {
			n++
		}
	}
	return n
}

func (st state) ids(states ...cloudprovider.InstanceState) []string {
	var out []string
	for _, in := range st.instances {
		if slices.Contains(states, in.State) {
			out = append(out, in.ID)
		}
	}
	slices.Sort(out)
	return out
}

func (st state) String() string {
	return fmt.Sprintf("target %d, %d running, %d creating, %d deleting %v", st.target,
		st.count(cloudprovider.StateRunning), st.count(cloudprovider.StateCreating), st.count(cloudprovider.StateDeleting), st.instances)
}

func (s *suite) read(t *testing.T, pool *carvev1.NodePool) (state, error) {
	t.Helper()
	ctx := ctxFor(t)
	target, err := s.Platform.TargetSize(ctx, pool)
	if err != nil {
		return state{}, fmt.Errorf("TargetSize: %w", err)
	}
	ins, err := s.Platform.Instances(ctx, pool)
	if err != nil {
		return state{}, fmt.Errorf("Instances: %w", err)
	}
	seen := map[string]bool{}
	for _, in := range ins {
		if in.ID == "" || seen[in.ID] {
			return state{}, fmt.Errorf("instance id %q is empty or listed twice in %v", in.ID, ins)
		}
		seen[in.ID] = true
	}
	return state{target: target, instances: ins}, nil
}

// await refreshes and reads pool until ok holds, and fails the test with
// what it last saw if it does not within Settle.
func (s *suite) await(t *testing.T, pool *carvev1.NodePool, what string, ok func(state) bool) state {
	t.Helper()
	deadline := time.Now().Add(s.Settle)
	for {
		s.refresh(t, pool)
		st, err := s.read(t, pool)
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			t.Fatalf("%s: not within %v; the platform says %v", what, s.Settle, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *suite) create(t *testing.T, pool *carvev1.NodePool, n int) {
	t.Helper()
	if err := s.Platform.Create(ctxFor(t), pool, n); err != nil {
		t.Fatalf("Create(%s, %d): %v", pool.Name, n, err)
	}
}

// running grows pool by n and waits until all its instances run.
func (s *suite) running(t *testing.T, pool *carvev1.NodePool, n int) state {
	t.Helper()
	s.create(t, pool, n)
	s.boot(t, pool)
	return s.await(t, pool, fmt.Sprintf("after Create(%d) and boot, %d running", n, n), func(st state) bool {
		return st.target == int32(n) && st.count(cloudprovider.StateRunning) == n && len(st.instances) == n
	})
}

func (s *suite) createThenInstances(t *testing.T) {
	pool := s.NewPool(t)
	s.await(t, pool, "a new pool is empty", func(st state) bool { return st.target == 0 && len(st.instances) == 0 })

	s.create(t, pool, 2)
	// The change is the provider's own: it must show without a refresh.
	st, err := s.read(t, pool)
	if err != nil {
		t.Fatal(err)
	}
	if st.target != 2 {
		t.Errorf("TargetSize right after Create(2) = %d, want 2 (the provider knows what it asked for)", st.target)
	}
	if len(st.instances) != 2 {
		t.Errorf("Instances right after Create(2): %v, want 2 (creating or running)", st)
	}
	for _, in := range st.instances {
		if in.State == cloudprovider.StateDeleting {
			t.Errorf("instance %s is deleting right after Create", in.ID)
		}
	}

	s.boot(t, pool)
	up := s.await(t, pool, "after boot, 2 running", func(st state) bool {
		return st.target == 2 && st.count(cloudprovider.StateRunning) == 2 && len(st.instances) == 2
	})
	// Ids are stable: asking again gives the same ones.
	again := s.await(t, pool, "still 2 running", func(st state) bool { return st.count(cloudprovider.StateRunning) == 2 })
	if !slices.Equal(up.ids(cloudprovider.StateRunning), again.ids(cloudprovider.StateRunning)) {
		t.Errorf("running ids changed between two reads: %v then %v", up.ids(cloudprovider.StateRunning), again.ids(cloudprovider.StateRunning))
	}

	s.create(t, pool, 1)
	st, err = s.read(t, pool)
	if err != nil {
		t.Fatal(err)
	}
	if st.target != 3 {
		t.Errorf("TargetSize after another Create(1) = %d, want 3", st.target)
	}
}

func (s *suite) deleteGivenIdsTwice(t *testing.T) {
	pool := s.NewPool(t)
	up := s.running(t, pool, 3)
	ids := up.ids(cloudprovider.StateRunning)
	gone, kept := ids[:2], ids[2:]

	for round := 1; round <= 2; round++ {
		if err := s.Platform.Delete(ctxFor(t), pool, gone); err != nil {
			t.Fatalf("Delete %v (round %d): %v", gone, round, err)
		}
		st, err := s.read(t, pool)
		if err != nil {
			t.Fatal(err)
		}
		if st.target != 1 {
			t.Errorf("round %d: TargetSize right after deleting 2 of 3 = %d, want 1", round, st.target)
		}
		for _, in := range st.instances {
			if slices.Contains(gone, in.ID) && in.State != cloudprovider.StateDeleting {
				t.Errorf("round %d: deleted instance %s listed as %v, want deleting or absent", round, in.ID, in.State)
			}
		}
	}
	s.boot(t, pool)
	st := s.await(t, pool, "the deleted instances go, the other stays", func(st state) bool {
		return st.target == 1 && slices.Equal(st.ids(cloudprovider.StateRunning, cloudprovider.StateCreating, cloudprovider.StateDeleting), kept)
	})
	if st.count(cloudprovider.StateRunning) != 1 {
		t.Errorf("the kept instance is not running: %v", st)
	}
}

func (s *suite) deletePlaceholder(t *testing.T) {
	pool := s.NewPool(t)
	s.running(t, pool, 1)
	s.create(t, pool, 2)
	st, err := s.read(t, pool)
	if err != nil {
		t.Fatal(err)
	}
	creating := st.ids(cloudprovider.StateCreating)
	if len(creating) != 2 {
		// The cloud was quicker than the read: nothing to forget here.
		t.Skipf("the cloud brought both instances up before they could be seen creating: %v", st)
	}
	if err := s.Platform.Delete(ctxFor(t), pool, creating[:1]); err != nil {
		t.Fatalf("Delete of creating instance %s: %v", creating[0], err)
	}
	s.boot(t, pool)
	s.await(t, pool, "deleting a creating instance lowers the target by one", func(st state) bool {
		return st.target == 2 && st.count(cloudprovider.StateRunning) == 2 && len(st.instances) == 2
	})
}

func (s *suite) foreignIDIsInvalid(t *testing.T) {
	pool, other := s.NewPool(t), s.NewPool(t)
	s.running(t, pool, 1)
	theirs := s.running(t, other, 1)
	for _, id := range append(theirs.ids(cloudprovider.StateRunning), "not-a-provider-id") {
		err := s.Platform.Delete(ctxFor(t), pool, []string{id})
		if !errors.Is(err, cloudprovider.ErrInvalid) {
			t.Errorf("Delete of %q from pool %s = %v, want ErrInvalid", id, pool.Name, err)
		}
	}
	s.await(t, other, "the other pool keeps its instance", func(st state) bool {
		return st.target == 1 && st.count(cloudprovider.StateRunning) == 1
	})
	s.await(t, pool, "the pool keeps its instance", func(st state) bool {
		return st.target == 1 && st.count(cloudprovider.StateRunning) == 1
	})
}

func (s *suite) missingPoolIsNotFound(t *testing.T) {
	if s.MissingPool == nil {
		t.Skip("the platform has no backing object that can be missing")
	}
	pool := s.MissingPool(t)
	if r, ok := s.Platform.(cloudprovider.Refresher); ok {
		// A refresh may report the missing group or leave it to the reads.
		_ = r.Refresh(ctxFor(t), []*carvev1.NodePool{pool})
	}
	if _, err := s.Platform.TargetSize(ctxFor(t), pool); !errors.Is(err, cloudprovider.ErrNotFound) {
		t.Errorf("TargetSize of a pool whose group is missing = %v, want ErrNotFound", err)
	}
	if err := s.Platform.Create(ctxFor(t), pool, 1); !errors.Is(err, cloudprovider.ErrNotFound) {
		t.Errorf("Create in a pool whose group is missing = %v, want ErrNotFound", err)
	}
}

// concurrentPools changes several pools at once while their instances and
// sizes are read, as the server does (it serialises changes per pool only).
func (s *suite) concurrentPools(t *testing.T) {
	const pools, each = 3, 2
	ps := make([]*carvev1.NodePool, pools)
	for i := range ps {
		ps[i] = s.NewPool(t)
	}
	var wg sync.WaitGroup
	errs := make(chan error, pools*(each+20))
	for _, p := range ps {
		wg.Go(func() {
			for range each {
				if err := s.Platform.Create(ctxFor(t), p, 1); err != nil {
					errs <- fmt.Errorf("Create(%s): %w", p.Name, err)
				}
			}
		})
		wg.Go(func() {
			for range 10 {
				if _, err := s.Platform.Instances(ctxFor(t), p); err != nil {
					errs <- fmt.Errorf("Instances(%s): %w", p.Name, err)
				}
				if _, err := s.Platform.TargetSize(ctxFor(t), p); err != nil {
					errs <- fmt.Errorf("TargetSize(%s): %w", p.Name, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent call: %v", err)
	}
	for _, p := range ps {
		s.boot(t, p)
		s.await(t, p, fmt.Sprintf("pool %s has the %d instances asked for", p.Name, each), func(st state) bool {
			return st.target == each && st.count(cloudprovider.StateRunning) == each
		})
	}
}
