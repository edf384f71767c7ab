package machineapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/clusterapi"
	"github.com/carve-dev/carve/pkg/cloudprovider/machineset"
	"github.com/carve-dev/carve/pkg/cloudprovider/openshift"
	"github.com/carve-dev/carve/test/framework"
)

// TestDocumentedRBACIsEnough runs each platform as carve-cloudprovider's
// ServiceAccount holding only the rules its page in docs/platforms grants
// (the chart's own grant of Nodes aside, which the platforms read through
// carve-cloudprovider's cache): scaling up, listing, deleting a node all
// work. Before the rules are applied, the same identity is forbidden, so
// the impersonation is real.
func TestDocumentedRBACIsEnough(t *testing.T) {
	for _, tc := range []struct {
		f   *flavor
		doc string
		new func(life context.Context, cfg *rest.Config, c client.Client) *machineset.Platform
	}{
		{openShiftFlavor(), "openshift.md", func(life context.Context, cfg *rest.Config, c client.Client) *machineset.Platform {
			return openshift.New(life, cfg, c, env.nodes, fastRetries)
		}},
		{capiDeploymentFlavor(), "clusterapi.md", func(life context.Context, cfg *rest.Config, c client.Client) *machineset.Platform {
			return clusterapi.New(life, cfg, c, env.nodes, fastRetries)
		}},
	} {
		t.Run(tc.f.name, func(t *testing.T) {
			objs := documentedRBAC(t, filepath.Join(framework.RepoRoot(), "docs", "platforms", tc.doc))
			cfg := rest.CopyConfig(env.cfg)
			cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:carve-system:carve-cloudprovider"}
			c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
			if err != nil {
				t.Fatal(err)
			}
			admin := tc.f.newPlatform(env.cl)
			pool, ins := tc.f.running(t, admin, 1, nil)

			// Its informers stop with the test.
			denied := tc.new(ctxFor(t), cfg, c)
			start := time.Now()
			if err := denied.Create(ctxFor(t), pool, 1); err == nil || !strings.Contains(err.Error(), "forbidden") {
				t.Fatalf("Create as the ServiceAccount before its rules = %v, want forbidden", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the forbidden Create took %v: a missing permission must be reported, not waited out", d)
			}
			for _, o := range objs {
				if err := env.cl.Create(ctxFor(t), o); err != nil && !apierrors.IsAlreadyExists(err) {
					t.Fatalf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
				}
				t.Cleanup(func() { _ = env.cl.Delete(context.Background(), o) })
			}

			p := tc.new(env.life, cfg, c)
			eventually(t, "the ServiceAccount may scale up", func(ctx context.Context) (bool, string, error) {
				err := p.Create(ctx, pool, 1)
				return err == nil, "", err
			})
			if _, err := p.Instances(ctxFor(t), pool); err != nil {
				t.Fatalf("Instances: %v", err)
			}
			if err := p.Delete(ctxFor(t), pool, []string{ins[0].ID}); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := p.TargetSize(ctxFor(t), tc.f.pool(uniqueName("not-cached"))); !errors.Is(err, cloudprovider.ErrNotFound) {
				t.Fatalf("TargetSize of a set read live = %v, want ErrNotFound (not forbidden)", err)
			}
			if got := tc.f.liveReplicas(t, pool); got != 1 {
				t.Errorf("spec.replicas = %d after +1 and -1 from 1, want 1", got)
			}
		})
	}
}

// documentedRBAC reads the first yaml block of the page's "## Permissions"
// section.
func documentedRBAC(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	block, err := framework.DocYAML(path, "Permissions")
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(block)), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
	if len(out) != 2 {
		t.Fatalf("%s: %d objects under Permissions, want a role and its binding", path, len(out))
	}
	return out
}
