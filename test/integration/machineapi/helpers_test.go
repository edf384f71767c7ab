package machineapi_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/machineset"
)

// eventually polls cond until it holds, and fails t with what it last said
// if it does not within 20 s.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, string, error)) {
	t.Helper()
	var last string
	var lastErr error
	err := wait.PollUntilContextTimeout(ctxFor(t), 20*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		ok, said, err := cond(ctx)
		last, lastErr = said, err
		return ok && err == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: not within 20s; last saw %s (error: %v)", what, last, lastErr)
	}
}

// sorted returns the platform's instances of pool in id order.
func sorted(t *testing.T, p *machineset.Platform, pool *carvev1.NodePool) []cloudprovider.Instance {
	t.Helper()
	ins, err := p.Instances(ctxFor(t), pool)
	if err != nil {
		t.Fatalf("Instances(%s): %v", pool.Name, err)
	}
	slices.SortFunc(ins, func(a, b cloudprovider.Instance) int { return strings.Compare(a.ID, b.ID) })
	return ins
}

func describe(ins []cloudprovider.Instance) string {
	var b strings.Builder
	for _, in := range ins {
		fmt.Fprintf(&b, "[%s %s", in.ID, in.State)
		if in.Error != nil {
			fmt.Fprintf(&b, " error %s: %s", in.Error.Code, in.Error.Message)
		}
		b.WriteString("] ")
	}
	return b.String()
}

// liveReplicas reads the set's spec.replicas from the API server.
func (f *flavor) liveReplicas(t *testing.T, pool *carvev1.NodePool) int64 {
	t.Helper()
	u := f.setObj(f.kind.Ref(pool).Name)
	if err := env.cl.Get(ctxFor(t), client.ObjectKeyFromObject(u), u); err != nil {
		t.Fatal(err)
	}
	r, found, err := unstructured.NestedInt64(u.Object, "spec", "replicas")
	if err != nil || !found {
		t.Fatalf("%s %s has no spec.replicas (%v): %v", f.kind.Set.Kind, u.GetName(), err, u.Object["spec"])
	}
	return r
}

// liveMachines lists the set's Machines from the API server.
func (f *flavor) liveMachines(t *testing.T, pool *carvev1.NodePool) []unstructured.Unstructured {
	t.Helper()
	mc := &machineController{f: f, c: env.cl}
	set := f.setObj(f.kind.Ref(pool).Name)
	if err := env.cl.Get(ctxFor(t), client.ObjectKeyFromObject(set), set); err != nil {
		t.Fatal(err)
	}
	ms, err := mc.machines(ctxFor(t), set)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// running grows a new pool of f to n running instances.
func (f *flavor) running(t *testing.T, p *machineset.Platform, n int, annotations map[string]string) (*carvev1.NodePool, []cloudprovider.Instance) {
	t.Helper()
	pool := f.newSet(t, annotations)
	if err := p.Create(ctxFor(t), pool, n); err != nil {
		t.Fatalf("Create(%s, %d): %v", pool.Name, n, err)
	}
	(&machineController{f: f, c: env.cl}).boot(t, pool)
	var ins []cloudprovider.Instance
	eventually(t, fmt.Sprintf("%d running in %s", n, pool.Name), func(ctx context.Context) (bool, string, error) {
		ins = sorted(t, p, pool)
		ok := len(ins) == n
		for _, in := range ins {
			ok = ok && in.State == cloudprovider.StateRunning
		}
		return ok, describe(ins), nil
	})
	return pool, ins
}

// attempts records what a platform's Observe is told.
type attempts struct {
	mu  sync.Mutex
	all []attempt
}

type attempt struct {
	op  string
	n   int
	err error
}

func (a *attempts) observe(op string, n int, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.all = append(a.all, attempt{op, n, err})
}

// of returns the attempts of ops starting with prefix.
func (a *attempts) of(prefix string) []attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []attempt
	for _, at := range a.all {
		if strings.HasPrefix(at.op, prefix) {
			out = append(out, at)
		}
	}
	return out
}
