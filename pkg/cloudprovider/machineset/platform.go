package machineset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/cloudcall"
)

const (
	// markedTTL bounds how long a Machine this process marked and counted
	// out is listed as deleting while the informers still show it without
	// a deletionTimestamp; a set controller acts within seconds.
	markedTTL = 2 * time.Minute
	// writtenTTL bounds how long a written replica count overrides the
	// cache when resourceVersions cannot be compared (not etcd's).
	writtenTTL = 10 * time.Second
	// undoTimeout bounds removing the annotations again after a failed
	// scale-down, which runs even when the caller's deadline has passed.
	undoTimeout = 10 * time.Second
)

// Informers is the part of a controller-runtime cache the platform uses
// for Nodes: carve-cloudprovider's cache, whose Node informer it shares.
type Informers interface {
	GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error)
}

// Platform scales a Kind's sets. It is safe for concurrent use; the server
// serialises the changing calls of one pool.
type Platform struct {
	kind   Kind
	client client.Client
	caller *cloudcall.Caller
	now    func() time.Time

	// life bounds the platform's own informers; cfg and namespaces make
	// them; nodes gives the Node informer.
	life       context.Context
	cfg        *rest.Config
	namespaces []string
	nodes      Informers

	idx *index

	startMu sync.Mutex
	// own is the platform's cache of sets and Machines, made at the first
	// call; started is set once it and the Node informer have synced and
	// the handlers have seen their content. registered keeps the handlers
	// added, so that a failed start (a kind not served yet) does not add
	// them twice.
	own        cache.Cache
	started    bool
	registered map[string]toolscache.ResourceEventHandlerRegistration

	// watchErrs signals a new watch error of the platform's informers;
	// lastWatchErr is the latest.
	watchErrs    chan struct{}
	watchMu      sync.Mutex
	lastWatchErr error

	mu      sync.Mutex
	records map[key]*record
	// pools names the pool of each set, as the calls name them, for
	// PoolForProviderID.
	pools map[key]string
}

// record is what this process wrote to a set that the cache may not show
// yet.
type record struct {
	// replicas is the spec.replicas written at resourceVersion; rv is ""
	// once the cache shows that version or a later one.
	replicas int32
	rv       string
	at       time.Time
	// marked are the Machines this process annotated and counted out of
	// replicas (name → when); they are listed as deleting until they
	// leave the cache.
	marked map[string]time.Time
}

// Option configures a Platform.
type Option func(*Platform)

// WithPolicy sets the retry policy of API calls (cloudcall.Policy).
func WithPolicy(p cloudcall.Policy) Option { return func(pl *Platform) { pl.caller.Policy = p } }

// WithObserve is told of every API call attempt (cloudcall.Caller.Observe).
func WithObserve(f func(op string, attempt int, err error)) Option {
	return func(pl *Platform) { pl.caller.Observe = f }
}

var (
	_ cloudprovider.Platform         = (*Platform)(nil)
	_ cloudprovider.Refresher        = (*Platform)(nil)
	_ cloudprovider.TemplateChecker  = (*Platform)(nil)
	_ cloudprovider.ProviderIDMapper = (*Platform)(nil)
	_ cloudprovider.Refuser          = (*Platform)(nil)
)

// WithNamespaces limits the platform's informers to the given namespaces
// (where the sets are, e.g. openshift-machine-api), so that it needs a Role
// there rather than a ClusterRole. Pools naming a set elsewhere are read
// from the API server at every call.
func WithNamespaces(namespaces ...string) Option {
	return func(pl *Platform) { pl.namespaces = namespaces }
}

