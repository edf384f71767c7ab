package cloudprovider

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
)

// TemplateNode is the node a pool would get: through the platform when it
// builds its own nodes (NodeTemplater), else NodeFromTemplate. It is marked
// Ready, as the autoscaler simulates scheduling on a running node.
func TemplateNode(pool *carvev1.NodePool, p Platform) *corev1.Node {
	name := pool.Name + "-template"
	var node *corev1.Node
	if t, ok := p.(NodeTemplater); ok {
		node = t.TemplateNode(pool, name)
	} else {
		node = NodeFromTemplate(pool, name)
	}
	node.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "Template",
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
	}}
	node.Status.Phase = corev1.NodeRunning
	return node
}

// NodeGroupTemplateNodeInfo answers a protobuf-marshalled v1.Node built from
// the pool's template (see TemplateNode).
func (s *Server) NodeGroupTemplateNodeInfo(ctx context.Context, req *externalgrpc.NodeGroupTemplateNodeInfoRequest) (*externalgrpc.NodeGroupTemplateNodeInfoResponse, error) {
	pool, p, err := s.group(ctx, req.GetId())
	if err != nil {
		return nil, Status(err)
	}
	b, err := TemplateNode(pool, p).Marshal()
	if err != nil {
		return nil, Status(fmt.Errorf("marshalling the template node of node group %s: %w", pool.Name, err))
	}
	return &externalgrpc.NodeGroupTemplateNodeInfoResponse{NodeBytes: b}, nil
}

// GPULabel is LabelAccelerator: only nodes of GPU pools carry it.
func (s *Server) GPULabel(context.Context, *externalgrpc.GPULabelRequest) (*externalgrpc.GPULabelResponse, error) {
	return &externalgrpc.GPULabelResponse{Label: LabelAccelerator}, nil
}

// GetAvailableGPUTypes lists the GPU types (LabelAccelerator values) of the
// GPU pools.
func (s *Server) GetAvailableGPUTypes(ctx context.Context, _ *externalgrpc.GetAvailableGPUTypesRequest) (*externalgrpc.GetAvailableGPUTypesResponse, error) {
	pools, err := s.pools(ctx)
	if err != nil {
		return nil, Status(err)
	}
	types := map[string]*anypb.Any{}
	for _, p := range pools {
		if p.Spec.Role == carvev1.NodePoolRoleGPU {
			types[AcceleratorType(p)] = &anypb.Any{}
		}
	}
	return &externalgrpc.GetAvailableGPUTypesResponse{GpuTypes: types}, nil
}

// PricingNodePrice is the node's pool's pricePerHour times the window's
// hours. A node carve does not manage, or a pool without a price, is
// NotFound: the price expander then skips that option.
func (s *Server) PricingNodePrice(ctx context.Context, req *externalgrpc.PricingNodePriceRequest) (*externalgrpc.PricingNodePriceResponse, error) {
	pool, err := s.poolForNode(ctx, req.GetNode())
	if err != nil {
		return nil, Status(err)
	}
	if pool == nil {
		return nil, Status(Errorf(ErrNotFound, "pricing node %s: it belongs to no node group", req.GetNode().GetName()))
	}
	hours, err := window(req.GetStartTimestamp(), req.GetEndTimestamp())
	if err != nil {
		return nil, Status(err)
	}
	price, err := NodePrice(pool, hours)
	if err != nil {
		return nil, Status(err)
	}
	return &externalgrpc.PricingNodePriceResponse{Price: price}, nil
}

// PricingPodPrice is the pod's share of a node's price (see PodPrice); the
// pool is that of the node the pod is bound to, if any.
func (s *Server) PricingPodPrice(ctx context.Context, req *externalgrpc.PricingPodPriceRequest) (*externalgrpc.PricingPodPriceResponse, error) {
	pod := &corev1.Pod{}
	if err := pod.Unmarshal(req.GetPodBytes()); err != nil {
		return nil, Status(Errorf(ErrInvalid, "pricing a pod: decoding pod_bytes: %w", err))
	}
	hours, err := window(req.GetStartTimestamp(), req.GetEndTimestamp())
	if err != nil {
		return nil, Status(err)
	}
	pools, err := s.pools(ctx)
	if err != nil {
		return nil, Status(err)
	}
	var onPool *carvev1.NodePool
	if node, err := s.cachedNode(ctx, pod.Spec.NodeName); err != nil {
		return nil, Status(err)
	} else if node != nil {
		onPool, err = s.poolForNode(ctx, &externalgrpc.ExternalGrpcNode{ProviderID: node.Spec.ProviderID, Name: node.Name, Labels: node.Labels})
		if err != nil {
			return nil, Status(err)
		}
	}
	price, err := PodPrice(pod, onPool, pools, hours)
	if err != nil {
		return nil, Status(err)
	}
	return &externalgrpc.PricingPodPriceResponse{Price: price}, nil
}

// window is the length in hours of a pricing window; both ends are required.
func window(start, end *timestamppb.Timestamp) (float64, error) {
	if start == nil || end == nil {
		return 0, Errorf(ErrInvalid, "pricing: startTimestamp and endTimestamp are required")
	}
	return Hours(start.AsTime(), end.AsTime())
}
