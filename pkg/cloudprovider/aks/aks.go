package aks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/cloudcall"
)

const (
	// defaultMachinesTTL bounds how long a pool's machine list is trusted
	// when nothing about the pool changed (a VM repaired or reimaged by
	// Azure keeps the agent pool as it was).
	defaultMachinesTTL = 5 * time.Minute
	// defaultConcurrency bounds the machine lists and operation polls one
	// Refresh runs at once.
	defaultConcurrency = 8
	// extrasTTL bounds how long a failed placeholder beyond the count is
	// shown; the autoscaler deletes it long before (it backs off a failed
	// scale-up within a loop or two).
	extrasTTL = 15 * time.Minute
	// deletingTTL bounds how long a machine carve deleted is listed as
	// deleting while lists still show it and no operation says why.
	deletingTTL = 30 * time.Minute
)

// Options configure a Platform. The zero value talks to Azure's public
// cloud with azidentity's default credential (workload identity in a
// cluster).
type Options struct {
	// Credential authenticates to Azure; nil means
	// azidentity.NewDefaultAzureCredential.
	Credential azcore.TokenCredential
	// ClientOptions configure the SDK clients: the cloud (its
	// ResourceManager endpoint), the transport. The backend turns the
	// SDK's retries and resource provider registration off whatever they
	// say: cloudcall retries, and carve's identity needs no right to
	// register providers.
	ClientOptions arm.ClientOptions
	// Policy bounds every call and its retries (cloudcall defaults).
	Policy cloudcall.Policy
	// Observe, when set, is told of every call attempt (metrics, tests).
	Observe func(op string, attempt int, err error)
	// MachinesTTL bounds how long an unchanged pool's machine list is
	// trusted (default 5 minutes).
	MachinesTTL time.Duration
	// Concurrency bounds the calls one Refresh runs at once (default 8).
	Concurrency int
}

// Platform scales AKS agent pools. See the package doc.
type Platform struct {
	cloud       cloud
	call        *cloudcall.Caller
	now         func() time.Time
	machinesTTL time.Duration
	concurrency int
	nonce       string

	mu    sync.Mutex
	pools map[poolRef]*poolState // by poolRef.key()
	seq   uint64
}

var (
	_ cloudprovider.Platform        = (*Platform)(nil)
	_ cloudprovider.Refresher       = (*Platform)(nil)
	_ cloudprovider.TemplateChecker = (*Platform)(nil)
	_ cloudprovider.NodeTemplater   = (*Platform)(nil)
	_ cloudprovider.Refuser         = (*Platform)(nil)
)

// New returns an AKS platform.
func New(o Options) (*Platform, error) {
	cred := o.Credential
	if cred == nil {
		c, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("creating the default Azure credential: %w", err)
		}
		cred = c
	}
	opts := o.ClientOptions
	opts.Retry.MaxRetries = -1 // cloudcall retries
	opts.DisableRPRegistration = true
	p := &Platform{
		cloud: &sdkCloud{cred: cred, opts: opts, factories: map[string]*armcontainerservice.ClientFactory{}},
		call:  &cloudcall.Caller{Cloud: "Azure", Classify: classify, Policy: o.Policy, Observe: o.Observe},
		now:   time.Now, machinesTTL: o.MachinesTTL, concurrency: o.Concurrency,
		nonce: strconv.FormatInt(time.Now().UnixNano(), 36),
		pools: map[poolRef]*poolState{},
	}
	if p.machinesTTL <= 0 {
		p.machinesTTL = defaultMachinesTTL
	}
	if p.concurrency <= 0 {
		p.concurrency = defaultConcurrency
	}
	return p, nil
}

// refOf is the agent pool a NodePool names.
func refOf(pool *carvev1.NodePool) (poolRef, error) {
	a := pool.Spec.Platform.AKS
	if a == nil || a.SubscriptionID == "" || a.ResourceGroup == "" || a.Cluster == "" || a.AgentPool == "" {
		return poolRef{}, cloudprovider.Errorf(cloudprovider.ErrInvalid, "node group %s: spec.platform.aks needs subscriptionID, resourceGroup, cluster and agentPool", pool.Name)
	}
	return poolRef{clusterRef{a.SubscriptionID, a.ResourceGroup, a.Cluster}, a.AgentPool}, nil
}

func (p *Platform) newPlaceholderID(ref poolRef) func() string {
	return func() string {
		p.seq++
		return placeholderID(ref, p.nonce, p.seq)
	}
}

