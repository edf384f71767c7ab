package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
)

// Server serves the externalgrpc protocol over NodePools. Node groups are
// NodePools (id = pool name); their nodes are Nodes. It is safe for
// concurrent use: calls that change a pool's size hold that pool's lock, so
// two DeleteNodes for the same pool see each other's effect on the size.
type Server struct {
	externalgrpc.UnimplementedCloudProviderServer

	// cache reads NodePools and Nodes from informers (watched, not polled).
	cache client.Reader
	// live reads pods and Nodes from the API server when a node is about
	// to go, so a session that just landed on it is not missed, and taints
	// the node first (TaintDeleting).
	live      client.Client
	platforms map[carvev1.PlatformType]cloudprovider.Platform
	// recorder and outcomes report refusals (server_events.go); both may
	// be nil.
	recorder events.EventRecorder
	outcomes *ScaleOutcomes

	// beforePodCheck, when set, runs after a node is tainted and before its
	// pods are listed (WithBeforePodCheck).
	beforePodCheck func(ctx context.Context, node string)

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

var _ externalgrpc.CloudProviderServer = (*Server)(nil)

// NewServer returns a Server reading pools and nodes from cache, pods from
// live (which also taints nodes about to be deleted), and changing capacity
// through platforms. Pools whose platform type
// has no entry in platforms are not offered to the autoscaler.
func NewServer(cache client.Reader, live client.Client, platforms map[carvev1.PlatformType]cloudprovider.Platform, opts ...ServerOption) *Server {
	s := &Server{cache: cache, live: live, platforms: platforms, locks: map[string]*sync.Mutex{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// lock takes the per-pool lock and returns its release.
func (s *Server) lock(pool string) func() {
	s.mu.Lock()
	l, ok := s.locks[pool]
	if !ok {
		l = &sync.Mutex{}
		s.locks[pool] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// group returns the pool named id and its platform.
func (s *Server) group(ctx context.Context, id string) (*carvev1.NodePool, cloudprovider.Platform, error) {
	if id == "" {
		return nil, nil, cloudprovider.Errorf(cloudprovider.ErrInvalid, "node group id is empty")
	}
	pool := &carvev1.NodePool{}
	if err := s.cache.Get(ctx, client.ObjectKey{Name: id}, pool); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, cloudprovider.Errorf(cloudprovider.ErrNotFound, "node group %q does not exist (no NodePool of that name)", id)
		}
		return nil, nil, fmt.Errorf("reading NodePool %s: %w", id, err)
	}
	p, ok := s.platforms[pool.Spec.Platform.Type]
	if !ok {
		return nil, nil, cloudprovider.Errorf(cloudprovider.ErrUnsupported, "node group %s: platform %s is not served by this carve-cloudprovider (see its --platforms flag)", id, pool.Spec.Platform.Type)
	}
	return pool, p, nil
}

// pools lists the pools offered to the autoscaler, by name.
func (s *Server) pools(ctx context.Context) ([]*carvev1.NodePool, error) {
	list := &carvev1.NodePoolList{}
	if err := s.cache.List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing NodePools: %w", err)
	}
	var out []*carvev1.NodePool
	for i := range list.Items {
		if _, ok := s.platforms[list.Items[i].Spec.Platform.Type]; ok {
			out = append(out, &list.Items[i])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// poolForNode names the pool a node belongs to, or nil for a node carve does
// not manage. A node without a provider id is never managed: the autoscaler
// could not match it to an instance. The pool comes from the provider id
// when a platform can read it (and that platform must be the pool's), else
// from the node's carve.dev/node-pool label (sent by the autoscaler, or the
// cached Node's).
func (s *Server) poolForNode(ctx context.Context, n *externalgrpc.ExternalGrpcNode) (*carvev1.NodePool, error) {
	if n == nil || n.ProviderID == "" {
		return nil, nil
	}
	name, wantType := "", carvev1.PlatformType("")
	for t, p := range s.platforms {
		if m, ok := p.(cloudprovider.ProviderIDMapper); ok {
			if pool, ok := m.PoolForProviderID(n.ProviderID); ok {
				name, wantType = pool, t
				break
			}
		}
	}
	if name == "" {
		name = n.Labels[carvev1.LabelNodePool]
	}
	if name == "" {
		node, err := s.cachedNode(ctx, n.Name)
		if err != nil {
			return nil, err
		}
		if node != nil && node.Spec.ProviderID == n.ProviderID {
			name = node.Labels[carvev1.LabelNodePool]
		}
	}
	if name == "" {
		return nil, nil
	}
	pool := &carvev1.NodePool{}
	if err := s.cache.Get(ctx, client.ObjectKey{Name: name}, pool); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading NodePool %s: %w", name, err)
	}
	if wantType != "" && pool.Spec.Platform.Type != wantType {
		return nil, nil
	}
	if _, ok := s.platforms[pool.Spec.Platform.Type]; !ok {
		return nil, nil
	}
	return pool, nil
}

func toNodeGroup(pool *carvev1.NodePool) *externalgrpc.NodeGroup {
	return &externalgrpc.NodeGroup{
		Id:      pool.Name,
		MinSize: pool.Spec.MinSize,
		MaxSize: pool.Spec.MaxSize,
		Debug:   fmt.Sprintf("NodePool %s (role %s, platform %s)", pool.Name, pool.Spec.Role, pool.Spec.Platform.Type),
	}
}

// NodeGroups lists the NodePools whose platform this server can drive.
func (s *Server) NodeGroups(ctx context.Context, _ *externalgrpc.NodeGroupsRequest) (*externalgrpc.NodeGroupsResponse, error) {
	pools, err := s.pools(ctx)
	if err != nil {
		return nil, cloudprovider.Status(err)
	}
	resp := &externalgrpc.NodeGroupsResponse{}
	for _, p := range pools {
		resp.NodeGroups = append(resp.NodeGroups, toNodeGroup(p))
	}
	return resp, nil
}

// NodeGroupForNode answers the node's pool, or an empty id for a node carve
// does not manage.
func (s *Server) NodeGroupForNode(ctx context.Context, req *externalgrpc.NodeGroupForNodeRequest) (*externalgrpc.NodeGroupForNodeResponse, error) {
	if req.GetNode() == nil {
		return nil, cloudprovider.Status(cloudprovider.Errorf(cloudprovider.ErrInvalid, "finding the node group of a node: no node given"))
	}
	pool, err := s.poolForNode(ctx, req.Node)
	if err != nil {
		return nil, cloudprovider.Status(err)
	}
	if pool == nil {
		return &externalgrpc.NodeGroupForNodeResponse{NodeGroup: &externalgrpc.NodeGroup{}}, nil
	}
	return &externalgrpc.NodeGroupForNodeResponse{NodeGroup: toNodeGroup(pool)}, nil
}

// NodeGroupTargetSize is the platform's target size of the pool.
func (s *Server) NodeGroupTargetSize(ctx context.Context, req *externalgrpc.NodeGroupTargetSizeRequest) (*externalgrpc.NodeGroupTargetSizeResponse, error) {
	pool, p, err := s.group(ctx, req.GetId())
	if err != nil {
		return nil, cloudprovider.Status(err)
	}
	n, err := p.TargetSize(ctx, pool)
	if err != nil {
		return nil, cloudprovider.Status(fmt.Errorf("reading target size of node group %s: %w", pool.Name, err))
	}
	return &externalgrpc.NodeGroupTargetSizeResponse{TargetSize: n}, nil
}

// NodeGroupIncreaseSize asks the platform for delta more nodes, refusing a
// non-positive delta and any growth beyond maxSize.
func (s *Server) NodeGroupIncreaseSize(ctx context.Context, req *externalgrpc.NodeGroupIncreaseSizeRequest) (*externalgrpc.NodeGroupIncreaseSizeResponse, error) {
	pool, p, err := s.group(ctx, req.GetId())
	if err != nil {
		return nil, cloudprovider.Status(err)
	}
	defer s.lock(pool.Name)()
	target, err := p.TargetSize(ctx, pool)
	if err != nil {
		return nil, cloudprovider.Status(fmt.Errorf("reading target size of node group %s: %w", pool.Name, err))
	}
	if err := CheckIncrease(pool, target, req.GetDelta()); err != nil {
		return nil, cloudprovider.Status(s.outcome(ctx, pool, ActionIncreaseSize, err))
	}
	klog.FromContext(ctx).Info("Increasing node group", "nodeGroup", pool.Name, "delta", req.GetDelta(), "targetSize", target)
	if err := p.Create(ctx, pool, int(req.GetDelta())); err != nil {
		return nil, cloudprovider.Status(fmt.Errorf("increasing node group %s from %d by %d: %w", pool.Name, target, req.GetDelta(), err))
	}
	_ = s.outcome(ctx, pool, ActionIncreaseSize, nil)
	return &externalgrpc.NodeGroupIncreaseSizeResponse{}, nil
}

// NodeGroupNodes lists the pool's instances with their state.
func (s *Server) NodeGroupNodes(ctx context.Context, req *externalgrpc.NodeGroupNodesRequest) (*externalgrpc.NodeGroupNodesResponse, error) {
	pool, p, err := s.group(ctx, req.GetId())
	if err != nil {
		return nil, cloudprovider.Status(err)
	}
	instances, err := p.Instances(ctx, pool)
	if err != nil {
		return nil, cloudprovider.Status(fmt.Errorf("listing instances of node group %s: %w", pool.Name, err))
	}
	// Pools have thousands of instances: their messages are made in two
	// allocations, not two each.
	resp := &externalgrpc.NodeGroupNodesResponse{Instances: make([]*externalgrpc.Instance, len(instances))}
	msgs := make([]externalgrpc.Instance, len(instances))
	statuses := make([]externalgrpc.InstanceStatus, len(instances))
	for i, in := range instances {
		resp.Instances[i] = toInstance(in, &msgs[i], &statuses[i])
	}
	return resp, nil
}

// toInstance fills msg and st, zero, from in.
func toInstance(in cloudprovider.Instance, msg *externalgrpc.Instance, st *externalgrpc.InstanceStatus) *externalgrpc.Instance {
	switch in.State {
	case cloudprovider.StateRunning:
		st.InstanceState = externalgrpc.InstanceStatus_instanceRunning
	case cloudprovider.StateCreating:
		st.InstanceState = externalgrpc.InstanceStatus_instanceCreating
	case cloudprovider.StateDeleting:
		st.InstanceState = externalgrpc.InstanceStatus_instanceDeleting
	}
	if in.Error != nil {
		// cluster-autoscaler's InstanceErrorClass: 1 = OutOfResources, 99 = Other.
		class := int32(99)
		if in.Error.OutOfResources {
			class = 1
		}
		st.ErrorInfo = &externalgrpc.InstanceErrorInfo{ErrorCode: in.Error.Code, ErrorMessage: in.Error.Message, InstanceErrorClass: class}
	}
	msg.Id, msg.Status = in.ID, st
	return msg
}

// Refresh is sent by the autoscaler at the start of every loop. Pools and
// nodes come from watches, always current; platforms that cache their
// cloud's state (cloudprovider.Refresher) read it in now, every pool of a platform in one
// call, so that the loop's NodeGroupNodes and TargetSize calls cost no cloud
// call. A platform that fails to refresh keeps its previous state and the
// error is returned, so the autoscaler logs it and skips the loop.
func (s *Server) Refresh(ctx context.Context, _ *externalgrpc.RefreshRequest) (*externalgrpc.RefreshResponse, error) {
	pools, err := s.pools(ctx)
	if err != nil {
		return nil, cloudprovider.Status(cloudprovider.Errorf(cloudprovider.ErrTransient, "%w", err))
	}
	byPlatform := map[carvev1.PlatformType][]*carvev1.NodePool{}
	for _, pool := range pools {
		byPlatform[pool.Spec.Platform.Type] = append(byPlatform[pool.Spec.Platform.Type], pool)
	}
	var errs []error
	for _, t := range slices.Sorted(maps.Keys(byPlatform)) {
		r, ok := s.platforms[t].(cloudprovider.Refresher)
		if !ok {
			continue
		}
		if err := r.Refresh(ctx, byPlatform[t]); err != nil {
			errs = append(errs, fmt.Errorf("refreshing %s pools: %w", t, err))
		}
	}
	if len(errs) > 0 {
		return nil, cloudprovider.Status(errors.Join(errs...))
	}
	return &externalgrpc.RefreshResponse{}, nil
}

// Cleanup does nothing: the server holds no per-autoscaler state.
func (s *Server) Cleanup(context.Context, *externalgrpc.CleanupRequest) (*externalgrpc.CleanupResponse, error) {
	return &externalgrpc.CleanupResponse{}, nil
}

// NodeGroupGetOptions answers "no options of its own": NodePools have no
// per-pool autoscaling options yet, and an empty answer makes the autoscaler
// use its own flags for every option. Echoing the defaults back would not do
// that: the protocol carries only some options, and the autoscaler's
// externalgrpc client sets the others to zero when an answer has options,
// among them max-node-startup-time. With that at zero, a Node that has
// registered but is not Ready yet (kwok's for the few seconds its not-ready
// taint lingers, a cloud VM's while its kubelet starts) counts as unready
// instead of starting, its scale-up as finished, and the autoscaler buys
// another node for the same pod. The method is implemented rather than
// answering Unimplemented because the autoscaler calls it about twice per
// node per loop; it reads only the cache.
func (s *Server) NodeGroupGetOptions(ctx context.Context, req *externalgrpc.NodeGroupAutoscalingOptionsRequest) (*externalgrpc.NodeGroupAutoscalingOptionsResponse, error) {
	if _, _, err := s.group(ctx, req.GetId()); err != nil {
		return nil, cloudprovider.Status(err)
	}
	return &externalgrpc.NodeGroupAutoscalingOptionsResponse{}, nil
}
