package aks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	"k8s.io/klog/v2"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// opTTL bounds how long carve waits for one operation; AKS ends its own
// long before (a scale times out in well under an hour).
const opTTL = time.Hour

// Refresh reads every pool's agent pool with one list per cluster, polls
// the operations carve waits for on pools AKS no longer reports busy, and
// lists the machines only of pools that changed, have capacity being
// created or deleted, had an operation end, or whose list is older than
// MachinesTTL. A cluster that does not exist marks its pools missing (their
// calls then return ErrNotFound) without failing the refresh; any other
// failure keeps the pools' previous state and is returned.
func (p *Platform) Refresh(ctx context.Context, pools []*carvev1.NodePool) error {
	start := p.now()
	var (
		clusters  []clusterRef
		byCluster = map[clusterRef][]poolRef{}
		errs      []error
	)
	for _, pool := range pools {
		ref, err := refOf(pool)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ck := ref.clusterRef.key()
		if _, ok := byCluster[ck]; !ok {
			clusters = append(clusters, ck)
		}
		if !slices.ContainsFunc(byCluster[ck], func(r poolRef) bool { return r.key() == ref.key() }) {
			byCluster[ck] = append(byCluster[ck], ref)
		}
	}
	var work []poolRef
	for _, ck := range clusters {
		refs := byCluster[ck]
		c := refs[0].clusterRef
		var aps []*armcontainerservice.AgentPool
		err := p.call.Do(ctx, "listing agent pools of cluster "+c.String(), func(ctx context.Context) error {
			var err error
			aps, err = p.cloud.listAgentPools(ctx, c)
			return err
		})
		if err != nil && !errors.Is(err, cloudprovider.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		listed := make(map[string]*armcontainerservice.AgentPool, len(aps))
		for _, ap := range aps {
			if ap != nil && ap.Name != nil {
				listed[strings.ToLower(*ap.Name)] = ap
			}
		}
		p.mu.Lock()
		for _, ref := range refs {
			st := p.stateLocked(ref)
			ap, ok := listed[strings.ToLower(ref.agentPool)]
			if !ok {
				st.known, st.found = true, false
				continue
			}
			st.observe(ap, start)
			work = append(work, ref)
		}
		p.mu.Unlock()
	}

	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		sem   = make(chan struct{}, p.concurrency)
	)
	for _, ref := range work {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := p.refreshPool(ctx, ref); err != nil {
				errMu.Lock()
				errs = append(errs, err)
				errMu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// refreshPool polls the pool's operations when AKS no longer reports the
// pool busy, then lists its machines if needed.
func (p *Platform) refreshPool(ctx context.Context, ref poolRef) error {
	p.mu.Lock()
	st := p.stateLocked(ref)
	var poll []*opState
	now := p.now()
	for _, o := range slices.Clone(st.ops) {
		if now.Sub(o.started) > opTTL {
			klog.FromContext(ctx).Info("Gave up waiting for an AKS operation", "agentPool", ref.String(), "operation", o.kind.String(), "started", o.started)
			st.removeOp(o)
			st.changedAt = now
			continue
		}
		// The list says whether AKS still works on the pool: while it does,
		// polling would only say "in progress".
		if !busy(st.provisioningState()) {
			poll = append(poll, o)
		}
	}
	p.mu.Unlock()
	ended := false
	for _, o := range poll {
		if p.pollOp(ctx, ref, o) {
			ended = true
		}
	}
	p.mu.Lock()
	queued := len(st.ops) == 0 && (st.pendingDelta != 0 || len(st.pendingDeletes) > 0)
	p.mu.Unlock()
	if queued && st.writeMu.TryLock() {
		// Changes queued behind the operation that just ended; a change
		// call running now sends them itself.
		_ = p.flush(ctx, st, 0, false)
		st.writeMu.Unlock()
	}
	p.mu.Lock()
	need := ended || st.needsMachines(p.now(), p.machinesTTL)
	p.mu.Unlock()
	if !need {
		return nil
	}
	start := p.now()
	ms, err := p.listMachines(ctx, ref)
	if err != nil {
		if errors.Is(err, cloudprovider.ErrNotFound) {
			p.mu.Lock()
			st.known, st.found = true, false
			p.mu.Unlock()
			return nil
		}
		return err
	}
	p.mu.Lock()
	st.setMachines(ms, start)
	st.reconcile(p.now(), p.newPlaceholderID(ref))
	p.mu.Unlock()
	return nil
}

// pollOp asks Azure once how an operation is doing (unless it is known to
// be done) and, if it ended, records how. It reports whether it ended. A
// poll already running elsewhere is left to finish there.
func (p *Platform) pollOp(ctx context.Context, ref poolRef, o *opState) bool {
	if !o.polling.TryLock() {
		return false
	}
	defer o.polling.Unlock()
	log := klog.FromContext(ctx)
	if !o.op.done() {
		err := p.call.Do(ctx, fmt.Sprintf("polling the %s of agent pool %s", o.kind, ref), func(ctx context.Context) error {
			return o.op.poll(ctx)
		})
		if err != nil {
			if errors.Is(err, cloudprovider.ErrNotFound) {
				// The operation's status is gone: stop waiting; the lists say
				// what happened.
				p.endOp(ref, o, nil)
				return true
			}
			log.Info("Polling an AKS operation failed; trying again in the next refresh", "agentPool", ref.String(), "err", err)
			return false
		}
		if !o.op.done() {
			return false
		}
	}
	err := o.op.result(ctx)
	var re *azcore.ResponseError
	if err != nil && (!errors.As(err, &re) || retriableStatus(re.StatusCode)) {
		// The operation ended but reading its result failed (the final GET
		// of a PUT): read it again in the next refresh.
		log.Info("Reading the result of an AKS operation failed; trying again in the next refresh", "agentPool", ref.String(), "err", err)
		return false
	}
	if err != nil {
		log.Info("AKS operation failed", "agentPool", ref.String(), "operation", o.kind.String(), "err", err)
	}
	p.endOp(ref, o, err)
	return true
}

// retriableStatus are the statuses the SDK's pollers treat as not final.
func retriableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// endOp records that an operation ended, with err if it failed.
func (p *Platform) endOp(ref poolRef, o *opState, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stateLocked(ref)
	if !slices.Contains(st.ops, o) {
		return
	}
	st.removeOp(o)
	// Lists started before now may predate the end of the operation.
	st.changedAt = p.now()
	if err != nil {
		st.failOp(o, err)
	}
	st.reconcile(p.now(), p.newPlaceholderID(ref))
}
