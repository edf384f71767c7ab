package webhooks_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"

	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// TestInvalidObjectsAreDenied creates invalid carve objects; each is refused
// by the CRD schema (CEL/OpenAPI) or by carve's webhook, with a message that
// names the field.
func TestInvalidObjectsAreDenied(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		obj  client.Object
		says string
	}{
		{"zero cpu", ut.MakeProfile("bad-cpu", "0", "1Gi").Obj(), "spec.cpu"},
		{"cpu limit below cpu", ut.MakeProfile("bad-burst", "2", "1Gi").CPULimit("1").Obj(), "cpuLimit must not be below cpu"},
		{"gpu count zero", ut.MakeProfile("bad-gpu", "1", "1Gi").GPU(0, "").Obj(), "spec.gpu.count"},
		{"gpu resource shape", ut.MakeProfile("bad-gpu-name", "1", "1Gi").GPU(1, "gpu").Obj(), "spec.gpu.resourceName"},
		{"default not allowed", ut.MakeWorkspace("bad-default", "small").Default("large").Obj(), "defaultProfile must be one of allowedProfiles"},
		{"no profiles", ut.MakeWorkspace("bad-empty").Default("small").Obj(), "allowedProfiles"},
		{"negative quota", ut.MakeWorkspace("bad-quota", "small").Quota("-1", "", "", -1).Obj(), "spec.quota.cpu"},
		{"negative session deadline", ut.MakeWorkspace("bad-deadline", "small").SessionDeadline(-time.Hour, 0).Obj(), "sessionDeadline must not be negative"},
		{"notice without deadline", func() client.Object {
			ws := ut.MakeWorkspace("bad-notice", "small").Obj()
			ws.Spec.Disruption = &carvev1.WorkspaceDisruption{SessionNotice: &metav1.Duration{Duration: time.Hour}}
			return ws
		}(), "sessionNotice needs a sessionDeadline"},
		{"budget of -1 nodes", ut.MakeNodePool("bad-budget", carvev1.NodePoolRoleCPU, 0, 2, "4", "8Gi").Budget(-1).Obj(), "spec.disruption.budget"},
		{"min above max", ut.MakeNodePool("bad-size", carvev1.NodePoolRoleCPU, 3, 2, "4", "8Gi").Obj(), "minSize must not exceed maxSize"},
		{"base pool at zero", ut.MakeNodePool("bad-base", carvev1.NodePoolRoleBase, 0, 2, "4", "8Gi").Obj(), "minSize must be 1 or more"},
		{"gpu pool without gpus", ut.MakeNodePool("bad-gpu-pool", carvev1.NodePoolRoleGPU, 0, 2, "4", "8Gi").Obj(), "GPU pool's template must list its GPUs"},
		{"eks without settings", func() client.Object {
			np := ut.MakeNodePool("bad-eks", carvev1.NodePoolRoleCPU, 0, 2, "4", "8Gi").Obj()
			np.Spec.Platform.Type = carvev1.PlatformEKS
			return np
		}(), "type EKS needs eks"},
		{"bad taint effect", ut.MakeNodePool("bad-taint", carvev1.NodePoolRoleCPU, 0, 2, "4", "8Gi").Taint("a", "b", "Sometimes").Obj(), "effect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cl.Create(ctx, tc.obj)
			if err == nil {
				_ = cl.Delete(ctx, tc.obj)
				t.Fatal("invalid object was created")
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}

func TestProfileAndPoolLifecycle(t *testing.T) {
	ctx := context.Background()
	pool := ut.MakeNodePool("spot", carvev1.NodePoolRoleCPU, 0, 5, "8", "32Gi").Obj()
	profile := ut.MakeProfile("medium", "2", "8Gi").Pools("spot").Obj()
	ws := ut.MakeWorkspace("research", "medium").Obj()
	for _, obj := range []client.Object{pool, profile, ws} {
		if err := cl.Create(ctx, obj); err != nil {
			t.Fatalf("creating %s: %v", obj.GetName(), err)
		}
	}

	// Updates are validated too.
	profile.Spec.CPU = resourceMust("-1")
	if err := cl.Update(ctx, profile); err == nil || !strings.Contains(err.Error(), "spec.cpu") {
		t.Errorf("update to a negative cpu: %v, want a denial naming spec.cpu", err)
	}
	ws.Spec.DefaultProfile = "large"
	if err := cl.Update(ctx, ws); err == nil || !strings.Contains(err.Error(), "defaultProfile") {
		t.Errorf("workspace update to a default it does not allow: %v, want a denial naming defaultProfile", err)
	}
	ws.Spec.DefaultProfile = "medium"
	ws.Spec.AllowedProfiles = []string{"medium", "not-yet"}
	warned := &warningRecorder{}
	wcl, err := client.New(restConfig(warned), client.Options{Scheme: cl.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := wcl.Update(ctx, ws); err != nil {
		t.Errorf("workspace update allowing a profile that does not exist yet: %v, want a warning only", err)
	}
	if !warned.saw(`"not-yet" does not exist yet`) {
		t.Errorf("warnings %q do not mention the missing profile", warned.all())
	}
	// A profile bigger than the pool's nodes is accepted with a warning.
	bigger := &warningRecorder{}
	bcl, err := client.New(restConfig(bigger), client.Options{Scheme: cl.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		p := &carvev1.ResourceProfile{}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(profile), p); err != nil {
			return false, err
		}
		p.Spec.CPU = resourceMust("16")
		if err := bcl.Update(ctx, p); err != nil {
			return false, err
		}
		// The webhook reads pools from its cache, which may not show
		// "spot" yet.
		return bigger.saw(`nodes of NodePool "spot" have only 8`), nil
	})
	if err != nil {
		t.Errorf("growing profile medium to 16 CPUs on 8-CPU nodes: %v; warnings %q, want one naming pool spot", err, bigger.all())
	}
	// Shrinking the pool's nodes below a profile that runs there warns the
	// same way, on the NodePool.
	shrunk := &warningRecorder{}
	scl, err := client.New(restConfig(shrunk), client.Options{Scheme: cl.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		np := &carvev1.NodePool{}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(pool), np); err != nil {
			return false, err
		}
		np.Spec.Template.Capacity[corev1.ResourceMemory] = resourceMust("4Gi")
		if err := scl.Update(ctx, np); err != nil {
			return false, err
		}
		return shrunk.saw(`profile "medium" requests 8Gi memory, but nodes of NodePool "spot" have only 4Gi`), nil
	})
	if err != nil {
		t.Errorf("shrinking pool spot's nodes to 4Gi under profile medium (8Gi): %v; warnings %q, want one naming the profile", err, shrunk.all())
	}
	if err := cl.Get(ctx, client.ObjectKeyFromObject(pool), pool); err != nil {
		t.Fatal(err)
	}
	pool.Spec.Platform.Type = carvev1.PlatformEKS
	pool.Spec.Platform.EKS = &carvev1.EKSPlatform{Region: "eu-west-1", AutoScalingGroup: "asg"}
	if err := cl.Update(ctx, pool); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("changing a pool's platform: %v, want immutable", err)
	}

	// A profile in use cannot go, and the denial names who uses it.
	if err := cl.Delete(ctx, ut.MakeProfile("medium", "2", "8Gi").Obj()); err == nil ||
		!strings.Contains(err.Error(), "ProfileInUse") || !strings.Contains(err.Error(), "research") {
		t.Errorf("deleting a profile in use: %v, want ProfileInUse naming workspace research", err)
	}
	if err := cl.Delete(ctx, ut.MakeNodePool("spot", carvev1.NodePoolRoleCPU, 0, 5, "8", "32Gi").Obj()); err == nil ||
		!strings.Contains(err.Error(), "NodePoolInUse") || !strings.Contains(err.Error(), "medium") {
		t.Errorf("deleting a pool in use: %v, want NodePoolInUse naming profile medium", err)
	}
	// Once nothing uses them, they go in order.
	for _, obj := range []client.Object{ws, ut.MakeProfile("medium", "2", "8Gi").Obj(), ut.MakeNodePool("spot", carvev1.NodePoolRoleCPU, 0, 5, "8", "32Gi").Obj()} {
		if err := cl.Delete(ctx, obj); err != nil {
			t.Errorf("deleting %s: %v", obj.GetName(), err)
		}
	}
}

func TestPrinterColumnsAndShortNames(t *testing.T) {
	// The short names resolve through discovery, as kubectl get rp does.
	res, err := k8s.Discovery().ServerResourcesForGroupVersion(carvev1.GroupVersion.String())
	if err != nil {
		t.Fatal(err)
	}
	short := map[string]string{}
	for _, r := range res.APIResources {
		if len(r.ShortNames) > 0 {
			short[r.Name] = r.ShortNames[0]
		}
	}
	for name, want := range map[string]string{"resourceprofiles": "rp", "workspaces": "ws", "nodepools": "np"} {
		if short[name] != want {
			t.Errorf("short name of %s = %q, want %q", name, short[name], want)
		}
	}

	// The columns come from the server, as kubectl get asks for them: a
	// Table of the objects.
	for _, tc := range []struct {
		resource string
		want     []string
	}{
		{"resourceprofiles", []string{"Name", "CPU", "MEMORY", "GPU", "POOL", "AGE"}},
		{"workspaces", []string{"Name", "CPU", "MEMORY", "GPU", "PODS", "WAITING", "SPEND", "PROJECTS", "DEFAULT", "AGE"}},
		{"nodepools", []string{"Name", "ROLE", "PLATFORM", "MIN", "MAX", "TARGET", "CURRENT", "DRAINING", "PRICE/H", "COST/H", "AGE"}},
	} {
		raw, err := k8s.RESTClient().Get().AbsPath("/apis", carvev1.GroupVersion.Group, carvev1.GroupVersion.Version, tc.resource).
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(context.Background())
		if err != nil {
			t.Fatalf("listing %s as a table: %v", tc.resource, err)
		}
		var table metav1.Table
		if err := json.Unmarshal(raw, &table); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range table.ColumnDefinitions {
			got = append(got, c.Name)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s columns (-want +got):\n%s", tc.resource, diff)
		}
	}
}

// warningRecorder keeps the warnings the apiserver sends back (webhook
// admission warnings among them).
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warningRecorder) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}

func (w *warningRecorder) saw(s string) bool {
	for _, m := range w.all() {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

func TestWorkspaceInUseCannotBeDeleted(t *testing.T) {
	ctx := context.Background()
	name := "scratch-" + utilrand.String(5)
	if err := cl.Create(ctx, ut.MakeWorkspace(name, "small").Obj()); err != nil {
		t.Fatal(err)
	}
	ns := ut.MakeNamespace(name+"-a", name, "")
	if err := cl.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Delete(context.Background(), ns) })

	// The check reads the apiserver, not a cache: a namespace created a
	// moment ago already counts.
	err := cl.Delete(ctx, ut.MakeWorkspace(name, "small").Obj())
	if err == nil || !strings.Contains(err.Error(), "WorkspaceInUse") || !strings.Contains(err.Error(), ns.Name) {
		t.Fatalf("deleting a workspace with a namespace: %v, want WorkspaceInUse naming %s", err, ns.Name)
	}

	// Once the namespace leaves the workspace, the workspace may go.
	delete(ns.Labels, carvev1.LabelWorkspace)
	if err := cl.Update(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := cl.Delete(ctx, ut.MakeWorkspace(name, "small").Obj()); err != nil {
		t.Errorf("deleting an unused workspace: %v", err)
	}
}
