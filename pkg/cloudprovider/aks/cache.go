package aks

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"

	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// poolState is what the backend knows of one agent pool: the agent pool
// and its machines as Azure last answered, and what carve itself did since
// (the count it asked for, the machines it is deleting, the operations it
// waits for). Every field is guarded by Platform.mu.
type poolState struct {
	ref poolRef
	// known: Azure was asked about the pool at least once. found is false
	// when it said the agent pool (or its cluster) does not exist.
	known, found bool
	// ap is the agent pool as last read (list or get); never modified.
	ap *armcontainerservice.AgentPool
	// count is the agent pool's count as carve believes it: the listed
	// one, or the one carve asked for since.
	count int32
	// changedAt is when carve last changed the pool or saw one of its
	// operations end; a list started before that does not override count.
	changedAt time.Time

	// machines are the agent pool's machines as last listed.
	machines []machine
	byKey    map[string]int // vmID.key() → index in machines
	// machinesAt is when machines were listed (zero: never), machinesFP the
	// agent pool's fingerprint then.
	machinesAt time.Time
	machinesFP string

	// deleting are the machines carve asked Azure to delete (name → when),
	// until a list no longer shows them or the deletion failed.
	deleting map[string]time.Time
	// machineErrs are the errors of failed deletions, by machine name, shown
	// on the machines (running again) until they are gone or deleted anew.
	machineErrs map[string]*cloudprovider.InstanceError
	// failedDeletes are machines of a failed deletion, until a machine list
	// says which of them are still there.
	failedDeletes map[string]*cloudprovider.InstanceError
	// placeholders stand for count minus running machines, oldest first.
	placeholders []placeholder
	// extras are placeholders whose creation failed after Azure took the
	// count back down: kept, with their error, so that the autoscaler sees
	// the failed scale-up, until it deletes them or extrasTTL passes.
	extras []placeholder
	// ops are carve's operations on the pool Azure has not finished.
	ops []*opState
	// pendingDelta and pendingDeletes are changes acknowledged but not sent
	// yet, because an operation of carve's ran on the pool (AKS runs one at
	// a time); count and deleting include them already.
	pendingDelta   int32
	pendingDeletes []string

	// writeMu makes carve's changes to the pool one at a time: the
	// server's per-pool lock covers Create and Delete, not the flush of
	// queued changes a Refresh does. Taken before Platform.mu, never after
	// (lock order: writeMu, then mu).
	writeMu sync.Mutex
}

// settled says carve has nothing running or queued on the pool, so that
// Azure's count is the one to believe.
func (st *poolState) settled() bool {
	return len(st.ops) == 0 && st.pendingDelta == 0 && len(st.pendingDeletes) == 0
}

type machine struct {
	name string
	// providerID is the Node's spec.providerID (resource group in lower case).
	providerID string
	vm         vmID
	parsed     bool
}

type placeholder struct {
	id  string
	at  time.Time
	err *cloudprovider.InstanceError
}

type opKind int

const (
	opScale opKind = iota + 1
	opDeleteMachines
)

func (k opKind) String() string {
	if k == opScale {
		return "count update"
	}
	return "machine deletion"
}

// opState is an accepted long-running operation carve waits for.
type opState struct {
	kind     opKind
	op       operation
	started  time.Time
	machines []string // opDeleteMachines: the names asked for
	count    int32    // opScale: the count asked for
	// polling lets one goroutine at a time poll the operation (an SDK
	// poller is not safe for concurrent use); others skip it.
	polling sync.Mutex
}

