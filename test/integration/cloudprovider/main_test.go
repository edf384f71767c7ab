// Package cloudprovider_test drives carve-cloudprovider, started in-process
// exactly as the binary starts it (run.Run), through the generated
// externalgrpc client, against a real kube-apiserver, etcd,
// kube-controller-manager and kwok: the nodes it creates are real Node
// objects that kwok makes Ready.
package cloudprovider_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
	"github.com/carve-dev/carve/pkg/cloudprovider/run"
	"github.com/carve-dev/carve/pkg/cloudprovider/server"
	"github.com/carve-dev/carve/test/framework"
	"github.com/carve-dev/carve/test/framework/carvetest"
)

var (
	cluster *framework.Cluster
	cl      client.Client
	cp      externalgrpc.CloudProviderClient
)

// beforePodCheck, when set, runs inside DeleteNodes once a node is tainted
// and before its pods are listed.
var beforePodCheck atomic.Pointer[func(ctx context.Context, node string)]

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctrllog.SetLogger(klog.NewKlogr())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := framework.Start(ctx, framework.Options{ControllerManager: true, Kwok: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting control plane:", err)
		return 1
	}
	defer c.Stop()
	cluster = c
	stopped, err := setup(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "setting up carve-cloudprovider:", err)
		return 1
	}
	code := m.Run()
	cancel()
	if err := <-stopped; err != nil {
		fmt.Fprintln(os.Stderr, "carve-cloudprovider stopped with:", err)
		return 1
	}
	return code
}

func setup(ctx context.Context, c *framework.Cluster) (<-chan error, error) {
	scheme, err := run.Scheme()
	if err != nil {
		return nil, err
	}
	if cl, err = client.New(c.Config, client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}
	if err := carvetest.InstallCRDs(ctx, c.Config); err != nil {
		return nil, err
	}
	addr := make(chan net.Addr, 1)
	stopped := make(chan error, 1)
	go func() {
		stopped <- run.Run(ctx, c.Config, run.Options{Address: "127.0.0.1:0", Ready: func(a net.Addr) { addr <- a },
			// Only kwok: the EKS pool of TestUnservedPoolIsNotReady stands for
			// a platform this carve-cloudprovider does not serve.
			Platforms: []carvev1.PlatformType{carvev1.PlatformKwok},
			ServerOptions: []server.ServerOption{server.WithBeforePodCheck(func(ctx context.Context, node string) {
				if f := beforePodCheck.Load(); f != nil {
					(*f)(ctx, node)
				}
			})}})
	}()
	var a net.Addr
	select {
	case a = <-addr:
	case err := <-stopped:
		return nil, fmt.Errorf("carve-cloudprovider stopped before it was ready: %w", err)
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("carve-cloudprovider was not ready within 60s")
	}
	conn, err := grpc.NewClient(a.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	cp = externalgrpc.NewCloudProviderClient(conn)
	return stopped, nil
}
