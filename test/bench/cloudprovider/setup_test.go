package cloudprovider

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
	"github.com/carve-dev/carve/pkg/cloudprovider/kwok"
	"github.com/carve-dev/carve/pkg/cloudprovider/run"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/test/framework"
	"github.com/carve-dev/carve/test/framework/carvetest"
)

const (
	pools        = 50
	nodesPerPool = 2000
	// createWorkers is how many Node creates are in flight at once: enough
	// to keep the apiserver busy on two cores, few enough not to queue.
	createWorkers = 32
)

// env is built once per process (setup) and shared by every benchmark and
// every -count repetition.
var env struct {
	once    sync.Once
	err     error
	cluster *framework.Cluster
	cancel  context.CancelFunc
	stopped chan error

	pools []string
	// nodes are the ExternalGrpcNodes the autoscaler would send for some of
	// the Nodes, in a fixed random order, with the pool each belongs to.
	nodes     []*externalgrpc.ExternalGrpcNode
	nodePools []string

	carve, constant externalgrpc.CloudProviderClient
}

func poolName(i int) string { return fmt.Sprintf("pool-%02d", i) }

func nodeName(pool string, i int) string { return fmt.Sprintf("%s-%05d", pool, i) }

// setup starts the control plane, fills it with pools×nodesPerPool Nodes,
// starts carve-cloudprovider (run.Run, as the binary does) and the constant
// server, and connects a gRPC client to each. Its phases' durations go to
// stderr, capitalised so that benchstat does not read them as configuration.
func setup() error {
	ctrllog.SetLogger(klog.NewKlogr())
	ctx, cancel := context.WithCancel(context.Background())
	env.cancel = cancel
	phase := phaseTimer()

	// CARVE_BENCH_CLUSTER_DIR keeps etcd's data between runs, so that a
	// second run skips creating the Nodes.
	c, err := framework.Start(ctx, framework.Options{Dir: os.Getenv("CARVE_BENCH_CLUSTER_DIR")})
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	env.cluster = c
	if err := carvetest.InstallCRDs(ctx, c.Config); err != nil {
		return err
	}
	phase("control plane started, CRDs installed")

	if err := createObjects(ctx, c.Config); err != nil {
		return err
	}
	phase(fmt.Sprintf("%d NodePools and %d Nodes in place", pools, pools*nodesPerPool))

	addr := make(chan net.Addr, 1)
	env.stopped = make(chan error, 1)
	go func() {
		env.stopped <- run.Run(ctx, c.Config, run.Options{Address: "127.0.0.1:0", Ready: func(a net.Addr) { addr <- a }})
	}()
	var carveAddr net.Addr
	select {
	case carveAddr = <-addr:
	case err := <-env.stopped:
		return fmt.Errorf("carve-cloudprovider stopped before it was ready: %w", err)
	case <-time.After(5 * time.Minute):
		return errors.New("carve-cloudprovider was not ready within 5 minutes")
	}
	phase("carve-cloudprovider ready (informers synced)")
	if err := waitStatuses(ctx, c.Config); err != nil {
		return err
	}
	phase("every NodePool status written")
	if err := waitQuiet(ctx); err != nil {
		return fmt.Errorf("waiting for carve-cloudprovider to go quiet: %w", err)
	}
	phase("carve-cloudprovider quiet")
	// The informers' Nodes share this process's heap with both servers and
	// the client: its size sets how much each garbage collection marks.
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(os.Stderr, "Setup, live heap: %d MiB\n", ms.HeapAlloc>>20)

	constAddr, err := serveConstant(ctx)
	if err != nil {
		return err
	}
	if env.carve, err = dial(carveAddr); err != nil {
		return err
	}
	if env.constant, err = dial(constAddr); err != nil {
		return err
	}
	env.nodes, env.nodePools = sampleNodes(4096)
	return checkAnswers(ctx)
}

