package server

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
)

// NodeGroupDeleteNodes deletes exactly the given nodes, all or none: it
// refuses (FailedPrecondition) when the pool would go below minSize, when the
// Base pool would lose its last node, or when a node runs a session or a pod
// that must not be evicted. Nodes already gone or being deleted are skipped,
// so a repeated call succeeds.
func (s *Server) NodeGroupDeleteNodes(ctx context.Context, req *externalgrpc.NodeGroupDeleteNodesRequest) (*externalgrpc.NodeGroupDeleteNodesResponse, error) {
	pool, p, err := s.group(ctx, req.GetId())
	if err != nil {
		return nil, cloudprovider.Status(err)
	}
	defer s.lock(pool.Name)()
	if err := s.outcome(ctx, pool, ActionDeleteNodes, s.deleteNodes(ctx, pool, p, req.GetNodes())); err != nil {
		return nil, cloudprovider.Status(err)
	}
	return &externalgrpc.NodeGroupDeleteNodesResponse{}, nil
}

func (s *Server) deleteNodes(ctx context.Context, pool *carvev1.NodePool, p cloudprovider.Platform, nodes []*externalgrpc.ExternalGrpcNode) (err error) {
	instances, err := p.Instances(ctx, pool)
	if err != nil {
		return fmt.Errorf("listing instances of node group %s: %w", pool.Name, err)
	}
	byID := map[string]cloudprovider.Instance{}
	remaining := 0
	for _, in := range instances {
		byID[in.ID] = in
		if in.State != cloudprovider.StateDeleting {
			remaining++
		}
	}
	// Nodes are tainted before their pods are checked, and untainted again
	// when the deletion does not happen.
	var tainted []string
	defer func() {
		if err != nil {
			for _, name := range tainted {
				if uerr := s.setDeletingTaint(ctx, name, false); uerr != nil {
					klog.FromContext(ctx).Error(uerr, "Could not remove carve's deleting taint from a node that stays", "node", name)
				}
			}
		}
	}()
	var ids, names []string
	seen := map[string]bool{}
	for _, n := range nodes {
		if n == nil {
			continue
		}
		node, err := s.nodeFor(ctx, n)
		if err != nil {
			return err
		}
		id := n.ProviderID
		if id == "" && node != nil {
			id = node.Spec.ProviderID
		}
		if id == "" {
			return cloudprovider.Errorf(cloudprovider.ErrInvalid, "deleting node %q from node group %s: it has no providerID", n.Name, pool.Name)
		}
		in, ok := byID[id]
		if !ok {
			// Not an instance of this pool: gone already (fine, deletion is
			// idempotent) unless it is another pool's node.
			if other, err := s.poolForNode(ctx, n); err != nil {
				return err
			} else if other != nil && other.Name != pool.Name {
				return cloudprovider.Errorf(cloudprovider.ErrInvalid, "deleting node %s (%s) from node group %s: it belongs to node group %s", n.Name, id, pool.Name, other.Name)
			}
			continue
		}
		if in.State == cloudprovider.StateDeleting || seen[id] {
			continue
		}
		seen[id] = true
		// Without a cached Node (still being created, or the cache lags)
		// the name sent is checked: refusing wrongly is the safe mistake.
		name := n.Name
		if node != nil {
			name = node.Name
		}
		if name != "" {
			// Unschedulable first, then the pod check: a pod the scheduler
			// places from now on goes elsewhere, so what the check sees is
			// all the node will run.
			if node != nil {
				if err := s.setDeletingTaint(ctx, name, true); err != nil {
					return err
				}
				tainted = append(tainted, name)
			}
			if s.beforePodCheck != nil {
				s.beforePodCheck(ctx, name)
			}
			pods := &corev1.PodList{}
			if err := s.live.List(ctx, pods, client.MatchingFields{"spec.nodeName": name}); err != nil {
				return fmt.Errorf("listing pods on node %s before deleting it: %w", name, err)
			}
			if err := CheckNodeRemovable(node, pods.Items); err != nil {
				return err
			}
		}
		ids = append(ids, id)
		names = append(names, cmp.Or(name, id))
	}
	if len(ids) == 0 {
		return nil
	}
	if err := CheckDeleteSize(pool, remaining, len(ids), names[0]); err != nil {
		return err
	}
	klog.FromContext(ctx).Info("Deleting nodes", "nodeGroup", pool.Name, "nodes", names)
	if err := p.Delete(ctx, pool, ids); err != nil {
		return fmt.Errorf("deleting nodes %v of node group %s: %w", names, pool.Name, err)
	}
	return nil
}

