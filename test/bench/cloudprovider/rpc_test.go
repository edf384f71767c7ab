// Package cloudprovider measures the latency of carve-cloudprovider's
// externalgrpc RPCs as cluster-autoscaler calls them, with 50 NodePools of
// 2 000 Nodes each in a real kube-apiserver and etcd. The server runs
// in-process through run.Run, exactly as the binary starts it (its informer
// caches filled from the apiserver); the client is the generated gRPC
// client over a plaintext loopback TCP connection, one call at a time, as
// the autoscaler's loop makes them. A server answering constant responses of
// the same shape, on the same kind of connection, is measured in the same
// run for comparison.
//
//	make bench-cloudprovider   (go test ./test/bench/cloudprovider -bench . -benchtime 3000x -count 5)
package cloudprovider

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if env.cancel != nil {
		env.cancel()
		if env.stopped != nil {
			if err := <-env.stopped; err != nil {
				fmt.Fprintln(os.Stderr, "carve-cloudprovider stopped with:", err)
			}
		}
	}
	if env.cluster != nil {
		_ = env.cluster.Stop()
	}
	os.Exit(code)
}

// rpc makes the i-th call of a measured loop and checks the answer's shape.
type rpc struct {
	name string
	call func(ctx context.Context, c externalgrpc.CloudProviderClient, i int) error
}

var rpcs = []rpc{
	{"NodeGroupForNode", func(ctx context.Context, c externalgrpc.CloudProviderClient, i int) error {
		n := env.nodes[i%len(env.nodes)]
		resp, err := c.NodeGroupForNode(ctx, &externalgrpc.NodeGroupForNodeRequest{Node: n})
		if err == nil && resp.GetNodeGroup().GetId() == "" {
			err = fmt.Errorf("no node group for %s", n.Name)
		}
		return err
	}},
	{"NodeGroupNodes", func(ctx context.Context, c externalgrpc.CloudProviderClient, i int) error {
		id := env.pools[i%len(env.pools)]
		resp, err := c.NodeGroupNodes(ctx, &externalgrpc.NodeGroupNodesRequest{Id: id})
		if err == nil && len(resp.GetInstances()) != nodesPerPool {
			err = fmt.Errorf("%d instances in %s, want %d", len(resp.GetInstances()), id, nodesPerPool)
		}
		return err
	}},
	{"NodeGroupTargetSize", func(ctx context.Context, c externalgrpc.CloudProviderClient, i int) error {
		id := env.pools[i%len(env.pools)]
		resp, err := c.NodeGroupTargetSize(ctx, &externalgrpc.NodeGroupTargetSizeRequest{Id: id})
		if err == nil && resp.GetTargetSize() != nodesPerPool {
			err = fmt.Errorf("target size of %s is %d, want %d", id, resp.GetTargetSize(), nodesPerPool)
		}
		return err
	}},
}

// warmup calls precede each measured loop, so connections, caches and the
// heap are in their steady state.
const warmup = 200

// BenchmarkRPC reports the p50 and p99 latency of each RPC, one call after
// the other (closed loop), for carve and for the constant server; ns/op is
// the mean. Compare with benchstat -col /server.
func BenchmarkRPC(b *testing.B) {
	env.once.Do(func() { env.err = setup() })
	if env.err != nil {
		b.Fatal(env.err)
	}
	servers := []struct {
		name string
		c    externalgrpc.CloudProviderClient
	}{{"carve", env.carve}, {"constant", env.constant}}
	for _, r := range rpcs {
		for _, s := range servers {
			b.Run("rpc="+r.name+"/server="+s.name, func(b *testing.B) {
				ctx := context.Background()
				for i := range warmup {
					if err := r.call(ctx, s.c, i); err != nil {
						b.Fatal(err)
					}
				}
				lat := make([]time.Duration, 0, 1<<16)
				i := 0
				for b.Loop() {
					t := time.Now()
					err := r.call(ctx, s.c, i)
					lat = append(lat, time.Since(t))
					if err != nil {
						b.Fatal(err)
					}
					i++
				}
				slices.Sort(lat)
				b.ReportMetric(micros(percentile(lat, 0.50)), "p50-µs")
				b.ReportMetric(micros(percentile(lat, 0.99)), "p99-µs")
			})
		}
	}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[int(float64(len(sorted)-1)*p)]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