// New returns a platform for kind. It writes through c (scale updates,
// Machine annotations, and a read of a set not cached), reads Nodes through
// nodes (carve-cloudprovider's cache), and reads sets and Machines through
// informers of its own, made from cfg at the first call and stopped when
// ctx ends: a cluster that does not serve the kind costs nothing until a
// pool names it, and they keep only what the platform reads of each object
// (no managedFields, machine templates, provider specs or statuses).
func New(ctx context.Context, kind Kind, cfg *rest.Config, c client.Client, nodes Informers, opts ...Option) *Platform {
	p := &Platform{
		kind: kind, client: c, now: time.Now, life: ctx, cfg: cfg, nodes: nodes,
		caller:     &cloudcall.Caller{Cloud: kind.API, Classify: Classify},
		idx:        newIndex(&kind),
		registered: map[string]toolscache.ResourceEventHandlerRegistration{},
		records:    map[key]*record{},
		pools:      map[key]string{},
		watchErrs:  make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func (p *Platform) newSet(k key) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(p.kind.Set)
	u.SetNamespace(k.namespace)
	u.SetName(k.name)
	return u
}

// start makes and starts the platform's informers, adds the index's
// handlers and waits until they have seen what the informers hold. It
// returns ErrNotFound when the cluster does not serve the set or Machine
// kind; a later call tries again.
func (p *Platform) start(ctx context.Context) error {
	p.startMu.Lock()
	defer p.startMu.Unlock()
	if p.started {
		return nil
	}
	if p.own == nil {
		c, err := cache.New(p.cfg, p.cacheOptions())
		if err != nil {
			return cloudprovider.Errorf(cloudprovider.ErrTransient, "%s: creating the informer cache: %w", p.kind.API, err)
		}
		go func() {
			if err := c.Start(p.life); err != nil {
				klog.FromContext(p.life).Error(err, "Machine API informers stopped", "api", p.kind.API)
			}
		}()
		p.own = c
	}
	machine := &unstructured.Unstructured{}
	machine.SetGroupVersionKind(p.kind.Machine)
	watches := []struct {
		name string
		from Informers
		obj  client.Object
		move func(old, obj any)
	}{
		{p.kind.Set.String(), p.own, p.newSet(key{}), p.idx.moveSet},
		{p.kind.Machine.String(), p.own, machine, p.idx.moveMachine},
		{"Node", p.nodes, &corev1.Node{}, p.idx.moveNode},
	}
	var synced []toolscache.InformerSynced
	for _, w := range watches {
		reg, ok := p.registered[w.name]
		if !ok {
			inf, err := w.from.GetInformer(ctx, w.obj, cache.BlockUntilSynced(false))
			if err != nil {
				if meta.IsNoMatchError(err) {
					return cloudprovider.Errorf(cloudprovider.ErrNotFound, "%s: the cluster does not serve %s: %w", p.kind.API, w.name, err)
				}
				return cloudprovider.Errorf(cloudprovider.ErrTransient, "%s: starting the %s informer: %w", p.kind.API, w.name, err)
			}
			if reg, err = inf.AddEventHandler(handlers(w.move)); err != nil {
				return fmt.Errorf("%s: watching %s: %w", p.kind.API, w.name, err)
			}
			p.registered[w.name] = reg
		}
		synced = append(synced, reg.HasSynced)
	}
	if err := p.waitForSync(ctx, synced); err != nil {
		return err
	}
	p.started = true
	return nil
}

// waitForSync waits until the handlers have seen what the informers hold.
// An informer that may not list (a permission not granted) never syncs: its
// error is returned at once rather than when ctx ends, on this and later
// calls until it syncs.
func (p *Platform) waitForSync(ctx context.Context, synced []toolscache.InformerSynced) error {
	done := make(chan struct{})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		if toolscache.WaitForCacheSync(stop, synced...) {
			close(done)
		}
	}()
	for {
		if err := p.denied(); err != nil {
			select {
			case <-done:
				return nil
			default:
			}
			return fmt.Errorf("%s: listing and watching sets and Machines: %w", p.kind.API, err)
		}
		select {
		case <-done:
			return nil
		case <-p.watchErrs:
		case <-ctx.Done():
			return cloudprovider.Errorf(cloudprovider.ErrTransient, "%s: waiting for the informers to sync: %w", p.kind.API, ctx.Err())
		}
	}
}

