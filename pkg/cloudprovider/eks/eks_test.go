package eks

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider/cloudcall"
	"github.com/carve-dev/carve/pkg/cloudprovider/conformance"
	"github.com/carve-dev/carve/pkg/cloudprovider/eks/asgserver"
)

const region = asgserver.Region

// env is a platform driving the real SDK client against a wire server.
type env struct {
	srv *asgserver.Server
	p   *Platform
	n   atomic.Int32
}

// fastRetries keeps cloudcall's policy (attempts, deadline margin) but
// backs off in milliseconds.
var fastRetries = cloudcall.Policy{Base: time.Millisecond, Max: 5 * time.Millisecond}

func newEnv(t *testing.T, opts ...Option) *env {
	t.Helper()
	srv := asgserver.New(t)
	creds := credentials.NewStaticCredentialsProvider(srv.AccessKeyID, srv.SecretAccessKey, "")
	p, err := New(context.Background(), append([]Option{WithEndpoint(srv.URL, creds), WithPolicy(fastRetries)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, p: p}
}

func poolFor(name, group string) *carvev1.NodePool {
	return &carvev1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: carvev1.NodePoolSpec{
			Role: carvev1.NodePoolRoleCPU, MaxSize: 10,
			Platform: carvev1.Platform{Type: carvev1.PlatformEKS, EKS: &carvev1.EKSPlatform{Region: region, AutoScalingGroup: group}},
		},
	}
}

// group makes a new group on the server and the pool backed by it.
func (e *env) group(spec asgserver.GroupSpec) *carvev1.NodePool {
	n := e.n.Add(1)
	if spec.Name == "" {
		spec.Name = fmt.Sprintf("eks-nodes-%d", n)
	}
	if spec.MaxSize == 0 {
		spec.MaxSize = 10
	}
	e.srv.AddGroup(spec)
	return poolFor(fmt.Sprintf("pool-%d", n), spec.Name)
}

func groupOf(pool *carvev1.NodePool) string { return pool.Spec.Platform.EKS.AutoScalingGroup }

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConformance(t *testing.T) {
	e := newEnv(t)
	conformance.Run(t, conformance.Backend{
		Platform:    e.p,
		NewPool:     func(*testing.T) *carvev1.NodePool { return e.group(asgserver.GroupSpec{}) },
		MissingPool: func(*testing.T) *carvev1.NodePool { return poolFor("missing", "no-such-group") },
		Boot:        func(_ *testing.T, pool *carvev1.NodePool) { e.srv.Settle(region, groupOf(pool)) },
	})
}
