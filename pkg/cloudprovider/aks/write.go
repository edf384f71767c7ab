package aks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	"k8s.io/klog/v2"

	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// refuse says why carve must not change an agent pool, nil if it may.
func refuse(ref poolRef, ap *armcontainerservice.AgentPool) error {
	if ap == nil || ap.Properties == nil || ap.Properties.Count == nil {
		return cloudprovider.Errorf(cloudprovider.ErrInvalid, "agent pool %s has no count", ref)
	}
	pr := ap.Properties
	if deref(pr.EnableAutoScaling) {
		return cloudprovider.Errorf(cloudprovider.ErrRefused, "agent pool %s has AKS's own cluster autoscaler enabled (enableAutoScaling): two autoscalers would fight over its count; disable it (az aks nodepool update --disable-cluster-autoscaler) or take the pool out of carve", ref)
	}
	if t := deref(pr.Type); t != "" && t != armcontainerservice.AgentPoolTypeVirtualMachineScaleSets {
		return cloudprovider.Errorf(cloudprovider.ErrInvalid, "agent pool %s is of type %s: carve scales VirtualMachineScaleSets agent pools only", ref, t)
	}
	return nil
}

// writable is a copy of ap without its read-only fields, to PUT back.
func writable(ap *armcontainerservice.AgentPool) armcontainerservice.AgentPool {
	props := *ap.Properties
	props.ETag, props.ProvisioningState, props.CurrentOrchestratorVersion, props.NodeImageVersion = nil, nil, nil, nil
	return armcontainerservice.AgentPool{Properties: &props}
}

func hasPlaceholder(ps []placeholder, id string) bool {
	return slices.ContainsFunc(ps, func(p placeholder) bool { return p.id == id })
}

func removePlaceholder(ps []placeholder, id string) []placeholder {
	for i, x := range ps {
		if x.id == id {
			return append(ps[:i], ps[i+1:]...)
		}
	}
	return ps
}

// forgetLocked drops the given placeholders: failed ones beyond the count
// at no cost, the others lowering the count by as many, which it returns.
// Ids no longer listed (backed by a machine by now, or forgotten) are
// skipped. p.mu held.
func (p *Platform) forgetLocked(st *poolState, ids []string) int32 {
	var k int32
	for _, id := range ids {
		switch {
		case hasPlaceholder(st.extras, id):
			st.extras = removePlaceholder(st.extras, id)
		case hasPlaceholder(st.placeholders, id):
			st.placeholders = removePlaceholder(st.placeholders, id)
			st.count--
			k++
		}
	}
	return k
}