func phaseTimer() func(string) {
	start, last := time.Now(), time.Now()
	return func(what string) {
		now := time.Now()
		fmt.Fprintf(os.Stderr, "Setup, %s: %.1fs (%.1fs in all)\n", what, now.Sub(last).Seconds(), now.Sub(start).Seconds())
		last = now
	}
}

// dial connects as cluster-autoscaler's externalgrpc provider does without a
// cert in its cloud-config: one plaintext HTTP/2 connection over TCP.
func dial(a net.Addr) (externalgrpc.CloudProviderClient, error) {
	conn, err := grpc.NewClient(a.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", a, err)
	}
	return externalgrpc.NewCloudProviderClient(conn), nil
}

// createObjects creates the pools and their Nodes, as kwok's platform would
// make them (kwok.Platform.TemplateNode) but already Ready, many at a time
// over protobuf and without client-side rate limits.
func createObjects(ctx context.Context, cfg *rest.Config) error {
	scheme, err := run.Scheme()
	if err != nil {
		return err
	}
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	fast := rest.CopyConfig(cfg)
	fast.QPS, fast.Burst = 1e5, 1e5
	fast.ContentType = "application/vnd.kubernetes.protobuf"
	k8s, err := kubernetes.NewForConfig(fast)
	if err != nil {
		return err
	}
	templates := kwok.New(nil, nil)
	var all []*carvev1.NodePool
	for i := range pools {
		p := ut.MakeNodePool(poolName(i), carvev1.NodePoolRoleCPU, 0, 2*nodesPerPool, "16", "64Gi").Obj()
		all = append(all, p)
		env.pools = append(env.pools, p.Name)
	}
	if done, err := created(ctx, cl, k8s); done || err != nil {
		return err
	}
	for _, p := range all {
		if err := cl.Create(ctx, p); err != nil {
			return fmt.Errorf("creating NodePool %s: %w", p.Name, err)
		}
	}

	work := make(chan *corev1.Node, createWorkers)
	errs := make(chan error, createWorkers)
	var wg sync.WaitGroup
	for range createWorkers {
		wg.Go(func() {
			for n := range work {
				if _, err := k8s.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
					errs <- fmt.Errorf("creating Node %s: %w", n.Name, err)
					return
				}
			}
		})
	}
	var sendErr error
send:
	for i := range nodesPerPool {
		for j, p := range all {
			n := templates.TemplateNode(p, nodeName(p.Name, i))
			n.Status.Conditions = []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
			}}
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.%d.%d.%d", j, i/250, i%250)}}
			select {
			case work <- n:
			case sendErr = <-errs:
				break send
			}
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	return errors.Join(sendErr, <-errs)
}

// created tells whether an earlier run left every pool and Node in place
// (see CARVE_BENCH_CLUSTER_DIR); anything else than none or all of them is
// an error.
func created(ctx context.Context, cl client.Client, k8s kubernetes.Interface) (bool, error) {
	list := &carvev1.NodePoolList{}
	if err := cl.List(ctx, list); err != nil {
		return false, fmt.Errorf("listing NodePools: %w", err)
	}
	// A list of one item tells how many remain, without reading them.
	nodes, err := k8s.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return false, fmt.Errorf("counting Nodes: %w", err)
	}
	n := int64(len(nodes.Items))
	if r := nodes.RemainingItemCount; r != nil {
		n += *r
	}
	switch {
	case len(list.Items) == 0 && n == 0:
		return false, nil
	case len(list.Items) == pools && n == pools*nodesPerPool:
		return true, nil
	}
	return false, fmt.Errorf("the cluster holds %d NodePools and %d Nodes, neither none nor all of them: start from an empty folder", len(list.Items), n)
}

// waitStatuses waits until carve-cloudprovider's status writer has written
// every pool's sizes.
func waitStatuses(ctx context.Context, cfg *rest.Config) error {
	scheme, err := run.Scheme()
	if err != nil {
		return err
	}
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, time.Second, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		list := &carvev1.NodePoolList{}
		if err := cl.List(ctx, list); err != nil {
			return false, nil
		}
		for _, p := range list.Items {
			if p.Status.TargetSize != nodesPerPool || p.Status.CurrentSize != nodesPerPool || p.Status.ReadySize != nodesPerPool {
				return false, nil
			}
		}
		return len(list.Items) == pools, nil
	})
}

