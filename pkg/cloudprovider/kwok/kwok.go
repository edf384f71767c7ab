package kwok

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
)

const (
	// AnnotationNode makes kwok simulate a Node (value AnnotationNodeValue).
	AnnotationNode      = "kwok.x-k8s.io/node"
	AnnotationNodeValue = "fake"
	// LabelType=kwok is the label kwok's own tooling puts on its nodes.
	LabelType      = "type"
	LabelTypeValue = "kwok"
	// ProviderIDPrefix starts every provider id: kwok://<pool>/<node>.
	ProviderIDPrefix = "kwok://"

	// pendingTTL bounds how long a created Node that the cache has not shown
	// yet counts as "creating"; the cache lags by far less.
	pendingTTL = 2 * time.Minute
	// maxPoolPrefix keeps <pool>-<5 random> within 63 characters, the limit
	// of the kubernetes.io/hostname label value.
	maxPoolPrefix = 57
)

// Platform creates and deletes kwok Nodes. Writes go to the API server;
// reads come from reader, normally an informer cache. Because the cache lags
// behind writes, Platform remembers the Nodes it created that the cache does
// not show yet (listed as creating) and those it deleted that the cache
// still shows (listed as deleting).
type Platform struct {
	client client.Client
	reader client.Reader
	now    func() time.Time
	// bootDelay is how long a new instance boots before its Node appears
	// (WithBootDelay); meanwhile it is listed as creating, as a cloud's is.
	bootDelay time.Duration

	mu       sync.Mutex
	pending  map[string]map[string]time.Time // pool → node → created at
	deleting map[string]map[string]bool      // pool → node
	// booting are instances whose Node is not created yet: pool → node →
	// the timer that creates it.
	booting map[string]map[string]*time.Timer
}

// Option configures a Platform.
type Option func(*Platform)

// WithBootDelay makes a new instance's Node appear only d after Create, the
// way a cloud VM registers a minute or so after it is asked for. The
// autoscaler then sees the instance as creating (an upcoming node) instead
// of a Node that exists at once but is not Ready yet, for which it would buy
// more. Instances still booting live only in this process's memory.
func WithBootDelay(d time.Duration) Option { return func(p *Platform) { p.bootDelay = d } }

var (
	_ cloudprovider.Platform         = (*Platform)(nil)
	_ cloudprovider.NodeTemplater    = (*Platform)(nil)
	_ cloudprovider.ProviderIDMapper = (*Platform)(nil)
)