// stateLocked returns the pool's state, creating an empty one; p.mu held.
func (p *Platform) stateLocked(ref poolRef) *poolState {
	st, ok := p.pools[ref.key()]
	if !ok {
		st = newPoolState(ref)
		p.pools[ref.key()] = st
	}
	return st
}

// cached runs fn on the pool's state, reading the pool from Azure first
// when it is not cached yet (an agent pool GET and a machines list). fn
// runs with p.mu held and must not call Azure.
func (p *Platform) cached(ctx context.Context, ref poolRef, fn func(st *poolState) error) error {
	p.mu.Lock()
	st := p.stateLocked(ref)
	if st.cached() {
		defer p.mu.Unlock()
		if !st.found {
			return notFound(ref)
		}
		return fn(st)
	}
	p.mu.Unlock()
	if err := p.load(ctx, ref); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !st.found {
		return notFound(ref)
	}
	return fn(st)
}

func notFound(ref poolRef) error {
	return cloudprovider.Errorf(cloudprovider.ErrNotFound, "agent pool %s does not exist (or its cluster does not)", ref)
}

// load reads a pool not cached yet: the agent pool, then its machines.
func (p *Platform) load(ctx context.Context, ref poolRef) error {
	start := p.now()
	var ap *armcontainerservice.AgentPool
	err := p.call.Do(ctx, "reading agent pool "+ref.String(), func(ctx context.Context) error {
		var err error
		ap, err = p.cloud.getAgentPool(ctx, ref)
		return err
	})
	if errors.Is(err, cloudprovider.ErrNotFound) {
		p.mu.Lock()
		st := p.stateLocked(ref)
		st.known, st.found = true, false
		p.mu.Unlock()
		return notFound(ref)
	}
	if err != nil {
		return err
	}
	ms, err := p.listMachines(ctx, ref)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stateLocked(ref)
	if st.cached() && st.found {
		return nil // a concurrent read or change got there first and is newer
	}
	st.observe(ap, start)
	st.setMachines(ms, start)
	st.reconcile(p.now(), p.newPlaceholderID(ref))
	return nil
}

func (p *Platform) listMachines(ctx context.Context, ref poolRef) ([]*armcontainerservice.Machine, error) {
	var ms []*armcontainerservice.Machine
	err := p.call.Do(ctx, "listing machines of agent pool "+ref.String(), func(ctx context.Context) error {
		var err error
		ms, err = p.cloud.listMachines(ctx, ref)
		return err
	})
	return ms, err
}

// Instances lists the pool's machines (running, or deleting when carve
// deleted them) and placeholders for the count not yet backed by a
// machine, from the cache.
func (p *Platform) Instances(ctx context.Context, pool *carvev1.NodePool) ([]cloudprovider.Instance, error) {
	ref, err := refOf(pool)
	if err != nil {
		return nil, err
	}
	var out []cloudprovider.Instance
	err = p.cached(ctx, ref, func(st *poolState) error {
		out = st.instances()
		return nil
	})
	return out, err
}

// TargetSize is the agent pool's count, from the cache.
func (p *Platform) TargetSize(ctx context.Context, pool *carvev1.NodePool) (int32, error) {
	ref, err := refOf(pool)
	if err != nil {
		return 0, err
	}
	var n int32
	err = p.cached(ctx, ref, func(st *poolState) error {
		n = st.target()
		return nil
	})
	return n, err
}

// Create raises the agent pool's count by n. The change is sent at once
// (a read-modify-write of the agent pool: GET, then PUT with If-Match on
// its ETag, redone when the pool changed in between) unless an operation of
// carve's on the pool is still running, which AKS would refuse (409): then
// it is queued, acknowledged, and sent by the Refresh that sees the
// operation end. Either way the new capacity is listed as creating at once.
func (p *Platform) Create(ctx context.Context, pool *carvev1.NodePool, n int) error {
	ref, err := refOf(pool)
	if err != nil {
		return err
	}
	if n <= 0 {
		return cloudprovider.Errorf(cloudprovider.ErrInvalid, "raising agent pool %s: n must be positive, got %d", ref, n)
	}
	var st *poolState
	if err := p.cached(ctx, ref, func(s *poolState) error {
		st = s
		return refuse(ref, s.ap)
	}); err != nil {
		return err
	}
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	p.mu.Lock()
	st.pendingDelta += int32(n)
	st.count += int32(n)
	st.reconcile(p.now(), p.newPlaceholderID(ref))
	p.mu.Unlock()
	return p.flush(ctx, st, int32(n), false)
}

