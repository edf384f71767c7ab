// Package machineapi_test drives carve's OpenShift and Cluster API
// platforms (packages openshift, clusterapi, machineset) with the real
// controller-runtime client against a real kube-apiserver and etcd, with
// the Machine API CRDs of testdata/ installed. A small machine controller
// (controller_test.go) plays the part of OpenShift's and Cluster API's: it
// creates Machines for a set's replicas, gives them providerIDs and Nodes,
// and deletes the Machines annotated for deletion first on a scale-down.
package machineapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/carve-dev/carve/test/framework"
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
	if err := installCRDs(ctx, c.Config, "testdata"); err != nil {
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

// installCRDs creates every CRD in dir and waits until each is established.
func installCRDs(ctx context.Context, cfg *rest.Config, dir string) error {
	c, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRDs in %s: %v", dir, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096).Decode(crd); err != nil {
			return fmt.Errorf("decoding %s: %w", f, err)
		}
		if _, err := c.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating CRD %s: %w", crd.Name, err)
		}
		err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			got, err := c.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("waiting for CRD %s: %w", crd.Name, err)
		}
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
