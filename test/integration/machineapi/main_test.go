// Package machineapi_test drives carve's OpenShift and Cluster API
// platforms (packages openshift, clusterapi, machineset) with the real
// controller-runtime client against a real kube-apiserver and etcd, with
// the Machine API CRDs of testdata/ installed. A small machine controller
// (controller_test.go) plays the part of OpenShift's and Cluster API's: it
// creates Machines for a set's replicas, gives them providerIDs and Nodes,
// and deletes the Machines annotated for deletion first on a scale-down.
package machineapi_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/carve-dev/carve/test/framework"
	"github.com/carve-dev/carve/test/framework/carvetest"
)

// env is the control plane the tests share.
var env struct {
	cfg *rest.Config
	// cl is the admin client the tests and the machine controller use.
	cl client.Client
	// nodes is the informer cache the platforms read Nodes from, as
	// carve-cloudprovider's.
	nodes cache.Cache
	// life ends with the test binary; the platforms' informers live as
	// long.
	life context.Context
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctrllog.SetLogger(klog.NewKlogr())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := framework.Start(ctx, framework.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting control plane:", err)
		return 1
	}
	defer c.Stop()
	if err := setup(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "setting up:", err)
		return 1
	}
	return m.Run()
}

func setup(ctx context.Context, c *framework.Cluster) error {
	env.cfg, env.life = c.Config, ctx
	var err error
	if env.cl, err = client.New(c.Config, client.Options{Scheme: clientgoscheme.Scheme}); err != nil {
		return err
	}
	if err := carvetest.InstallCRDsFrom(ctx, c.Config, "testdata"); err != nil {
		return err
	}
	for _, ns := range []string{openshiftNamespace, capiNamespace} {
		if err := env.cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	if env.nodes, err = cache.New(c.Config, cache.Options{Scheme: clientgoscheme.Scheme}); err != nil {
		return err
	}
	if _, err := env.nodes.GetInformer(ctx, &corev1.Node{}, cache.BlockUntilSynced(false)); err != nil {
		return err
	}
	go func() { _ = env.nodes.Start(ctx) }()
	if !env.nodes.WaitForCacheSync(ctx) {
		return fmt.Errorf("the Node informer did not sync")
	}
	return nil
}

// counted returns a client whose requests add to *n, to measure the API
// calls a platform makes.
func counted(t *testing.T, n *atomic.Int64) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			n.Add(1)
			return rt.RoundTrip(r)
		})
	})
	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
