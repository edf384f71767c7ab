//go:build linux

// Package e2e_test runs carve the way `make run` does — hack/run.sh in the
// background, which starts a real kube-apiserver, etcd,
// kube-controller-manager, the stock kube-scheduler and kwok, then
// carve-controller, carve-scheduler and carve-cloudprovider as binaries —
// and drives it with the real kubectl, as an admin and a data scientist
// would, judging only what kubectl prints and the codes it exits with.
package e2e_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carve-dev/carve/test/framework"
)

// ns is the project namespace of testdata/admin.yaml.
const ns = "e2e-lab"

func TestMakeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hack/run.sh: a whole local cluster and carve")
	}
	binDir, err := framework.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	r := startRun(t, binDir)
	admin := kubectl{bin: filepath.Join(binDir, "kubectl"), kubeconfig: r.kubeconfig}
	alice := admin.as("alice")
	// Registered after startRun's cleanups, so it runs before they stop it.
	t.Cleanup(func() {
		if t.Failed() && r.running() {
			admin.run(t, "", "get", "nodes,pods", "-A", "-o", "wide")
			admin.run(t, "", "get", "rp,ws,np")
			admin.run(t, "", "get", "events", "-A", "--sort-by=.lastTimestamp")
		}
	})
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("make run applied the samples", func(t *testing.T) {
		out := admin.ok(t, "get", "rp,ws,np")
		mustContain(t, "kubectl get rp,ws,np", out,
			"resourceprofile.carve.dev/small", "resourceprofile.carve.dev/gpu-1",
			"workspace.carve.dev/ml-team", "nodepool.carve.dev/base", "nodepool.carve.dev/gpu")
	})

	step("the default scheduler places pods outside workspaces", func(t *testing.T) {
		admin.ok(t, "-n", "default", "run", "plain", "--image=plain")
		admin.ok(t, "-n", "default", "wait", "--for=jsonpath={.status.phase}=Running", "pod/plain", "--timeout=90s")
		// carve left it alone: it kept the default scheduler's name.
		got := admin.ok(t, "-n", "default", "get", "pod", "plain", "-o", "jsonpath={.spec.schedulerName}")
		if got != "default-scheduler" {
			t.Errorf("pod default/plain has schedulerName %q, want default-scheduler", got)
		}
		eventually(t, 30*time.Second, "the Scheduled event of default/plain", func() (bool, string) {
			out := admin.ok(t, "-n", "default", "get", "events", "--field-selector", "involvedObject.name=plain,reason=Scheduled",
				"-o", "jsonpath={range .items[*]}{.reportingComponent}{.source.component}{\"\\n\"}{end}")
			return strings.Contains(out, "default-scheduler"), out
		})
	})

	step("an admin sets up pools, profiles and a workspace", func(t *testing.T) {
		res := admin.run(t, "", "apply", "-f", "testdata/admin.yaml")
		if res.code != 0 {
			t.Fatalf("kubectl apply -f testdata/admin.yaml: exit %d", res.code)
		}
		mustContain(t, "kubectl apply's output", res.stdout,
			"nodepool.carve.dev/e2e-cpu created", "nodepool.carve.dev/e2e-gpu created",
			"resourceprofile.carve.dev/e2e-small created", "resourceprofile.carve.dev/e2e-gpu created",
			"workspace.carve.dev/e2e created", "namespace/e2e-lab created",
			"rolebinding.rbac.authorization.k8s.io/alice-edit created")
		// The workspace allows a profile nobody made: a warning, not a denial.
		mustContain(t, "kubectl apply's warnings", res.stderr, `ResourceProfile "e2e-large" does not exist yet`)
		// carve-cloudprovider serves both pools to the autoscaler.
		admin.ok(t, "wait", "--for=condition=Ready", "nodepool/e2e-cpu", "nodepool/e2e-gpu", "--timeout=60s")
		// Pods are refused until kube-controller-manager made the namespace's
		// default ServiceAccount.
		eventually(t, 60*time.Second, "ServiceAccount e2e-lab/default", func() (bool, string) {
			res := admin.run(t, "", "-n", ns, "get", "serviceaccount", "default")
			return res.code == 0, res.stderr
		})
	})

	// What alice's pods are, by the label app or job-name on them.
	kinds := []struct{ selector, workload string }{
		{"app=nb", "session"}, {"app=web", "model"}, {"job-name=etl", "job"},
	}
	step("alice's notebook, model server and job get the workspace's default profile", func(t *testing.T) {
		res := alice.run(t, "", "-n", ns, "apply", "-f", "testdata/workloads.yaml")
		if res.code != 0 {
			t.Fatalf("kubectl apply -f testdata/workloads.yaml as alice: exit %d", res.code)
		}
		mustContain(t, "kubectl apply's output", res.stdout,
			"statefulset.apps/nb created", "deployment.apps/web created", "job.batch/etl created")
		for _, k := range kinds {
			want := "carve-scheduler e2e-small " + k.workload
			eventually(t, 60*time.Second, "a pod "+k.selector+" as carve made it", func() (bool, string) {
				out := alice.ok(t, "-n", ns, "get", "pods", "-l", k.selector, "-o",
					`jsonpath={range .items[*]}{.spec.schedulerName} {.metadata.labels.carve\.dev/profile} {.metadata.labels.carve\.dev/workload}{"\n"}{end}`)
				return strings.TrimSpace(out) == want, out
			})
		}
		if r.autoscaler {
			return
		}
		// Inside quota but no node of pool e2e-cpu yet: Unschedulable, the
		// signal on which the autoscaler adds a node. (With a real
		// autoscaler this lasts too short a time to check.)
		for _, k := range kinds[:2] {
			alice.ok(t, "-n", ns, "wait", "--for=condition=PodScheduled=false", "pod", "-l", k.selector, "--timeout=60s")
			reason := alice.ok(t, "-n", ns, "get", "pods", "-l", k.selector, "-o",
				`jsonpath={.items[0].status.conditions[?(@.type=="PodScheduled")].reason}`)
			if reason != "Unschedulable" {
				t.Errorf("pod %s: PodScheduled reason %q, want Unschedulable", k.selector, reason)
			}
		}
	})

	step("carve-cloudprovider adds a CPU node and the work runs on it", func(t *testing.T) {
		r.addNodes(t, "e2e-cpu", 1)
		for _, k := range kinds[:2] {
			alice.ok(t, "-n", ns, "wait", "--for=jsonpath={.status.phase}=Running", "pod", "-l", k.selector, "--timeout=120s")
			node := alice.ok(t, "-n", ns, "get", "pods", "-l", k.selector, "-o", "jsonpath={.items[0].spec.nodeName}")
			if pool := nodePool(t, admin, node); pool != "e2e-cpu" {
				t.Errorf("pod %s runs on node %q of pool %q, want pool e2e-cpu", k.selector, node, pool)
			}
		}
		alice.ok(t, "-n", ns, "wait", "--for=condition=Complete", "job/etl", "--timeout=120s")
		eventually(t, 60*time.Second, "NodePool e2e-cpu's current size", func() (bool, string) {
			out := admin.ok(t, "get", "nodepool", "e2e-cpu", "-o", "jsonpath={.status.currentSize}")
			return out != "" && out != "0", out
		})
	})

	step("work over quota waits, and starts when quota frees", func(t *testing.T) {
		// The notebook and three model replicas hold the workspace's 4 CPUs.
		alice.ok(t, "-n", ns, "scale", "deployment/web", "--replicas=3")
		alice.ok(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=120s")
		alice.ok(t, "-n", ns, "run", "extra", "--image=notebook")
		alice.ok(t, "-n", ns, "wait", "--for=condition=carve.dev/Admitted=false", "pod/extra", "--timeout=60s")
		conds := alice.ok(t, "-n", ns, "get", "pod", "extra", "-o",
			`jsonpath={range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}`)
		mustContain(t, "pod extra's conditions", conds,
			"carve.dev/Admitted=False WaitingForQuota: waiting for workspace e2e quota: needs cpu 1, 4/4 in use; 1st in queue")
		// Held before the scheduling queue: never tried against nodes, so
		// never Unschedulable, and no autoscaler buys a node for it.
		if strings.Contains(conds, "PodScheduled") {
			t.Errorf("pod extra, waiting for quota, has a PodScheduled condition:\n%s", conds)
		}

		alice.ok(t, "-n", ns, "delete", "deployment", "web")
		alice.ok(t, "-n", ns, "wait", "--for=condition=carve.dev/Admitted", "pod/extra", "--timeout=60s")
		alice.ok(t, "-n", ns, "wait", "--for=jsonpath={.status.phase}=Running", "pod/extra", "--timeout=60s")
		eventually(t, 30*time.Second, "the events of pod extra", func() (bool, string) {
			out := alice.ok(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.name=extra",
				"-o", `jsonpath={range .items[*]}{.reason}{"\n"}{end}`)
			return strings.Contains(out, "WaitingForQuota") && strings.Contains(out, "Admitted") &&
				strings.Contains(out, "Scheduled"), out
		})
	})

	step("a GPU job runs on a GPU node that carve-cloudprovider adds", func(t *testing.T) {
		// The notebook and extra hold 2 of the 4 CPUs; train needs 2 and a GPU.
		res := alice.run(t, "", "-n", ns, "apply", "-f", "testdata/train.yaml")
		if res.code != 0 {
			t.Fatalf("kubectl apply -f testdata/train.yaml as alice: exit %d", res.code)
		}
		mustContain(t, "kubectl apply's output", res.stdout, "job.batch/train created")
		eventually(t, 60*time.Second, "train's pod, placed on pool e2e-gpu with a GPU", func() (bool, string) {
			out := alice.ok(t, "-n", ns, "get", "pods", "-l", "job-name=train", "-o",
				`jsonpath={range .items[*]}{.spec.nodeSelector.carve\.dev/node-pool} {.spec.containers[0].resources.limits.nvidia\.com/gpu}{"\n"}{end}`)
			return strings.TrimSpace(out) == "e2e-gpu 1", out
		})
		if !r.autoscaler {
			alice.ok(t, "-n", ns, "wait", "--for=condition=PodScheduled=false", "pod", "-l", "job-name=train", "--timeout=60s")
		}
		r.addNodes(t, "e2e-gpu", 1)
		alice.ok(t, "-n", ns, "wait", "--for=condition=PodScheduled", "pod", "-l", "job-name=train", "--timeout=120s")
		node := alice.ok(t, "-n", ns, "get", "pods", "-l", "job-name=train", "-o", "jsonpath={.items[0].spec.nodeName}")
		if pool := nodePool(t, admin, node); pool != "e2e-gpu" {
			t.Errorf("train's pod runs on node %q of pool %q, want pool e2e-gpu", node, pool)
		}
		if gpus := admin.ok(t, "get", "node", node, "-o", `jsonpath={.status.allocatable.nvidia\.com/gpu}`); gpus != "1" {
			t.Errorf("node %s has %q allocatable GPUs, want 1", node, gpus)
		}
		alice.ok(t, "-n", ns, "wait", "--for=condition=Complete", "job/train", "--timeout=120s")
	})

	step("what breaks the rules is refused with carve's message", func(t *testing.T) {
		denials := []struct {
			who  kubectl
			args []string
			want string
		}{
			{alice, []string{"-n", ns, "run", "huge", "--image=notebook", "-l", "carve.dev/profile=huge"},
				`carve: ProfileNotAllowed: workspace "e2e" does not allow profile "huge"; set label carve.dev/profile to one of: e2e-small, e2e-gpu, e2e-large`},
			{alice, []string{"-n", ns, "run", "large", "--image=notebook", "-l", "carve.dev/profile=e2e-large"},
				`carve: ProfileUnknown: workspace "e2e" allows profile "e2e-large" but no ResourceProfile "e2e-large" exists`},
			{alice, []string{"-n", ns, "apply", "-f", "testdata/too-big.yaml"},
				`carve: ResourcesAboveProfile: containers request 2 cpu in all, above profile "e2e-small"'s 1`},
			{admin, []string{"delete", "workspace", "e2e"},
				`carve: WorkspaceInUse: namespaces e2e-lab still belong to workspace "e2e"`},
		}
		for _, d := range denials {
			res := d.who.run(t, "", d.args...)
			if res.code == 0 {
				t.Errorf("kubectl %s: exit 0, want a denial", strings.Join(d.args, " "))
			}
			mustContain(t, "kubectl "+strings.Join(d.args, " ")+"'s stderr", res.stderr, d.want)
		}
	})

	step("Ctrl-C stops everything", func(t *testing.T) {
		start := time.Now()
		code, err := r.interrupt(t)
		if err != nil {
			t.Fatal(err)
		}
		if code != 0 {
			t.Errorf("hack/run.sh exited %d after Ctrl-C, want 0", code)
		}
		if left := r.leftovers(); len(left) > 0 {
			t.Errorf("processes left running after hack/run.sh exited:\n%s", strings.Join(left, "\n"))
		}
		mustContain(t, "hack/run.sh's output", r.output(), "carve: stopping", "local-cluster: stopped")
		t.Logf("stopped in %s", time.Since(start).Round(100*time.Millisecond))
	})
	t.Logf("whole run: %s", time.Since(begin).Round(time.Second))
}

// nodePool returns the carve.dev/node-pool label of node, as the admin
// sees it (alice may not read nodes).
func nodePool(t *testing.T, admin kubectl, node string) string {
	t.Helper()
	if node == "" {
		t.Fatal("no node name")
	}
	return admin.ok(t, "get", "node", node, "-o", `jsonpath={.metadata.labels.carve\.dev/node-pool}`)
}
