package chart

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/test/framework"
)

// runSchedulerAsServiceAccount runs carve-scheduler on the host with the
// installed Deployment's arguments and the installed ConfigMap's
// configuration, through a kubeconfig that impersonates the chart's
// ServiceAccount: in the configuration's clientConnection, and for the
// delegated authentication and authorization of its HTTPS port (in a pod
// both would use the ServiceAccount). Only the port moves to a free local
// one; leader election stays on, as shipped. It must take its lease, serve
// /metrics to an authorized client, bind a workspace pod inside its quota,
// hold the next one with the carve.dev/Admitted condition and an Event,
// and admit and bind that one once the first is deleted. Its log must show
// no denied request.
func runSchedulerAsServiceAccount(ctx context.Context, t *testing.T, c *framework.Cluster) {
	kube := c.Client
	d, err := kube.AppsV1().Deployments(namespace).Get(ctx, "carve-scheduler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := kube.CoreV1().ConfigMaps(namespace).Get(ctx, "carve-scheduler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	user := "system:serviceaccount:" + namespace + ":" + d.Spec.Template.Spec.ServiceAccountName
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	kc, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range kc.AuthInfos {
		ai.Impersonate = user
	}
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}

	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
		t.Fatalf("reading the installed configuration: %v", err)
	}
	cfg["clientConnection"] = map[string]any{"kubeconfig": kubeconfig}
	le, _ := cfg["leaderElection"].(map[string]any)
	leaseNS, _ := le["resourceNamespace"].(string)
	leaseName, _ := le["resourceName"].(string)
	if le["leaderElect"] != true || leaseNS == "" || leaseName == "" {
		t.Fatalf("the installed configuration has leader election %v, want it on with a named lock", le)
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	configPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for name, value := range flags(t, d.Spec.Template.Spec.Containers[0].Args) {
		switch name {
		case "config":
			value = configPath
		case "secure-port":
			value = strconv.Itoa(port)
		}
		args = append(args, "--"+name+"="+value)
	}
	args = append(args, "--bind-address=127.0.0.1",
		"--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig)

	proc := startBinary(t, "carve-scheduler", schedulerBinary(t), user, args, nil, 15*time.Second)

	// The admin's client certificate: authenticated through the client CA
	// carve-scheduler reads from kube-system, authorized by a
	// SubjectAccessReview it makes as the ServiceAccount.
	tlsCfg, err := rest.TLSConfigFor(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg.RootCAs, tlsCfg.InsecureSkipVerify = nil, true // self-signed, made at start
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 5 * time.Second}
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	get := func(path string) int {
		resp, err := https.Get(base + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	err = poll(ctx, 60*time.Second, func(context.Context) (bool, error) {
		if err := proc.alive(); err != nil {
			return false, err
		}
		return get("/readyz") == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("carve-scheduler /readyz as %s: %v", user, err)
	}
	err = poll(ctx, 60*time.Second, func(ctx context.Context) (bool, error) {
		l, err := kube.CoordinationV1().Leases(leaseNS).Get(ctx, leaseName, metav1.GetOptions{})
		return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "", nil
	})
	if err != nil {
		t.Fatalf("carve-scheduler did not take Lease %s/%s: %v", leaseNS, leaseName, err)
	}
	// The scheduler asks the apiserver (SubjectAccessReview) whether the
	// caller may read /metrics; under load the first answers can fail, so
	// poll rather than ask once.
	code := 0
	err = poll(ctx, 30*time.Second, func(context.Context) (bool, error) {
		code = get("/metrics")
		return code == http.StatusOK, nil
	})
	if err != nil {
		t.Errorf("carve-scheduler /metrics with the admin's certificate: HTTP %d, want 200", code)
	}

	// A workspace of one pod, its project namespace and a node. Nothing
	// runs the node (no kwok here): the pods tolerate its not-ready taint,
	// and binding is what is checked.
	scheme := runtime.NewScheme()
	if err := carvev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	const ws, ns, pool, node = "chart", "chart-alice", "chart-sched", "chart-sched-0"
	workspace := ut.MakeWorkspace(ws, "small").Quota("", "", "", 1).Obj()
	if err := cl.Create(ctx, workspace); err != nil {
		t.Fatalf("creating Workspace %s: %v", ws, err)
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ut.MakeNamespace(ns, ws, ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddNode(ctx, node, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")},
		map[string]string{carvev1.LabelNodePool: pool}, nil); err != nil {
		t.Fatal(err)
	}
	defer func() {
		bg := context.Background()
		_ = kube.CoreV1().Namespaces().Delete(bg, ns, metav1.DeleteOptions{})
		_ = kube.CoreV1().Nodes().Delete(bg, node, metav1.DeleteOptions{})
		_ = cl.Delete(bg, workspace)
	}()
	err = poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		_, err := kube.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("waiting for ServiceAccount %s/default: %v", ns, err)
	}
	pod := func(name string) *corev1.Pod {
		// As carve's webhook leaves it (the webhook itself is not
		// registered yet here).
		p := ut.MakePod(name, ns).Workspace(ws, "").Profile("small").Workload(carvev1.WorkloadSession).
			SchedulerName(carvev1.SchedulerName).NodeSelector(carvev1.LabelNodePool, pool).
			Toleration(corev1.Toleration{Operator: corev1.TolerationOpExists}).
			Container("main", "1", "1Gi").Obj()
		p.Spec.Containers[0].Image = "registry.invalid/notebook"
		return p
	}
	for _, name := range []string{"p0", "p1"} {
		if _, err := kube.CoreV1().Pods(ns).Create(ctx, pod(name), metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod %s: %v", name, err)
		}
		// p0 first, so that p1 is the one waiting.
		if name == "p0" {
			waitPod(ctx, t, c, ns, name, "bound to "+node, func(p *corev1.Pod) bool { return p.Spec.NodeName == node })
		}
	}
	held := waitPod(ctx, t, c, ns, "p1", "waiting for quota", func(p *corev1.Pod) bool {
		cond := podCondition(p, carvev1.PodConditionAdmitted)
		return cond != nil && cond.Status == corev1.ConditionFalse && cond.Reason == carvev1.ReasonWaitingForQuota
	})
	if cond := podCondition(held, corev1.PodScheduled); cond != nil || held.Spec.NodeName != "" {
		t.Errorf("pod p1, held for quota, has node %q and PodScheduled %+v: it must never be attempted", held.Spec.NodeName, cond)
	}
	err = poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		evs, err := kube.EventsV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("regarding.name", "p1").String()})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == carvev1.ReasonWaitingForQuota && e.ReportingController == carvev1.SchedulerName {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Errorf("no %s Event from %s on pod p1: %v", carvev1.ReasonWaitingForQuota, carvev1.SchedulerName, err)
	}

	// Quota frees: p1 is admitted and bound.
	if err := kube.CoreV1().Pods(ns).Delete(ctx, "p0", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	waitPod(ctx, t, c, ns, "p1", "admitted and bound", func(p *corev1.Pod) bool {
		cond := podCondition(p, carvev1.PodConditionAdmitted)
		return p.Spec.NodeName == node && cond != nil && cond.Status == corev1.ConditionTrue && cond.Reason == carvev1.ReasonAdmitted
	})

	proc.stop()
	if strings.Contains(strings.ToLower(proc.output()), "forbidden") {
		t.Errorf("carve-scheduler's log mentions \"forbidden\": the chart's RBAC misses something")
	}
}

// waitPod polls pod ns/name until ok holds, and returns it.
func waitPod(ctx context.Context, t *testing.T, c *framework.Cluster, ns, name, what string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	err := poll(ctx, 60*time.Second, func(ctx context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		pod = p
		return ok(p), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s %s: %v (last: node %q, conditions %+v)", ns, name, what, err, nodeOf(pod), conditionsOf(pod))
	}
	return pod
}

func podCondition(p *corev1.Pod, typ corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == typ {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func nodeOf(p *corev1.Pod) string {
	if p == nil {
		return ""
	}
	return p.Spec.NodeName
}

func conditionsOf(p *corev1.Pod) []corev1.PodCondition {
	if p == nil {
		return nil
	}
	return p.Status.Conditions
}
