package cloudprovider

import (
	"context"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// PoolNode is what the platforms read of one of a pool's Nodes.
type PoolNode struct {
	Name       string
	ProviderID string
	// Deleting says the Node has a deletionTimestamp.
	Deleting bool
}

func entryOf(n *corev1.Node) PoolNode {
	return PoolNode{Name: n.Name, ProviderID: n.Spec.ProviderID, Deleting: n.DeletionTimestamp != nil}
}

// PoolNodes is an informer cache that also keeps, for each pool (label
// carve.dev/node-pool), a PoolNode per Node, updated by the Node informer's
// events.
//
// The autoscaler asks for every pool's instances and target size in every
// loop. Listing a pool from the cache tests every Node of the cluster
// against a label selector, or, through a field index, copies each of the
// pool's Nodes; even reading the cached Nodes in place costs a few cache
// misses per Node, as they lie far apart in a large heap. With 2 000-node
// pools each of these costs a millisecond or more per call. Here a pool is
// one slice of small entries whose strings lie side by side, built once
// after each change that matters (a Node added, removed, or given another
// provider id or a deletionTimestamp; not status updates) and shared by the
// calls until the next (docs/benchmarks.md).
type PoolNodes struct {
	cache.Cache

	reg   toolscache.ResourceEventHandlerRegistration
	mu    sync.RWMutex
	pools map[string]*poolEntries
}

type poolEntries struct {
	byName map[string]PoolNode
	// list holds byName's entries; nil after a change, until the next
	// read builds it again. Never modified once built: readers share it.
	list []PoolNode
}

// NewPoolNodes groups the Nodes of c's Node informer by pool. Call it before
// c starts, or wait for HasSynced before reading.
func NewPoolNodes(ctx context.Context, c cache.Cache) (*PoolNodes, error) {
	p := &PoolNodes{Cache: c, pools: map[string]*poolEntries{}}
	inf, err := c.GetInformer(ctx, &corev1.Node{}, cache.BlockUntilSynced(false))
	if err != nil {
		return nil, fmt.Errorf("getting the Node informer: %w", err)
	}
	p.reg, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { p.move(nil, asNode(obj)) },
		UpdateFunc: func(old, obj any) { p.move(asNode(old), asNode(obj)) },
		DeleteFunc: func(obj any) { p.move(asNode(obj), nil) },
	})
	if err != nil {
		return nil, fmt.Errorf("watching Nodes by pool: %w", err)
	}
	return p, nil
}

// HasSynced says whether every Node the informer had at its start has been
// grouped.
func (p *PoolNodes) HasSynced() bool { return p.reg.HasSynced() }

func asNode(obj any) *corev1.Node {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	n, _ := obj.(*corev1.Node)
	return n
}

// move files a Node's new version (nil when deleted) in place of its old
// one (nil when added); its pool label may have changed.
func (p *PoolNodes) move(old, cur *corev1.Node) {
	p.mu.Lock()
	defer p.mu.Unlock()
	oldPool, curPool := "", ""
	if old != nil {
		oldPool = old.Labels[carvev1.LabelNodePool]
	}
	if cur != nil {
		curPool = cur.Labels[carvev1.LabelNodePool]
	}
	if old != nil && cur != nil && oldPool == curPool && oldPool != "" {
		if pe := p.pools[curPool]; pe != nil && pe.byName[cur.Name] == entryOf(cur) {
			return // a status update: nothing the platforms read
		}
	}
	if pe := p.pools[oldPool]; old != nil && pe != nil {
		delete(pe.byName, old.Name)
		pe.list = nil
		if len(pe.byName) == 0 {
			delete(p.pools, oldPool)
		}
	}
	if cur != nil && curPool != "" {
		pe := p.pools[curPool]
		if pe == nil {
			pe = &poolEntries{byName: map[string]PoolNode{}}
			p.pools[curPool] = pe
		}
		pe.byName[cur.Name] = entryOf(cur)
		pe.list = nil
	}
}

// NodesOf is pool's entries, in no order. The slice is shared: callers
// must not modify it.
func (p *PoolNodes) NodesOf(pool string) []PoolNode {
	p.mu.RLock()
	pe := p.pools[pool]
	stale := pe != nil && pe.list == nil
	var list []PoolNode
	if pe != nil {
		list = pe.list
	}
	p.mu.RUnlock()
	if !stale {
		return list
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pe = p.pools[pool]; pe == nil {
		return nil
	}
	if pe.list == nil {
		pe.list = compact(pe.byName)
	}
	return pe.list
}

// compact lists entries with their strings copied side by side into one
// allocation, so that reading them all touches as little memory as can be.
func compact(byName map[string]PoolNode) []PoolNode {
	size := 0
	for _, e := range byName {
		size += len(e.Name) + len(e.ProviderID)
	}
	var b strings.Builder
	b.Grow(size)
	list := make([]PoolNode, 0, len(byName))
	for _, e := range byName {
		b.WriteString(e.Name)
		b.WriteString(e.ProviderID)
		list = append(list, e)
	}
	all, off := b.String(), 0
	for i := range list {
		e := &list[i]
		e.Name, off = all[off:off+len(e.Name)], off+len(e.Name)
		e.ProviderID, off = all[off:off+len(e.ProviderID)], off+len(e.ProviderID)
	}
	return list
}

// PoolNodesOf is the Nodes labelled as pool's, in no order: PoolNodes'
// shared entries when r is one (callers must not modify them), else from a
// List by label (fake clients in tests).
func PoolNodesOf(ctx context.Context, r client.Reader, pool string) ([]PoolNode, error) {
	if p, ok := r.(*PoolNodes); ok {
		return p.NodesOf(pool), nil
	}
	nodes := &corev1.NodeList{}
	if err := r.List(ctx, nodes, client.MatchingLabels{carvev1.LabelNodePool: pool}); err != nil {
		return nil, fmt.Errorf("listing the nodes of node group %s: %w", pool, err)
	}
	out := make([]PoolNode, len(nodes.Items))
	for i := range nodes.Items {
		out[i] = entryOf(&nodes.Items[i])
	}
	return out, nil
}
