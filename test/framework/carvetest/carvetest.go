// Package carvetest runs carve's own parts on a control plane started by
// test/framework: its CRDs and carve-controller, in-process, as they ship.
package carvetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"

	"github.com/carve-dev/carve/pkg/certs"
	"github.com/carve-dev/carve/pkg/controller"
	"github.com/carve-dev/carve/test/framework"
)

// InstallCRDs creates carve's CRDs from manifests/crds and waits until the
// apiserver serves them.
func InstallCRDs(ctx context.Context, cfg *rest.Config) error {
	return InstallCRDsFrom(ctx, cfg, filepath.Join(framework.RepoRoot(), "manifests", "crds"))
}

// InstallCRDsFrom creates every CRD in dir's *.yaml files (one per file; one
// that exists already is kept) and waits until the apiserver serves each.
func InstallCRDsFrom(ctx context.Context, cfg *rest.Config, dir string) error {
	c, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRDs found in %s: %v", dir, err)
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
		if _, err := c.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating CRD %s: %w", crd.Name, err)
		}
		err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
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
			return fmt.Errorf("waiting for CRD %s to be established: %w", crd.Name, err)
		}
	}
	return nil
}

// StartController runs carve-controller in-process, exactly as the binary
// does, with its webhooks registered with the apiserver at a loopback URL
// over TLS, its certificates in a Secret of namespace. It returns once the
// webhooks are registered; the controller stops when ctx ends. Errors after
// start go to errs. edits, if any, change the options first.
func StartController(ctx context.Context, cfg *rest.Config, namespace string, mode controller.PodLevelMode, edits ...func(*controller.Options)) (<-chan error, error) {
	port, err := framework.FreePort()
	if err != nil {
		return nil, err
	}
	o := controller.Options{
		Namespace:              namespace,
		WebhookBindAddress:     "127.0.0.1",
		WebhookPort:            port,
		CertSecret:             "carve-webhook-certs",
		CertPolicy:             certs.DefaultPolicy([]string{"127.0.0.1"}),
		InstallWebhooks:        true,
		PodLevelResources:      mode,
		MetricsBindAddress:     "0",
		HealthProbeBindAddress: "0",
	}
	o.Endpoint.URL = "https://127.0.0.1:" + strconv.Itoa(port)
	for _, e := range edits {
		e(&o)
	}
	ready := make(chan struct{})
	o.Ready = func() { close(ready) }
	errs := make(chan error, 1)
	go func() { errs <- controller.Run(ctx, cfg, o) }()
	select {
	case <-ready:
		return errs, nil
	case err := <-errs:
		return nil, fmt.Errorf("carve-controller stopped before it was ready: %w", err)
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("carve-controller was not ready within 60s")
	}
}
