package server

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
)

// NodeGroupTemplateNodeInfo answers a protobuf-marshalled v1.Node built from
// the pool's template (see cloudprovider.TemplateNode).
func (s *Server) NodeGroupTemplateNodeInfo(ctx context.Context, req *externalgrpc.NodeGroupTemplateNodeInfoRequest) (*externalgrpc.NodeGroupTemplateNodeInfoResponse, error) {
	pool, p, err := s.group(ctx, req.GetId())
	if err != nil {
		return nil, cloudprovider.Status(err)
	}
	b, err := cloudprovider.TemplateNode(pool, p).Marshal()
	if err != nil {
		return nil, cloudprovider.Status(fmt.Errorf("marshalling the template node of node group %s: %w", pool.Name, err))
	}
	return &externalgrpc.NodeGroupTemplateNodeInfoResponse{NodeBytes: b}, nil
}

// GPULabel is LabelAccelerator: only nodes of GPU pools carry it.
func (s *Server) GPULabel(context.Context, *externalgrpc.GPULabelRequest) (*externalgrpc.GPULabelResponse, error) {
	return &externalgrpc.GPULabelResponse{Label: cloudprovider.LabelAccelerator}, nil
}

// GetAvailableGPUTypes lists the GPU types (cloudprovider.LabelAccelerator values) of the
// GPU pools.
func (s *Server) GetAvailableGPUTypes(ctx context.Context, _ *externalgrpc.GetAvailableGPUTypesRequest) (*externalgrpc.GetAvailableGPUTypesResponse, error) {
	pools, err := s.pools(ctx)
	if err != nil {
		return nil, cloudprovider.Status(err)
	}
	types := map[string]*anypb.Any{}
	for _, p := range pools {
		if p.Spec.Role == carvev1.NodePoolRoleGPU {
			types[cloudprovider.AcceleratorType(p)] = &anypb.Any{}
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
		return nil, cloudprovider.Status(err)
	}
	if pool == nil {
		return nil, cloudprovider.Status(cloudprovider.Errorf(cloudprovider.ErrNotFound, "pricing node %s: it belongs to no node group", req.GetNode().GetName()))
	}
	hours, err := window(req.GetStartTimestamp(), req.GetEndTimestamp())
	if err != nil {
		return nil, cloudprovider.Status(err)
	}
	price, err := cloudprovider.NodePrice(pool, hours)
	if err != nil {
		return nil, cloudprovider.Status(err)
	}
	return &externalgrpc.PricingNodePriceResponse{Price: price}, nil
}

// PricingPodPrice is the pod's share of a node's price (see cloudprovider.PodPrice); the
// pool is that of the node the pod is bound to, if any.
func (s *Server) PricingPodPrice(ctx context.Context, req *externalgrpc.PricingPodPriceRequest) (*externalgrpc.PricingPodPriceResponse, error) {
	pod := &corev1.Pod{}
	if err := pod.Unmarshal(req.GetPodBytes()); err != nil {
		return nil, cloudprovider.Status(cloudprovider.Errorf(cloudprovider.ErrInvalid, "pricing a pod: decoding pod_bytes: %w", err))
	}
	hours, err := window(req.GetStartTimestamp(), req.GetEndTimestamp())
	if err != nil {
		return nil, cloudprovider.Status(err)
	}
	pools, err := s.pools(ctx)
	if err != nil {
		return nil, cloudprovider.Status(err)
	}
	var onPool *carvev1.NodePool
	if node, err := s.cachedNode(ctx, pod.Spec.NodeName); err != nil {
		return nil, cloudprovider.Status(err)
	} else if node != nil {
		onPool, err = s.poolForNode(ctx, &externalgrpc.ExternalGrpcNode{ProviderID: node.Spec.ProviderID, Name: node.Name, Labels: node.Labels})
		if err != nil {
			return nil, cloudprovider.Status(err)
		}
	}
	price, err := cloudprovider.PodPrice(pod, onPool, pools, hours)
	if err != nil {
		return nil, cloudprovider.Status(err)
	}
	return &externalgrpc.PricingPodPriceResponse{Price: price}, nil
}

// window is the length in hours of a pricing window; both ends are required.
func window(start, end *timestamppb.Timestamp) (float64, error) {
	if start == nil || end == nil {
		return 0, cloudprovider.Errorf(cloudprovider.ErrInvalid, "pricing: startTimestamp and endTimestamp are required")
	}
	return cloudprovider.Hours(start.AsTime(), end.AsTime())
}