// sampleNodes is n ExternalGrpcNodes picked at random across all pools, as
// the autoscaler builds them from the Nodes it lists (provider id, name,
// labels, annotations), and the pool of each.
func sampleNodes(n int) ([]*externalgrpc.ExternalGrpcNode, []string) {
	templates := kwok.New(nil, nil)
	rnd := rand.New(rand.NewPCG(1, 2))
	nodes, owners := make([]*externalgrpc.ExternalGrpcNode, n), make([]string, n)
	for i := range nodes {
		pool := ut.MakeNodePool(poolName(rnd.IntN(pools)), carvev1.NodePoolRoleCPU, 0, 2*nodesPerPool, "16", "64Gi").Obj()
		node := templates.TemplateNode(pool, nodeName(pool.Name, rnd.IntN(nodesPerPool)))
		nodes[i] = &externalgrpc.ExternalGrpcNode{ProviderID: node.Spec.ProviderID, Name: node.Name, Labels: node.Labels, Annotations: node.Annotations}
		owners[i] = pool.Name
	}
	return nodes, owners
}

// checkAnswers makes sure carve-cloudprovider answers what the data says
// before anything is measured: the measured loops check only the answers'
// shape, the same for both servers.
func checkAnswers(ctx context.Context) error {
	for i, n := range env.nodes {
		resp, err := env.carve.NodeGroupForNode(ctx, &externalgrpc.NodeGroupForNodeRequest{Node: n})
		if err != nil {
			return fmt.Errorf("NodeGroupForNode(%s): %w", n.Name, err)
		}
		if got := resp.GetNodeGroup().GetId(); got != env.nodePools[i] {
			return fmt.Errorf("NodeGroupForNode(%s) = %q, want %q", n.Name, got, env.nodePools[i])
		}
	}
	for _, p := range env.pools {
		nodes, err := env.carve.NodeGroupNodes(ctx, &externalgrpc.NodeGroupNodesRequest{Id: p})
		if err != nil {
			return fmt.Errorf("NodeGroupNodes(%s): %w", p, err)
		}
		running := map[string]bool{}
		for _, in := range nodes.GetInstances() {
			running[in.GetId()] = in.GetStatus().GetInstanceState() == externalgrpc.InstanceStatus_instanceRunning
		}
		for i := range nodesPerPool {
			if id := kwok.ProviderID(p, nodeName(p, i)); !running[id] {
				return fmt.Errorf("NodeGroupNodes(%s) does not list %s as running", p, id)
			}
		}
		if len(nodes.GetInstances()) != nodesPerPool {
			return fmt.Errorf("NodeGroupNodes(%s) lists %d instances, want %d", p, len(nodes.GetInstances()), nodesPerPool)
		}
		size, err := env.carve.NodeGroupTargetSize(ctx, &externalgrpc.NodeGroupTargetSizeRequest{Id: p})
		if err != nil {
			return fmt.Errorf("NodeGroupTargetSize(%s): %w", p, err)
		}
		if size.GetTargetSize() != nodesPerPool {
			return fmt.Errorf("NodeGroupTargetSize(%s) = %d, want %d", p, size.GetTargetSize(), nodesPerPool)
		}
	}
	return nil
}

// waitQuiet waits until this process has gone quiet: less than 1 MiB
// allocated in a second. The status writer's own writes make it sync every
// pool once more after waitStatuses, and each sync lists the pool's Nodes
// from the cache; measured alongside, that work would count as carve's
// latency.
func waitQuiet(ctx context.Context) error {
	var last uint64
	return wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(context.Context) (bool, error) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		quiet := last != 0 && ms.TotalAlloc-last < 1<<20
		last = ms.TotalAlloc
		return quiet, nil
	})
}
