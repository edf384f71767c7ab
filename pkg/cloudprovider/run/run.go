package run

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/aks"
	"github.com/carve-dev/carve/pkg/cloudprovider/clusterapi"
	"github.com/carve-dev/carve/pkg/cloudprovider/eks"
	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
	"github.com/carve-dev/carve/pkg/cloudprovider/kwok"
	"github.com/carve-dev/carve/pkg/cloudprovider/openshift"
	"github.com/carve-dev/carve/pkg/cloudprovider/poolstatus"
	"github.com/carve-dev/carve/pkg/cloudprovider/server"
	"github.com/carve-dev/carve/pkg/util/kubeevents"
)

// Options says where and how to serve.
type Options struct {
	// Address is host:port to listen on; port 0 picks a free port.
	Address string
	// TLS is the server's TLS config (see TLSConfig); nil serves plaintext.
	TLS *tls.Config
	// Ready, when set, is called with the bound address once the informers
	// have synced and the listener is open.
	Ready func(net.Addr)
	// ServerOptions are added to the gRPC server's (tests use them to hook
	// into a deletion).
	ServerOptions []server.ServerOption
	// KwokBootDelay is how long a new kwok instance boots before its Node
	// appears (kwok.WithBootDelay); 0 creates the Node at once.
	KwokBootDelay time.Duration
	// Platforms are the platform types served; nil means all of them
	// (AllPlatforms). A NodePool of a type not served is not offered to the
	// autoscaler, and its Ready condition says so.
	Platforms []carvev1.PlatformType
}

// AllPlatforms are the platform types carve-cloudprovider can serve.
var AllPlatforms = []carvev1.PlatformType{carvev1.PlatformKwok, carvev1.PlatformEKS, carvev1.PlatformAKS, carvev1.PlatformOpenShift, carvev1.PlatformClusterAPI}

// ParsePlatforms reads a comma-separated list of platform types
// ("Kwok,EKS"), matching case-insensitively; "" means all of them.
func ParsePlatforms(list string) ([]carvev1.PlatformType, error) {
	if strings.TrimSpace(list) == "" {
		return AllPlatforms, nil
	}
	var out []carvev1.PlatformType
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(AllPlatforms, func(t carvev1.PlatformType) bool { return strings.EqualFold(string(t), name) })
		if i < 0 {
			return nil, fmt.Errorf("unknown platform %q: want a comma-separated list of %v", name, AllPlatforms)
		}
		if !slices.Contains(out, AllPlatforms[i]) {
			out = append(out, AllPlatforms[i])
		}
	}
	return out, nil
}

// platforms builds the backends of the served platform types.
//
// The Machine API platforms start their informers on their first call for a
// pool, so serving them costs nothing in a cluster without those APIs (their
// pools are NotFound there).
func platforms(ctx context.Context, cfg *rest.Config, o Options, live client.Client, informers cache.Informers, nodes *cloudprovider.PoolNodes) (map[carvev1.PlatformType]cloudprovider.Platform, error) {
	served := o.Platforms
	if served == nil {
		served = AllPlatforms
	}
	out := map[carvev1.PlatformType]cloudprovider.Platform{}
	for _, t := range served {
		switch t {
		case carvev1.PlatformKwok:
			out[t] = kwok.New(live, nodes, kwok.WithBootDelay(o.KwokBootDelay))
		case carvev1.PlatformEKS:
			p, err := eks.New(ctx)
			if err != nil {
				return nil, fmt.Errorf("setting up the EKS platform: %w", err)
			}
			out[t] = p
		case carvev1.PlatformAKS:
			p, err := aks.New(aks.Options{})
			if err != nil && o.Platforms == nil {
				// Not asked for by name: serve the others.
				klog.FromContext(ctx).Info("Not serving AKS pools: no Azure credential", "err", err)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("setting up the AKS platform: %w", err)
			}
			out[t] = p
		case carvev1.PlatformOpenShift:
			out[t] = openshift.New(ctx, cfg, live, informers)
		case carvev1.PlatformClusterAPI:
			out[t] = clusterapi.New(ctx, cfg, live, informers)
		default:
			return nil, fmt.Errorf("platform %s is not available in this build", t)
		}
	}
	return out, nil
}

// gracePeriod bounds how long in-flight calls may finish on shutdown.
const gracePeriod = 10 * time.Second

// Scheme has the kinds the provider reads: core and carve's.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := carvev1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Run serves the externalgrpc API until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	log := klog.FromContext(ctx)
	scheme, err := Scheme()
	if err != nil {
		return fmt.Errorf("building the scheme: %w", err)
	}
	informers, err := cache.New(cfg, cacheOptions(scheme))
	if err != nil {
		return fmt.Errorf("creating the informer cache: %w", err)
	}
	for _, obj := range []client.Object{&carvev1.NodePool{}, &corev1.Node{}} {
		if _, err := informers.GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("starting the informer for %T: %w", obj, err)
		}
	}
	// The platforms read Nodes through pools, which keeps them grouped by
	// pool: they list a pool's Nodes for every pool in every autoscaler loop.
	pools, err := cloudprovider.NewPoolNodes(ctx, informers)
	if err != nil {
		return err
	}
	cacheErr := make(chan error, 1)
	go func() { cacheErr <- informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) || !toolscache.WaitForCacheSync(ctx.Done(), pools.HasSynced) {
		return fmt.Errorf("waiting for the NodePool and Node informers to sync: %w", errors.Join(ctx.Err(), context.Cause(ctx)))
	}
	live, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("creating the API client: %w", err)
	}
	platforms, err := platforms(ctx, cfg, o, live, informers, pools)
	if err != nil {
		return err
	}
	recorder, err := kubeevents.Start(ctx, cfg, scheme, ReportingController)
	if err != nil {
		return err
	}
	outcomes := server.NewScaleOutcomes()
	srv := server.NewServer(informers, live, platforms,
		append([]server.ServerOption{server.WithRecorder(recorder), server.WithOutcomes(outcomes)}, o.ServerOptions...)...)
	status := poolstatus.NewWriter(informers, informers, live, platforms, outcomes)
	go func() {
		if err := status.Start(ctx); err != nil {
			log.Error(err, "NodePool status writer stopped")
		}
	}()

	lis, err := net.Listen("tcp", o.Address)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.Address, err)
	}
	creds := insecure.NewCredentials()
	if o.TLS != nil {
		creds = credentials.NewTLS(o.TLS)
	}
	gs := grpc.NewServer(grpc.Creds(creds))
	externalgrpc.RegisterCloudProviderServer(gs, srv)

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		done := make(chan struct{})
		go func() { gs.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(gracePeriod):
			gs.Stop()
		}
	}()
	log.Info("Serving the externalgrpc cloud provider", "address", lis.Addr().String(), "tls", o.TLS != nil)
	if o.Ready != nil {
		o.Ready(lis.Addr())
	}
	if err := gs.Serve(lis); err != nil {
		return fmt.Errorf("serving gRPC on %s: %w", lis.Addr(), err)
	}
	<-stopped
	select {
	case err := <-cacheErr:
		if err != nil {
			return fmt.Errorf("informer cache: %w", err)
		}
	case <-time.After(gracePeriod):
	}
	return nil
}