// watchError is the platform's informers' watch error handler: it keeps the
// latest error for waitForSync, and logs as client-go does.
func (p *Platform) watchError(ctx context.Context, r *toolscache.Reflector, err error) {
	p.watchMu.Lock()
	p.lastWatchErr = err
	p.watchMu.Unlock()
	select {
	case p.watchErrs <- struct{}{}:
	default:
	}
	toolscache.DefaultWatchErrorHandler(ctx, r, err)
}

// denied returns the latest watch error if it is one retrying will not fix
// (Forbidden, Unauthorized).
func (p *Platform) denied() error {
	p.watchMu.Lock()
	defer p.watchMu.Unlock()
	if apierrors.IsForbidden(p.lastWatchErr) || apierrors.IsUnauthorized(p.lastWatchErr) {
		return p.lastWatchErr
	}
	return nil
}

// lookup returns pool's set: from the cache, or, when the cache does not
// hold it (yet), from the API server.
func (p *Platform) lookup(ctx context.Context, pool *carvev1.NodePool) (*setInfo, error) {
	ref := p.kind.Ref(pool)
	if ref == nil || ref.Namespace == "" || ref.Name == "" {
		return nil, cloudprovider.Errorf(cloudprovider.ErrInvalid, "node group %s names no %s (spec.platform)", pool.Name, p.kind.Set.Kind)
	}
	if err := p.start(ctx); err != nil {
		return nil, err
	}
	k := key{ref.Namespace, ref.Name}
	p.mu.Lock()
	p.pools[k] = pool.Name
	p.mu.Unlock()
	if s := p.idx.set(k); s != nil {
		return s, nil
	}
	u := p.newSet(k)
	err := p.caller.Do(ctx, "get "+p.kind.Set.Kind+" "+k.String(), func(ctx context.Context) error {
		return p.client.Get(ctx, client.ObjectKey{Namespace: k.namespace, Name: k.name}, u)
	})
	if err != nil {
		return nil, fmt.Errorf("node group %s: %w", pool.Name, err)
	}
	return setInfoOf(u), nil
}

// view is set s as the platform sees it now, with what this process wrote
// and the cache does not show yet. It forgets what the cache has caught up
// with.
func (p *Platform) view(s *setInfo) *view {
	p.mu.Lock()
	defer p.mu.Unlock()
	target := p.targetLocked(s)
	var marked map[string]time.Time
	if rec := p.records[s.key]; rec != nil {
		now := p.now()
		for name, at := range rec.marked {
			if now.Sub(at) > markedTTL || p.idx.machine(key{s.namespace, name}) == nil {
				delete(rec.marked, name)
			}
		}
		marked = rec.marked
		if rec.rv == "" && len(rec.marked) == 0 {
			delete(p.records, s.key)
		}
	}
	return p.idx.see(s, target, marked)
}

// targetLocked is s's spec.replicas, or the count this process wrote while
// the cache shows an older version of s. Callers hold mu.
func (p *Platform) targetLocked(s *setInfo) int32 {
	rec := p.records[s.key]
	if rec == nil || rec.rv == "" {
		return s.replicas
	}
	cmp, err := resourceversion.CompareResourceVersion(s.resourceVersion, rec.rv)
	if (err == nil && cmp < 0) || (err != nil && p.now().Sub(rec.at) < writtenTTL) {
		return rec.replicas
	}
	rec.rv = "" // the cache has caught up
	return s.replicas
}

// wrote records a replica count written at resourceVersion rv and the
// Machines marked with it.
func (p *Platform) wrote(s *setInfo, replicas int32, rv string, marked []key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := p.records[s.key]
	if rec == nil {
		rec = &record{marked: map[string]time.Time{}}
		p.records[s.key] = rec
	}
	now := p.now()
	rec.replicas, rec.rv, rec.at = replicas, rv, now
	for _, m := range marked {
		rec.marked[m.name] = now
	}
}

