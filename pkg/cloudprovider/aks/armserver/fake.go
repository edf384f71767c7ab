package armserver

import (
	"context"
	"net/http"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6/fake"
)

// FakeClientOptions serve the cloud through the SDK's fake server
// factories: the real clients, pollers and pagers over an in-process
// transport. Operations end when they are accepted; machines still come
// up only on Boot. The cloud is served this way only (calling it makes
// every operation end at once).
func (c *Cloud) FakeClientOptions() arm.ClientOptions {
	c.mu.Lock()
	c.immediate = true
	c.mu.Unlock()
	return arm.ClientOptions{
		ClientOptions:         azcore.ClientOptions{Transport: &serialized{next: fake.NewServerFactoryTransport(c.ServerFactory())}},
		DisableRPRegistration: true,
	}
}

// serialized answers one request at a time: the fakes keep the pager or
// poller of a URL in a map, unlocked, so two lists of the same pool at
// once would share (and race on) one pager.
type serialized struct {
	mu   sync.Mutex
	next interface {
		Do(*http.Request) (*http.Response, error)
	}
}

func (s *serialized) Do(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next.Do(req)
}

// ServerFactory is the cloud as the SDK's fake servers.
func (c *Cloud) ServerFactory() *fake.ServerFactory {
	return &fake.ServerFactory{
		AgentPoolsServer: fake.AgentPoolsServer{
			Get: func(_ context.Context, rg, clusterName, name string, _ *armcontainerservice.AgentPoolsClientGetOptions) (resp azfake.Responder[armcontainerservice.AgentPoolsClientGetResponse], errResp azfake.ErrorResponder) {
				ap, err := c.Get(FakeSubscription, rg, clusterName, name)
				if err != nil {
					errResp.SetResponseError(err.Status, err.Code)
					return
				}
				resp.SetResponse(http.StatusOK, armcontainerservice.AgentPoolsClientGetResponse{AgentPool: ap}, nil)
				return
			},
			NewListPager: func(rg, clusterName string, _ *armcontainerservice.AgentPoolsClientListOptions) (resp azfake.PagerResponder[armcontainerservice.AgentPoolsClientListResponse]) {
				aps, err := c.List(FakeSubscription, rg, clusterName)
				if err != nil {
					resp.AddResponseError(err.Status, err.Code)
					return
				}
				resp.AddPage(http.StatusOK, armcontainerservice.AgentPoolsClientListResponse{AgentPoolListResult: armcontainerservice.AgentPoolListResult{Value: aps}}, nil)
				return
			},
			BeginCreateOrUpdate: func(_ context.Context, rg, clusterName, name string, body armcontainerservice.AgentPool, opts *armcontainerservice.AgentPoolsClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armcontainerservice.AgentPoolsClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
				ifMatch := ""
				if opts != nil && opts.IfMatch != nil {
					ifMatch = *opts.IfMatch
				}
				ap, _, err := c.Put(FakeSubscription, rg, clusterName, name, body, ifMatch)
				if err != nil {
					errResp.SetResponseError(err.Status, err.Code)
					return
				}
				resp.SetTerminalResponse(http.StatusOK, armcontainerservice.AgentPoolsClientCreateOrUpdateResponse{AgentPool: ap}, nil)
				return
			},
			BeginDeleteMachines: func(_ context.Context, rg, clusterName, name string, machines armcontainerservice.AgentPoolDeleteMachinesParameter, _ *armcontainerservice.AgentPoolsClientBeginDeleteMachinesOptions) (resp azfake.PollerResponder[armcontainerservice.AgentPoolsClientDeleteMachinesResponse], errResp azfake.ErrorResponder) {
				var names []string
				for _, n := range machines.MachineNames {
					if n != nil {
						names = append(names, *n)
					}
				}
				if _, err := c.DeleteMachines(FakeSubscription, rg, clusterName, name, names); err != nil {
					errResp.SetResponseError(err.Status, err.Code)
					return
				}
				resp.SetTerminalResponse(http.StatusAccepted, armcontainerservice.AgentPoolsClientDeleteMachinesResponse{}, nil)
				return
			},
		},
		MachinesServer: fake.MachinesServer{
			NewListPager: func(rg, clusterName, name string, _ *armcontainerservice.MachinesClientListOptions) (resp azfake.PagerResponder[armcontainerservice.MachinesClientListResponse]) {
				ms, err := c.Machines(FakeSubscription, rg, clusterName, name)
				if err != nil {
					resp.AddResponseError(err.Status, err.Code)
					return
				}
				resp.AddPage(http.StatusOK, armcontainerservice.MachinesClientListResponse{MachineListResult: armcontainerservice.MachineListResult{Value: ms}}, nil)
				return
			},
		},
	}
}

// FakeSubscription is the one subscription the fake front-end serves: the
// fakes do not pass the client's subscription to the server functions.
const FakeSubscription = "00000000-0000-0000-0000-000000000001"
