package aks

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
)

// cloud is the part of the AKS API the backend uses, one method per call,
// so that what carve asks of Azure (and needs permission for) is listed in
// one place. The only implementation is sdkCloud, over the real SDK
// clients; tests point those at a local server.
type cloud interface {
	// listAgentPools is GET …/managedClusters/<c>/agentPools (all pages).
	listAgentPools(ctx context.Context, c clusterRef) ([]*armcontainerservice.AgentPool, error)
	// getAgentPool is GET …/agentPools/<p>.
	getAgentPool(ctx context.Context, p poolRef) (*armcontainerservice.AgentPool, error)
	// putAgentPool is PUT …/agentPools/<p> with If-Match (when etag is set);
	// it returns once Azure has accepted the change.
	putAgentPool(ctx context.Context, p poolRef, ap armcontainerservice.AgentPool, etag *string) (operation, error)
	// deleteMachines is POST …/agentPools/<p>/deleteMachines; it returns
	// once Azure has accepted the request.
	deleteMachines(ctx context.Context, p poolRef, names []string) (operation, error)
	// listMachines is GET …/agentPools/<p>/machines (all pages).
	listMachines(ctx context.Context, p poolRef) ([]*armcontainerservice.Machine, error)
}

// operation is an accepted ARM long-running operation.
type operation interface {
	// poll asks Azure once how the operation is doing.
	poll(ctx context.Context) error
	// done says the operation ended (succeeded, failed or was canceled).
	done() bool
	// result is the error a done operation ended with, nil if it succeeded.
	// A failed operation's error is in the last status poll read; for a
	// succeeded agent pool PUT the SDK reads the agent pool once more.
	result(ctx context.Context) error
}

// clusterRef names a managed cluster.
type clusterRef struct {
	subscription, resourceGroup, cluster string
}

func (c clusterRef) String() string {
	return fmt.Sprintf("%s/%s/%s", c.subscription, c.resourceGroup, c.cluster)
}

// key is how the cache knows the cluster: Azure names are case-insensitive.
func (c clusterRef) key() clusterRef {
	return clusterRef{strings.ToLower(c.subscription), strings.ToLower(c.resourceGroup), strings.ToLower(c.cluster)}
}

// poolRef names an agent pool.
type poolRef struct {
	clusterRef
	agentPool string
}

func (p poolRef) String() string { return p.clusterRef.String() + "/" + p.agentPool }

func (p poolRef) key() poolRef {
	return poolRef{p.clusterRef.key(), strings.ToLower(p.agentPool)}
}

// sdkCloud calls AKS through armcontainerservice, with one client factory
// per subscription (the SDK binds a client to its subscription).
type sdkCloud struct {
	cred azcore.TokenCredential
	opts arm.ClientOptions

	mu        sync.Mutex
	factories map[string]*armcontainerservice.ClientFactory
}

func (s *sdkCloud) factory(subscription string) (*armcontainerservice.ClientFactory, error) {
	key := strings.ToLower(subscription)
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.factories[key]; ok {
		return f, nil
	}
	opts := s.opts
	f, err := armcontainerservice.NewClientFactory(subscription, s.cred, &opts)
	if err != nil {
		return nil, fmt.Errorf("creating AKS clients for subscription %s: %w", subscription, err)
	}
	s.factories[key] = f
	return f, nil
}

func (s *sdkCloud) listAgentPools(ctx context.Context, c clusterRef) ([]*armcontainerservice.AgentPool, error) {
	f, err := s.factory(c.subscription)
	if err != nil {
		return nil, err
	}
	var out []*armcontainerservice.AgentPool
	pager := f.NewAgentPoolsClient().NewListPager(c.resourceGroup, c.cluster, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, tidy(err)
		}
		out = append(out, page.Value...)
	}
	return out, nil
}

func (s *sdkCloud) getAgentPool(ctx context.Context, p poolRef) (*armcontainerservice.AgentPool, error) {
	f, err := s.factory(p.subscription)
	if err != nil {
		return nil, err
	}
	resp, err := f.NewAgentPoolsClient().Get(ctx, p.resourceGroup, p.cluster, p.agentPool, nil)
	if err != nil {
		return nil, tidy(err)
	}
	return &resp.AgentPool, nil
}

func (s *sdkCloud) putAgentPool(ctx context.Context, p poolRef, ap armcontainerservice.AgentPool, etag *string) (operation, error) {
	f, err := s.factory(p.subscription)
	if err != nil {
		return nil, err
	}
	var opts *armcontainerservice.AgentPoolsClientBeginCreateOrUpdateOptions
	if etag != nil && *etag != "" {
		opts = &armcontainerservice.AgentPoolsClientBeginCreateOrUpdateOptions{IfMatch: etag}
	}
	poller, err := f.NewAgentPoolsClient().BeginCreateOrUpdate(ctx, p.resourceGroup, p.cluster, p.agentPool, ap, opts)
	if err != nil {
		return nil, tidy(err)
	}
	return &sdkOperation[armcontainerservice.AgentPoolsClientCreateOrUpdateResponse]{p: poller}, nil
}

func (s *sdkCloud) deleteMachines(ctx context.Context, p poolRef, names []string) (operation, error) {
	f, err := s.factory(p.subscription)
	if err != nil {
		return nil, err
	}
	param := armcontainerservice.AgentPoolDeleteMachinesParameter{MachineNames: make([]*string, len(names))}
	for i := range names {
		param.MachineNames[i] = &names[i]
	}
	poller, err := f.NewAgentPoolsClient().BeginDeleteMachines(ctx, p.resourceGroup, p.cluster, p.agentPool, param, nil)
	if err != nil {
		return nil, tidy(err)
	}
	return &sdkOperation[armcontainerservice.AgentPoolsClientDeleteMachinesResponse]{p: poller}, nil
}

func (s *sdkCloud) listMachines(ctx context.Context, p poolRef) ([]*armcontainerservice.Machine, error) {
	f, err := s.factory(p.subscription)
	if err != nil {
		return nil, err
	}
	var out []*armcontainerservice.Machine
	pager := f.NewMachinesClient().NewListPager(p.resourceGroup, p.cluster, p.agentPool, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, tidy(err)
		}
		out = append(out, page.Value...)
	}
	return out, nil
}

// sdkOperation is an SDK poller. A runtime.Poller is not safe for
// concurrent use; the cache polls each operation from one goroutine at a
// time (operationState.polling).
type sdkOperation[T any] struct {
	p *runtime.Poller[T]
}

func (o *sdkOperation[T]) poll(ctx context.Context) error {
	_, err := o.p.Poll(ctx)
	return tidy(err)
}

func (o *sdkOperation[T]) done() bool { return o.p.Done() }

func (o *sdkOperation[T]) result(ctx context.Context) error {
	_, err := o.p.Result(ctx)
	return tidy(err)
}