// settle polls carve's running operations on the pool and says whether
// none is left (so that a change may be sent). st.writeMu held.
func (p *Platform) settle(ctx context.Context, st *poolState) bool {
	p.mu.Lock()
	ops := slices.Clone(st.ops)
	p.mu.Unlock()
	for _, o := range ops {
		p.pollOp(ctx, st.ref, o)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(st.ops) == 0
}

// flush sends the pool's queued changes if no operation of carve's runs on
// it: first the machine deletions, then (once those ended) the count
// change. own is the count change of the caller and ownDeletes whether the
// queued deletions are the caller's: a failure of those is undone and
// returned. A failure of changes queued earlier (acknowledged already) is
// shown on their instances instead; a transient one leaves them queued for
// the next flush. st.writeMu held.
func (p *Platform) flush(ctx context.Context, st *poolState, own int32, ownDeletes bool) error {
	if !p.settle(ctx, st) {
		klog.FromContext(ctx).V(2).Info("Queued an AKS agent pool change behind a running operation", "agentPool", st.ref.String())
		return nil
	}
	p.mu.Lock()
	deletes := st.pendingDeletes
	st.pendingDeletes = nil
	p.mu.Unlock()
	if len(deletes) > 0 {
		if err := p.sendDeletes(ctx, st, deletes); err != nil {
			p.mu.Lock()
			p.failDeletesLocked(st, deletes, err, ownDeletes)
			p.mu.Unlock()
			if ownDeletes {
				return err
			}
			klog.FromContext(ctx).Info("Sending queued AKS machine deletions failed", "agentPool", st.ref.String(), "err", err)
		}
		// A count change waits for the deletion to end (AKS runs one
		// operation per pool at a time).
		if p.mu.Lock(); len(st.ops) > 0 {
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
	}
	p.mu.Lock()
	delta := st.pendingDelta
	st.pendingDelta = 0
	p.mu.Unlock()
	if delta == 0 {
		return nil
	}
	err := p.sendCount(ctx, st, delta)
	if err == nil {
		return nil
	}
	p.mu.Lock()
	p.failCountLocked(st, delta, own, err)
	p.mu.Unlock()
	if own != 0 {
		return err
	}
	klog.FromContext(ctx).Info("Sending a queued AKS agent pool count change failed", "agentPool", st.ref.String(), "err", err)
	return nil
}

// failCountLocked undoes a count change of delta that failed with err: the
// caller's part (own) silently, the rest queued earlier by retrying it
// later (a transient error) or by showing the error on its placeholders.
// p.mu held.
func (p *Platform) failCountLocked(st *poolState, delta, own int32, err error) {
	if (delta > 0) != (own > 0) || own == 0 {
		own = 0
	} else if delta > 0 {
		own = min(own, delta)
	} else {
		own = max(own, delta)
	}
	rest := delta - own
	st.count -= own
	// The caller's capacity was the newest asked for; reconcile drops the
	// newest placeholders first.
	switch {
	case rest == 0:
	case errors.Is(err, cloudprovider.ErrTransient):
		st.pendingDelta += rest
	case rest > 0:
		ie := instanceError(err, fmt.Sprintf("raising the count of agent pool %s failed", st.ref))
		n := int(rest)
		for i := len(st.placeholders) - int(own) - 1; i >= 0 && n > 0; i-- {
			if st.placeholders[i].err == nil {
				st.placeholders[i].err = ie
				n--
			}
		}
		// The failed capacity stays listed, with its error, until the
		// autoscaler deletes it (or a list shows the lower count: extras).
	default:
		st.count -= rest // lowering failed: the capacity stays
	}
	st.reconcile(p.now(), p.newPlaceholderID(st.ref))
}

// failDeletesLocked undoes deletions that could not be sent: the machines
// run again (with the error shown on them unless the caller gets it),
// or, for a transient error of deletions queued earlier, stay queued.
func (p *Platform) failDeletesLocked(st *poolState, names []string, err error, own bool) {
	if !own && errors.Is(err, cloudprovider.ErrTransient) {
		st.pendingDeletes = append(st.pendingDeletes, names...)
		return
	}
	ie := instanceError(err, fmt.Sprintf("deleting the machine from agent pool %s failed", st.ref))
	for _, name := range names {
		if _, ok := st.deleting[name]; ok {
			delete(st.deleting, name)
			st.count++
			if !own {
				st.machineErrs[name] = ie
			}
		}
	}
	st.reconcile(p.now(), p.newPlaceholderID(st.ref))
}

// sendDeletes calls deleteMachines and records the operation.
func (p *Platform) sendDeletes(ctx context.Context, st *poolState, names []string) error {
	var op operation
	start := p.now()
	err := p.call.Do(ctx, fmt.Sprintf("deleting machines %s of agent pool %s", strings.Join(names, ", "), st.ref), func(ctx context.Context) error {
		var err error
		op, err = p.cloud.deleteMachines(ctx, st.ref, names)
		return err
	})
	if err != nil {
		return err
	}
	klog.FromContext(ctx).V(2).Info("Deleting AKS machines", "agentPool", st.ref.String(), "machines", names)
	o := &opState{kind: opDeleteMachines, op: op, started: start, machines: names}
	// Asked before the operation is shared: a poller is not safe for
	// concurrent use, and a Refresh may poll it once it is in st.ops.
	immediate := op.done()
	p.mu.Lock()
	st.ops = append(st.ops, o)
	st.changedAt = p.now()
	p.mu.Unlock()
	if immediate {
		p.pollOp(ctx, st.ref, o) // answered at once: record how
	}
	return nil
}

// sendCount changes the agent pool's count by delta: a read-modify-write
// with If-Match, redone (through cloudcall) when AKS answers 412. A
// decrease is bounded by the machines running, listed afresh first, so
// that it never makes AKS delete a machine that came up meanwhile.
func (p *Platform) sendCount(ctx context.Context, st *poolState, delta int32) error {
	ref := st.ref
	floor := int32(0)
	if delta < 0 {
		start := p.now()
		ms, err := p.listMachines(ctx, ref)
		if err != nil {
			return err
		}
		p.mu.Lock()
		st.setMachines(ms, start)
		floor = st.running()
		p.mu.Unlock()
	}
	var (
		ap     *armcontainerservice.AgentPool
		op     operation
		target int32
	)
	start := p.now()
	what := fmt.Sprintf("changing the count of agent pool %s by %+d", ref, delta)
	err := p.call.Do(ctx, what, func(ctx context.Context) error {
		var err error
		if ap, err = p.cloud.getAgentPool(ctx, ref); err != nil {
			return err
		}
		if err := refuse(ref, ap); err != nil {
			return err
		}
		cur := *ap.Properties.Count
		target = max(cur+delta, min(cur, floor), 0)
		if target == cur {
			op = nil
			return nil
		}
		body := writable(ap)
		body.Properties.Count = &target
		op, err = p.cloud.putAgentPool(ctx, ref, body, ap.Properties.ETag)
		return err
	})
	if err != nil {
		if errors.Is(err, cloudprovider.ErrNotFound) {
			p.mu.Lock()
			st.known, st.found = true, false
			p.mu.Unlock()
		}
		return err
	}
	klog.FromContext(ctx).V(2).Info("Changed AKS agent pool count", "agentPool", ref.String(), "count", target)
	p.mu.Lock()
	st.observe(ap, start)
	st.count = target + st.pendingDelta
	st.changedAt = p.now()
	var o *opState
	immediate := op != nil && op.done() // before the operation is shared
	if op != nil {
		o = &opState{kind: opScale, op: op, started: start, count: target}
		st.ops = append(st.ops, o)
	}
	st.reconcile(p.now(), p.newPlaceholderID(ref))
	p.mu.Unlock()
	if immediate {
		p.pollOp(ctx, ref, o) // answered at once: record how
	}
	return nil
}