// refuse returns a RefusedError when the Kind says carve must not scale s.
func (p *Platform) refuse(pool *carvev1.NodePool, s *setInfo) error {
	if p.kind.Refuse == nil {
		return nil
	}
	if reason, msg := p.kind.Refuse(s.annotations); reason != "" {
		return &RefusedError{Reason: reason, Message: fmt.Sprintf("node group %s: %s %s: %s", pool.Name, p.kind.Set.Kind, s.key, msg)}
	}
	return nil
}

// Refusal says why carve refuses to scale pool's set ("" when it does not,
// or the set is not cached), for a condition on the NodePool. It reads the
// cache only, which the platform's first call (Refresh, TargetSize, …)
// starts.
func (p *Platform) Refusal(pool *carvev1.NodePool) (reason, message string) {
	ref := p.kind.Ref(pool)
	if ref == nil {
		return "", ""
	}
	s := p.idx.set(key{ref.Namespace, ref.Name})
	if s == nil {
		return "", ""
	}
	if r := AsRefused(p.refuse(pool, s)); r != nil {
		return r.Reason, r.Message
	}
	return "", ""
}

// PoolForProviderID names the pool of the set whose Machine has this
// providerID (its own, or its Node's), from the cache, so that a Node maps to
// its pool without the carve.dev/node-pool label (Cluster API propagates
// only some label domains to Nodes). It knows the pools the latest Refresh
// named, and those of calls since.
func (p *Platform) PoolForProviderID(id string) (string, bool) {
	k, ok := p.idx.setOf(id)
	if !ok {
		return "", false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	name, ok := p.pools[k]
	return name, ok
}

// TargetSize is the set's spec.replicas (or what this process last wrote,
// until the cache shows it).
func (p *Platform) TargetSize(ctx context.Context, pool *carvev1.NodePool) (int32, error) {
	s, err := p.lookup(ctx, pool)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.targetLocked(s), nil
}

// Instances lists the set's Machines and a placeholder for each replica no
// Machine backs yet (see doc.go).
func (p *Platform) Instances(ctx context.Context, pool *carvev1.NodePool) ([]cloudprovider.Instance, error) {
	s, err := p.lookup(ctx, pool)
	if err != nil {
		return nil, err
	}
	return p.view(s).instances(), nil
}

// Refresh starts the informers if they are not yet; afterwards they keep
// every set current by themselves, so there is nothing to read. A cluster
// that does not serve the kind is no error here (it would fail the
// autoscaler's whole loop): the pools' own calls say ErrNotFound.
func (p *Platform) Refresh(ctx context.Context, pools []*carvev1.NodePool) error {
	if len(pools) == 0 {
		return nil
	}
	p.mu.Lock()
	clear(p.pools)
	for _, pool := range pools {
		if ref := p.kind.Ref(pool); ref != nil {
			p.pools[key{ref.Namespace, ref.Name}] = pool.Name
		}
	}
	p.mu.Unlock()
	err := p.start(ctx)
	if errors.Is(err, cloudprovider.ErrNotFound) {
		klog.FromContext(ctx).Info("Machine API not served; its node groups report not found", "api", p.kind.API, "err", err.Error())
		return nil
	}
	return err
}

// Create raises the set's replicas by n through the scale subresource.
func (p *Platform) Create(ctx context.Context, pool *carvev1.NodePool, n int) error {
	if n <= 0 {
		return cloudprovider.Errorf(cloudprovider.ErrInvalid, "node group %s: asked for %d more instances", pool.Name, n)
	}
	s, err := p.lookup(ctx, pool)
	if err != nil {
		return err
	}
	if err := p.refuse(pool, s); err != nil {
		return err
	}
	replicas, rv, err := p.scale(ctx, s, func(cur int32) int32 { return cur + int32(n) }, fmt.Sprintf("+%d", n))
	if err != nil {
		return fmt.Errorf("node group %s: %w", pool.Name, err)
	}
	p.wrote(s, replicas, rv, nil)
	return nil
}

// Delete marks the named Machines for deletion and lowers replicas by as
// many, plus one for each placeholder named (see plan).
func (p *Platform) Delete(ctx context.Context, pool *carvev1.NodePool, ids []string) error {
	s, err := p.lookup(ctx, pool)
	if err != nil {
		return err
	}
	if err := p.refuse(pool, s); err != nil {
		return err
	}
	pl, err := p.plan(pool, p.view(s), ids)
	if err != nil {
		return err
	}
	if len(pl.machines) == 0 && pl.placeholders == 0 {
		return nil // all gone or going already
	}
	added, counted, err := p.mark(ctx, pl.machines)
	if err != nil {
		return errors.Join(fmt.Errorf("node group %s: %w", pool.Name, err), p.unmark(ctx, added))
	}
	k := int32(len(counted)) + pl.placeholders
	if k == 0 {
		return nil // the Machines left before they could be marked
	}
	replicas, rv, err := p.scale(ctx, s, func(cur int32) int32 { return max(0, cur-k) }, fmt.Sprintf("-%d", k))
	if err != nil {
		// Unmarked, the Machines are like any other again: nothing is
		// deleted that the autoscaler will not be told about.
		return errors.Join(fmt.Errorf("node group %s: %w", pool.Name, err), p.unmark(ctx, added))
	}
	p.wrote(s, replicas, rv, counted)
	return nil
}

// deletion is what Delete does: the Machines to mark, and how many
// replicas no Machine backs to drop.
type deletion struct {
	machines     []*machineInfo
	placeholders int32
}

// plan resolves ids against view v of pool's set. Every id must be the
// pool's: one that is not (a malformed id, another set's Machine or
// placeholder, a Node that is no Machine's) makes the whole call
// ErrInvalid before anything is changed. Ids of Machines gone, or already
// going, are skipped. A placeholder id names replica n of the set; it is
// dropped while n is above the Machines that back replicas and at most the
// target, otherwise it was dropped already or a Machine backs it now, and
// nothing is done (a Machine is only ever deleted by name).
func (p *Platform) plan(pool *carvev1.NodePool, v *view, ids []string) (*deletion, error) {
	byName := make(map[string]*entry, len(v.entries))
	for i := range v.entries {
		byName[v.entries[i].machine.name] = &v.entries[i]
	}
	d := &deletion{}
	seen := map[string]bool{}
	invalid := func(id, why string) error {
		return cloudprovider.Errorf(cloudprovider.ErrInvalid, "deleting %q from node group %s (%s %s): %s", id, pool.Name, p.kind.Set.Kind, v.set.key, why)
	}
	take := func(id string, k key, m *machineInfo) error {
		if m == nil {
			return nil // gone
		}
		if k.namespace != v.set.namespace {
			return invalid(id, "its Machine "+k.String()+" is in another namespace")
		}
		e, ok := byName[k.name]
		if !ok {
			return invalid(id, "Machine "+k.String()+" is not one of the set's")
		}
		if !e.going && !seen[k.name] {
			seen[k.name] = true
			d.machines = append(d.machines, e.machine)
		}
		return nil
	}
	for _, id := range ids {
		if ns, set, n, ok := ParsePlaceholderID(id); ok {
			if ns != v.set.namespace || set != v.set.name {
				return nil, invalid(id, "a placeholder of another set")
			}
			if n > v.backed && n <= v.target && !seen[id] {
				seen[id] = true
				d.placeholders++
			}
			continue
		}
		if ns, name, ok := ParseMachineID(id); ok {
			if ns != v.set.namespace {
				return nil, invalid(id, "a Machine of another namespace")
			}
			k := key{ns, name}
			if err := take(id, k, p.idx.machine(k)); err != nil {
				return nil, err
			}
			continue
		}
		if !looksLikeProviderID(id) {
			return nil, invalid(id, "not a providerID")
		}
		m, k, node := p.idx.lookup(id)
		if m == nil && node != nil && !node.hasMachine {
			return nil, invalid(id, "Node "+node.name+" is no Machine's (no "+p.kind.Machine.Group+" machine annotation)")
		}
		if err := take(id, k, m); err != nil {
			return nil, err
		}
	}
	return d, nil
}