// fingerprint changes whenever AKS changes the agent pool: its ETag (when
// AKS sends one), provisioning state and count.
func fingerprint(ap *armcontainerservice.AgentPool) string {
	if ap == nil || ap.Properties == nil {
		return ""
	}
	pr := ap.Properties
	return fmt.Sprintf("%s|%s|%d", deref(pr.ETag), deref(pr.ProvisioningState), deref(pr.Count))
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// provisioningState is the agent pool's, "" when unknown.
func (st *poolState) provisioningState() string {
	if st.ap == nil || st.ap.Properties == nil {
		return ""
	}
	return deref(st.ap.Properties.ProvisioningState)
}

// busy says AKS reports an operation running on the agent pool.
func busy(state string) bool {
	switch strings.ToLower(state) {
	case "", "succeeded", "failed", "canceled", "cancelled":
		return false
	}
	return true
}

// observe takes in an agent pool as Azure listed it at listStart.
func (st *poolState) observe(ap *armcontainerservice.AgentPool, listStart time.Time) {
	st.known, st.found = true, true
	st.ap = ap
	if ap.Properties == nil || ap.Properties.Count == nil {
		return
	}
	// While carve's own operations run, or when the list may predate carve's
	// last change, the count carve asked for is the better guess: AKS may
	// report the new count only when the operation ends.
	if st.settled() && listStart.After(st.changedAt) {
		st.adoptCount(*ap.Properties.Count)
	}
}

// adoptCount sets the count to what Azure says. Placeholders whose
// creation failed and that a lower count would make vanish become extras,
// so that the autoscaler still learns of the failure.
func (st *poolState) adoptCount(n int32) {
	if drop := int(st.count - n); drop > 0 {
		// reconcile drops the newest placeholders first.
		kept := st.placeholders[:0]
		first := len(st.placeholders) - drop
		for i, p := range st.placeholders {
			if i >= first && p.err != nil {
				st.extras = append(st.extras, p)
				continue
			}
			kept = append(kept, p)
		}
		st.placeholders = kept
	}
	st.count = n
}

// setMachines takes in a list of the agent pool's machines read at at.
func (st *poolState) setMachines(ms []*armcontainerservice.Machine, at time.Time) {
	st.machines = st.machines[:0]
	st.byKey = make(map[string]int, len(ms))
	listed := make(map[string]bool, len(ms))
	for _, m := range ms {
		if m == nil || m.Name == nil {
			continue
		}
		mc := machine{name: *m.Name}
		if m.Properties != nil && m.Properties.ResourceID != nil {
			if pid, v, err := nodeProviderID(*m.Properties.ResourceID); err == nil {
				mc.providerID, mc.vm, mc.parsed = pid, v, true
			} else {
				// Not a scale set VM (an AvailabilitySet pool): listed under its
				// resource id, never deleted by carve.
				mc.providerID = providerIDPrefix + *m.Properties.ResourceID
			}
		}
		if mc.providerID == "" {
			continue
		}
		listed[mc.name] = true
		if mc.parsed {
			st.byKey[mc.vm.key()] = len(st.machines)
		}
		st.machines = append(st.machines, mc)
	}
	for name, ie := range st.failedDeletes {
		// A machine whose deletion failed and that is still listed runs
		// again and counts again (AKS raises its count back by as many).
		if listed[name] {
			delete(st.deleting, name)
			st.machineErrs[name] = ie
			st.count++
		}
		delete(st.failedDeletes, name)
	}
	for name := range st.deleting {
		if !listed[name] {
			delete(st.deleting, name) // gone: the deletion is done
		}
	}
	for name := range st.machineErrs {
		if !listed[name] {
			delete(st.machineErrs, name)
		}
	}
	st.machinesAt = at
	st.machinesFP = fingerprint(st.ap)
}

// running counts the machines not being deleted.
func (st *poolState) running() int32 {
	return int32(len(st.machines) - len(st.deleting))
}

// reconcile makes the placeholders stand for count minus running
// machines: new ones get new ids, and when there are too many the newest
// go (any of them could have become a machine that came up; the
// autoscaler needs the number right and the ids it has seen stable).
func (st *poolState) reconcile(now time.Time, newID func() string) {
	want := max(0, int(st.count-st.running()))
	if len(st.placeholders) > want {
		st.placeholders = st.placeholders[:want]
	}
	for len(st.placeholders) < want {
		st.placeholders = append(st.placeholders, placeholder{id: newID(), at: now})
	}
	kept := st.extras[:0]
	for _, e := range st.extras {
		if now.Sub(e.at) < extrasTTL {
			kept = append(kept, e)
		}
	}
	st.extras = kept
	for name, since := range st.deleting {
		if now.Sub(since) > deletingTTL {
			delete(st.deleting, name) // never confirmed: trust the lists again
		}
	}
}

// instances lists the pool's instances from the cache.
func (st *poolState) instances() []cloudprovider.Instance {
	out := make([]cloudprovider.Instance, 0, len(st.machines)+len(st.placeholders)+len(st.extras))
	for _, m := range st.machines {
		in := cloudprovider.Instance{ID: m.providerID, State: cloudprovider.StateRunning, Error: st.machineErrs[m.name]}
		if _, ok := st.deleting[m.name]; ok {
			in.State = cloudprovider.StateDeleting
		}
		out = append(out, in)
	}
	// An agent pool AKS reports Failed with no operation of carve's known
	// (carve restarted, or someone else scaled it) failed to provide the
	// missing capacity.
	var poolErr *cloudprovider.InstanceError
	if strings.EqualFold(st.provisioningState(), "Failed") && len(st.ops) == 0 {
		poolErr = &cloudprovider.InstanceError{Code: "AgentPoolFailed", Message: fmt.Sprintf("agent pool %s is in provisioning state Failed: its last operation did not complete (see the cluster's activity log)", st.ref)}
	}
	for _, p := range st.placeholders {
		in := cloudprovider.Instance{ID: p.id, State: cloudprovider.StateCreating, Error: p.err}
		if in.Error == nil {
			in.Error = poolErr
		}
		out = append(out, in)
	}
	for _, p := range st.extras {
		out = append(out, cloudprovider.Instance{ID: p.id, State: cloudprovider.StateCreating, Error: p.err})
	}
	return out
}

// target is the pool's target size: the count, plus failed placeholders
// still shown beyond it.
func (st *poolState) target() int32 {
	return st.count + int32(len(st.extras))
}

// needsMachines says the machines must be listed again in this refresh.
func (st *poolState) needsMachines(now time.Time, ttl time.Duration) bool {
	switch {
	case st.machinesAt.IsZero():
		return true
	case fingerprint(st.ap) != st.machinesFP:
		return true // AKS changed the pool
	case st.count != st.running() || len(st.deleting) > 0 || len(st.failedDeletes) > 0:
		return true // capacity is being created or deleted
	case now.Sub(st.machinesAt) > ttl:
		return true // a machine replaced without the pool changing
	}
	return false
}

// failOp records a failed operation: the capacity it should have created,
// or the machines it should have deleted, carry its error.
func (st *poolState) failOp(o *opState, err error) {
	switch o.kind {
	case opScale:
		ie := instanceError(err, fmt.Sprintf("raising the count of agent pool %s to %d failed", st.ref, o.count))
		for i := range st.placeholders {
			if st.placeholders[i].err == nil {
				st.placeholders[i].err = ie
			}
		}
	case opDeleteMachines:
		ie := instanceError(err, fmt.Sprintf("deleting the machine from agent pool %s failed", st.ref))
		// The next machine list tells which were deleted anyway.
		for _, name := range o.machines {
			if _, ok := st.deleting[name]; ok {
				st.failedDeletes[name] = ie
			}
		}
	}
}

func (st *poolState) removeOp(o *opState) {
	for i, x := range st.ops {
		if x == o {
			st.ops = append(st.ops[:i], st.ops[i+1:]...)
			return
		}
	}
}

// knownScaleSet says whether the pool has machines of known scale sets
// (known), and whether v is in one of them (ours); the resource group is
// compared case-insensitively, as ARM does.
func (st *poolState) knownScaleSet(v vmID) (known, ours bool) {
	for _, m := range st.machines {
		if !m.parsed {
			continue
		}
		known = true
		if strings.EqualFold(m.vm.scaleSet, v.scaleSet) && strings.EqualFold(m.vm.resourceGroup, v.resourceGroup) &&
			strings.EqualFold(m.vm.subscription, v.subscription) {
			return true, true
		}
	}
	return known, false
}

func newPoolState(ref poolRef) *poolState {
	return &poolState{
		ref: ref, deleting: map[string]time.Time{}, machineErrs: map[string]*cloudprovider.InstanceError{},
		failedDeletes: map[string]*cloudprovider.InstanceError{},
		byKey:         map[string]int{},
	}
}

// cached says the pool was read at least once (or found missing).
func (st *poolState) cached() bool {
	return st.known && (!st.found || (st.ap != nil && !st.machinesAt.IsZero()))
}

// placeholderID makes a placeholder id unique in the pool and across
// restarts of the process (nonce).
func placeholderID(ref poolRef, nonce string, seq uint64) string {
	return placeholderPrefixOf(ref) + nonce + "-" + strconv.FormatUint(seq, 10)
}