// setDeletingTaint puts TaintDeleting on the node (on) or takes it off,
// reading the node live and retrying on conflicts. A node that is gone needs
// neither.
func (s *Server) setDeletingTaint(ctx context.Context, name string, on bool) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node := &corev1.Node{}
		if err := s.live.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
			return err
		}
		i := slices.IndexFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.Key == carvev1.TaintDeleting })
		switch {
		case on && i >= 0, !on && i < 0:
			return nil
		case on:
			node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: carvev1.TaintDeleting, Effect: corev1.TaintEffectNoSchedule})
		default:
			node.Spec.Taints = slices.Delete(node.Spec.Taints, i, i+1)
		}
		return s.live.Update(ctx, node)
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s carve's %s taint on node %s: %w", map[bool]string{true: "putting", false: "removing"}[on], carvev1.TaintDeleting, name, err)
	}
	return nil
}

// nodeFor finds the cached Node the autoscaler means: by name when its
// providerID agrees (or none was sent), else by providerID, so the pods on it
// are checked even when the name is missing or stale. Nil when none exists.
func (s *Server) nodeFor(ctx context.Context, n *externalgrpc.ExternalGrpcNode) (*corev1.Node, error) {
	node, err := s.cachedNode(ctx, n.Name)
	if err != nil {
		return nil, err
	}
	if node != nil && (n.ProviderID == "" || node.Spec.ProviderID == n.ProviderID) {
		return node, nil
	}
	if n.ProviderID == "" {
		return nil, nil
	}
	nodes := &corev1.NodeList{}
	if err := s.cache.List(ctx, nodes); err != nil {
		return nil, fmt.Errorf("listing nodes to find %s: %w", n.ProviderID, err)
	}
	for i := range nodes.Items {
		if nodes.Items[i].Spec.ProviderID == n.ProviderID {
			return &nodes.Items[i], nil
		}
	}
	return nil, nil
}

// cachedNode is the Node of that name from the cache, or nil.
func (s *Server) cachedNode(ctx context.Context, name string) (*corev1.Node, error) {
	if name == "" {
		return nil, nil
	}
	node := &corev1.Node{}
	if err := s.cache.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading node %s: %w", name, err)
	}
	return node, nil
}

// NodeGroupDecreaseTargetSize forgets -delta requested nodes that have not
// registered; it refuses when that would take registered nodes, which only
// DeleteNodes may remove.
func (s *Server) NodeGroupDecreaseTargetSize(ctx context.Context, req *externalgrpc.NodeGroupDecreaseTargetSizeRequest) (*externalgrpc.NodeGroupDecreaseTargetSizeResponse, error) {
	pool, p, err := s.group(ctx, req.GetId())
	if err != nil {
		return nil, cloudprovider.Status(err)
	}
	delta := req.GetDelta()
	if delta >= 0 {
		return nil, cloudprovider.Status(cloudprovider.Errorf(cloudprovider.ErrInvalid, "decreasing target size of node group %s: delta must be negative, got %d", pool.Name, delta))
	}
	defer s.lock(pool.Name)()
	instances, err := p.Instances(ctx, pool)
	if err != nil {
		return nil, cloudprovider.Status(fmt.Errorf("listing instances of node group %s: %w", pool.Name, err))
	}
	// Live: a Node that registered a moment ago, and may already run pods,
	// must not be taken for an instance that never came up.
	nodes := &corev1.NodeList{}
	if err := s.live.List(ctx, nodes); err != nil {
		return nil, cloudprovider.Status(fmt.Errorf("listing nodes: %w", err))
	}
	registered := map[string]bool{}
	for _, n := range nodes.Items {
		if n.Spec.ProviderID != "" {
			registered[n.Spec.ProviderID] = true
		}
	}
	ids, err := UnregisteredToForget(pool, instances, registered, delta)
	if err != nil {
		return nil, cloudprovider.Status(s.outcome(ctx, pool, ActionDecreaseTargetSize, err))
	}
	klog.FromContext(ctx).Info("Decreasing target size", "nodeGroup", pool.Name, "delta", delta, "instances", ids)
	if err := p.Delete(ctx, pool, ids); err != nil {
		return nil, cloudprovider.Status(fmt.Errorf("decreasing target size of node group %s by %d: %w", pool.Name, -delta, err))
	}
	_ = s.outcome(ctx, pool, ActionDecreaseTargetSize, nil)
	return &externalgrpc.NodeGroupDecreaseTargetSizeResponse{}, nil
}

// UnregisteredToForget picks -delta instances of pool whose Node has not
// registered (not in registered, by provider id) and that are not being
// deleted, or refuses when there are fewer.
func UnregisteredToForget(pool *carvev1.NodePool, instances []cloudprovider.Instance, registered map[string]bool, delta int32) ([]string, error) {
	var ids []string
	target := 0
	for _, in := range instances {
		if in.State == cloudprovider.StateDeleting {
			continue
		}
		target++
		if !registered[in.ID] {
			ids = append(ids, in.ID)
		}
	}
	if int(-delta) > len(ids) {
		return nil, refuse(ReasonNodesRegistered, "", "nothing to do: the autoscaler removes registered nodes through DeleteNodes",
			"decreasing target size of node group %s by %d: only %d of its %d nodes are not registered; registered nodes are removed only through DeleteNodes", pool.Name, -delta, len(ids), target)
	}
	return ids[:-delta], nil
}