// New returns a kwok platform writing through c and reading Nodes through
// reader: a *cloudprovider.PoolNodes in carve-cloudprovider, so that a
// pool's Nodes are read without scanning or copying the cluster's (see
// cloudprovider.PoolNodesOf).
func New(c client.Client, reader client.Reader, opts ...Option) *Platform {
	p := &Platform{
		client: c, reader: reader, now: time.Now,
		pending: map[string]map[string]time.Time{}, deleting: map[string]map[string]bool{},
		booting: map[string]map[string]*time.Timer{},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// ProviderID is the provider id of node in pool.
func ProviderID(pool, node string) string { return ProviderIDPrefix + pool + "/" + node }

// ParseProviderID splits a kwok provider id into pool and node.
func ParseProviderID(id string) (pool, node string, ok bool) {
	rest, found := strings.CutPrefix(id, ProviderIDPrefix)
	if !found {
		return "", "", false
	}
	pool, node, found = strings.Cut(rest, "/")
	if !found || pool == "" || node == "" || strings.Contains(node, "/") {
		return "", "", false
	}
	return pool, node, true
}

// PoolForProviderID implements cloudprovider.ProviderIDMapper.
func (p *Platform) PoolForProviderID(id string) (string, bool) {
	pool, _, ok := ParseProviderID(id)
	return pool, ok
}

// TemplateNode is the Node Create makes for pool: the pool's template plus
// kwok's annotation and label and the provider id.
func (p *Platform) TemplateNode(pool *carvev1.NodePool, name string) *corev1.Node {
	node := cloudprovider.NodeFromTemplate(pool, name)
	node.Labels[LabelType] = LabelTypeValue
	node.Annotations = map[string]string{AnnotationNode: AnnotationNodeValue}
	node.Spec.ProviderID = ProviderID(pool.Name, name)
	return node
}

func nodeName(pool string) string {
	prefix := pool
	if len(prefix) > maxPoolPrefix {
		prefix = strings.TrimRight(prefix[:maxPoolPrefix], "-.")
	}
	return prefix + "-" + utilrand.String(5)
}

// Create makes n Nodes for pool, one after the other; Nodes made before an
// error stay.
func (p *Platform) Create(ctx context.Context, pool *carvev1.NodePool, n int) error {
	for i := range n {
		if err := p.createOne(ctx, pool); err != nil {
			return fmt.Errorf("creating node %d of %d for node group %s: %w", i+1, n, pool.Name, err)
		}
	}
	return nil
}

func (p *Platform) createOne(ctx context.Context, pool *carvev1.NodePool) error {
	if p.bootDelay > 0 {
		p.boot(pool)
		return nil
	}
	for range 3 { // a random name may collide; try another
		node := p.TemplateNode(pool, nodeName(pool.Name))
		p.mu.Lock()
		setOf(p.pending, pool.Name)[node.Name] = p.now()
		p.mu.Unlock()
		err := p.client.Create(ctx, node)
		if err == nil {
			return nil
		}
		p.mu.Lock()
		delete(p.pending[pool.Name], node.Name)
		p.mu.Unlock()
		if !apierrors.IsAlreadyExists(err) {
			return classify(err)
		}
	}
	return cloudprovider.Errorf(cloudprovider.ErrTransient, "three random node names were taken")
}

// boot starts an instance whose Node is created after the boot delay. It
// is pending (listed as creating) from now; pendingTTL counts from when its
// Node is created.
func (p *Platform) boot(pool *carvev1.NodePool) {
	node := p.TemplateNode(pool, nodeName(pool.Name))
	p.mu.Lock()
	defer p.mu.Unlock()
	setOf(p.pending, pool.Name)[node.Name] = p.now().Add(p.bootDelay)
	setOf(p.booting, pool.Name)[node.Name] = time.AfterFunc(p.bootDelay, func() {
		p.mu.Lock()
		_, still := p.booting[pool.Name][node.Name]
		delete(p.booting[pool.Name], node.Name)
		p.mu.Unlock()
		if !still {
			return // deleted while it booted
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.client.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
			p.mu.Lock()
			delete(p.pending[pool.Name], node.Name)
			p.mu.Unlock()
		}
	})
}

// Delete deletes the Nodes with the given ids; ids of Nodes already gone are
// fine, and an instance still booting never gets its Node.
func (p *Platform) Delete(ctx context.Context, pool *carvev1.NodePool, ids []string) error {
	for _, id := range ids {
		poolName, name, ok := ParseProviderID(id)
		if !ok || poolName != pool.Name {
			return cloudprovider.Errorf(cloudprovider.ErrInvalid, "deleting %q from node group %s: not a kwok provider id of that group (want %s)", id, pool.Name, ProviderID(pool.Name, "<node>"))
		}
		p.mu.Lock()
		delete(p.pending[pool.Name], name)
		if t, ok := p.booting[pool.Name][name]; ok {
			t.Stop()
			delete(p.booting[pool.Name], name)
			p.mu.Unlock()
			continue
		}
		setOf(p.deleting, pool.Name)[name] = true
		p.mu.Unlock()
		node := &corev1.Node{}
		node.Name = name
		if err := p.client.Delete(ctx, node); err != nil && !apierrors.IsNotFound(err) {
			p.mu.Lock()
			delete(p.deleting[pool.Name], name)
			p.mu.Unlock()
			return fmt.Errorf("deleting node %s: %w", name, classify(err))
		}
	}
	return nil
}

// Instances lists the pool's Nodes (those with its kwok provider id) and the
// Nodes created but not yet in the cache, in no particular order.
func (p *Platform) Instances(ctx context.Context, pool *carvev1.NodePool) ([]cloudprovider.Instance, error) {
	nodes, err := cloudprovider.PoolNodesOf(ctx, p.reader, pool.Name)
	if err != nil {
		return nil, classify(err)
	}
	out := make([]cloudprovider.Instance, 0, len(nodes))
	p.each(pool, nodes, func(in cloudprovider.Instance) { out = append(out, in) })
	return out, nil
}

// TargetSize counts the pool's Nodes that are not being deleted, plus those
// created but not yet in the cache.
func (p *Platform) TargetSize(ctx context.Context, pool *carvev1.NodePool) (int32, error) {
	nodes, err := cloudprovider.PoolNodesOf(ctx, p.reader, pool.Name)
	if err != nil {
		return 0, classify(err)
	}
	var n int32
	p.each(pool, nodes, func(in cloudprovider.Instance) {
		if in.State != cloudprovider.StateDeleting {
			n++
		}
	})
	return n, nil
}

// each calls fn with each of the pool's instances: its kwok Nodes among
// nodes (the Nodes labelled with the pool), then the Nodes created but not
// yet seen. On the way it forgets the created Nodes that nodes now show, and
// the deleted ones they no longer show. The autoscaler asks for every
// pool's instances and target size in every loop; nodes come from
// cloudprovider.PoolNodes, and nothing here allocates per Node.
func (p *Platform) each(pool *carvev1.NodePool, nodes []cloudprovider.PoolNode, fn func(cloudprovider.Instance)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pending, deleting := p.pending[pool.Name], p.deleting[pool.Name]
	var seen map[string]bool
	if len(deleting) > 0 {
		seen = make(map[string]bool, len(deleting))
	}
	for _, n := range nodes {
		if poolName, _, ok := ParseProviderID(n.ProviderID); !ok || poolName != pool.Name {
			continue // labelled with the pool, but not one of ours
		}
		delete(pending, n.Name)
		state := cloudprovider.StateRunning
		if n.Deleting || deleting[n.Name] {
			state = cloudprovider.StateDeleting
			if seen != nil {
				seen[n.Name] = true
			}
		}
		fn(cloudprovider.Instance{ID: n.ProviderID, State: state})
	}
	for name := range deleting {
		if !seen[name] {
			delete(deleting, name) // gone from the cache: deletion done
		}
	}
	now := p.now()
	for name, at := range pending {
		if _, booting := p.booting[pool.Name][name]; !booting && now.Sub(at) > pendingTTL {
			delete(pending, name) // created, never seen: deleted by someone else
			continue
		}
		fn(cloudprovider.Instance{ID: ProviderID(pool.Name, name), State: cloudprovider.StateCreating})
	}
}

func setOf[V any](m map[string]map[string]V, pool string) map[string]V {
	s, ok := m[pool]
	if !ok {
		s = map[string]V{}
		m[pool] = s
	}
	return s
}

// classify gives an API server error its kind.
func classify(err error) error {
	var kind error
	switch {
	case apierrors.IsNotFound(err):
		kind = cloudprovider.ErrNotFound
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		kind = cloudprovider.ErrInvalid
	case apierrors.IsTooManyRequests(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsConflict(err):
		kind = cloudprovider.ErrTransient
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota"):
		kind = cloudprovider.ErrQuotaExceeded
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	default:
		return err
	}
	return cloudprovider.Errorf(kind, "%w", err)
}