// Delete deletes the given machines with one deleteMachines call (AKS
// lowers the count by as many) and forgets the given placeholders by
// lowering the count (or a change still queued). Machines already gone or
// being deleted are skipped; an id that is not one of the agent pool's is
// ErrInvalid and nothing is changed. Like Create, the change is queued while
// an operation of carve's on the pool runs.
func (p *Platform) Delete(ctx context.Context, pool *carvev1.NodePool, ids []string) error {
	ref, err := refOf(pool)
	if err != nil {
		return err
	}
	var st *poolState
	if err := p.cached(ctx, ref, func(s *poolState) error {
		st = s
		return refuse(ref, s.ap)
	}); err != nil {
		return err
	}
	var (
		machines     []vmID
		placeholders []string
		prefix       = placeholderPrefixOf(ref)
	)
	for _, id := range ids {
		if strings.HasPrefix(id, placeholderPrefix) {
			if !strings.HasPrefix(id, prefix) {
				return cloudprovider.Errorf(cloudprovider.ErrInvalid, "deleting %q from agent pool %s: a placeholder of another agent pool", id, ref)
			}
			placeholders = append(placeholders, id)
			continue
		}
		v, err := parseProviderID(id)
		if err != nil {
			return cloudprovider.Errorf(cloudprovider.ErrInvalid, "deleting %q from agent pool %s: %v", id, ref, err)
		}
		if !strings.EqualFold(v.subscription, ref.subscription) {
			return cloudprovider.Errorf(cloudprovider.ErrInvalid, "deleting %q from agent pool %s: the VM is in subscription %s, the agent pool in %s", id, ref, v.subscription, ref.subscription)
		}
		machines = append(machines, v)
	}
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	names, err := p.resolve(ctx, ref, machines)
	if err != nil {
		return err
	}
	p.mu.Lock()
	for _, name := range names {
		st.deleting[name] = p.now()
		delete(st.machineErrs, name)
	}
	st.pendingDeletes = append(st.pendingDeletes, names...)
	st.count = max(0, st.count-int32(len(names)))
	k := p.forgetLocked(st, placeholders)
	st.pendingDelta -= k
	st.reconcile(p.now(), p.newPlaceholderID(ref))
	p.mu.Unlock()
	return p.flush(ctx, st, -k, len(names) > 0)
}

// resolve maps VMs to the names of the agent pool's machines, leaving out
// machines already gone or being deleted. A VM not in the cached list is
// looked up in a fresh one (one call) if its scale set is the pool's; a VM
// of another scale set is ErrInvalid.
func (p *Platform) resolve(ctx context.Context, ref poolRef, vms []vmID) ([]string, error) {
	p.mu.Lock()
	names, missing, err := lookupMachines(p.stateLocked(ref), vms)
	p.mu.Unlock()
	if err != nil || len(missing) == 0 {
		return names, err
	}
	// Listed before the machine came up, or already gone: a fresh list says.
	start := p.now()
	ms, err := p.listMachines(ctx, ref)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stateLocked(ref)
	st.setMachines(ms, start)
	st.reconcile(p.now(), p.newPlaceholderID(ref))
	more, _, err := lookupMachines(st, missing)
	if err != nil {
		return nil, err
	}
	for _, n := range more {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names, nil // the VMs still missing are gone
}

// lookupMachines finds vms among the pool's cached machines: the names of
// those found and not being deleted, the VMs not found that are in the
// pool's scale set, or ErrInvalid for a VM of another scale set.
func lookupMachines(st *poolState, vms []vmID) (names []string, missing []vmID, err error) {
	for _, v := range vms {
		if i, ok := st.byKey[v.key()]; ok {
			m := st.machines[i]
			if _, deleting := st.deleting[m.name]; !deleting && !slices.Contains(names, m.name) {
				names = append(names, m.name)
			}
			continue
		}
		known, ours := st.knownScaleSet(v)
		if !ours && (known || !scaleSetOfPool(v.scaleSet, st.ref.agentPool)) {
			return nil, nil, cloudprovider.Errorf(cloudprovider.ErrInvalid, "deleting VM %s of scale set %s (resource group %s) from agent pool %s: not a machine of that agent pool", v.instance, v.scaleSet, v.resourceGroup, st.ref)
		}
		missing = append(missing, v)
	}
	return names, missing, nil
}
