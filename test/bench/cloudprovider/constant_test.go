package cloudprovider

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"

	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
	"github.com/carve-dev/carve/pkg/cloudprovider/kwok"
)

// constant is the comparison: it answers each measured RPC with a response
// built once, of the same shape and size as carve's. Its NodeGroupNodes
// lists the nodesPerPool instances of pool-00 exactly as carve lists them,
// so both servers marshal, send and the client decodes the same bytes; what
// carve takes beyond it is finding the pool and its nodes.
type constant struct {
	externalgrpc.UnimplementedCloudProviderServer

	group *externalgrpc.NodeGroupForNodeResponse
	nodes *externalgrpc.NodeGroupNodesResponse
	size  *externalgrpc.NodeGroupTargetSizeResponse
}

func newConstant() *constant {
	pool := poolName(0)
	c := &constant{
		group: &externalgrpc.NodeGroupForNodeResponse{NodeGroup: &externalgrpc.NodeGroup{
			Id: pool, MinSize: 0, MaxSize: 2 * nodesPerPool, Debug: fmt.Sprintf("NodePool %s (role CPU, platform Kwok)", pool),
		}},
		nodes: &externalgrpc.NodeGroupNodesResponse{},
		size:  &externalgrpc.NodeGroupTargetSizeResponse{TargetSize: nodesPerPool},
	}
	for i := range nodesPerPool {
		c.nodes.Instances = append(c.nodes.Instances, &externalgrpc.Instance{
			Id:     kwok.ProviderID(pool, nodeName(pool, i)),
			Status: &externalgrpc.InstanceStatus{InstanceState: externalgrpc.InstanceStatus_instanceRunning},
		})
	}
	return c
}

func (c *constant) NodeGroupForNode(context.Context, *externalgrpc.NodeGroupForNodeRequest) (*externalgrpc.NodeGroupForNodeResponse, error) {
	return c.group, nil
}

func (c *constant) NodeGroupNodes(context.Context, *externalgrpc.NodeGroupNodesRequest) (*externalgrpc.NodeGroupNodesResponse, error) {
	return c.nodes, nil
}

func (c *constant) NodeGroupTargetSize(context.Context, *externalgrpc.NodeGroupTargetSizeRequest) (*externalgrpc.NodeGroupTargetSizeResponse, error) {
	return c.size, nil
}

// serveConstant serves constant on a loopback port, plaintext, as run.Run
// serves carve's server, until ctx ends.
func serveConstant(ctx context.Context) (net.Addr, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the constant server: %w", err)
	}
	gs := grpc.NewServer()
	externalgrpc.RegisterCloudProviderServer(gs, newConstant())
	go func() { _ = gs.Serve(lis) }()
	go func() {
		<-ctx.Done()
		gs.Stop()
	}()
	return lis.Addr(), nil
}
