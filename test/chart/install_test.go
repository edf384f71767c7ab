package chart

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/carve-dev/carve/pkg/certs"
	"github.com/carve-dev/carve/pkg/webhooks"
	"github.com/carve-dev/carve/test/framework"
)

const (
	release   = "carve"
	namespace = "carve-system"
)

// TestInstall installs the chart into a real control plane (there is no
// kubelet, so its pods never run), checks what Helm created, then runs
// carve-cloudprovider, carve-scheduler and carve-controller on the host,
// each with its installed Deployment's arguments and as its installed
// ServiceAccount (impersonated), and drives each through what needs a
// permission, which proves the chart's RBAC is enough. Finally it
// uninstalls the chart and checks what is left behind.
func TestInstall(t *testing.T) {
	ctx := t.Context()
	c, err := framework.Start(ctx, framework.Options{Dir: t.TempDir(), ControllerManager: true})
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})

	// With carve-cloudprovider, over mutual TLS (the Secret need not exist:
	// no pod runs here).
	notes, err := helm(t, "install", release, chartDir, "--namespace", namespace, "--create-namespace", "--kubeconfig", c.Kubeconfig,
		"-f", valuesFile(t, cloudProviderTLS))
	if err != nil {
		t.Fatal(err)
	}
	// NOTES.txt tells how to make a namespace a workspace project, how to
	// remove the webhook configurations after uninstalling, the
	// autoscaler's cloud-config, and where carve-scheduler's lease and a
	// waiting pod's reason are.
	for _, want := range []string{
		"kubectl label namespace <namespace> carve.dev/workspace=<workspace>",
		cleanupCommand,
		`address: "carve-cloudprovider.carve-system.svc:8086"`,
		"kubectl -n kube-system get lease carve-scheduler",
		"carve.dev/Admitted",
		"annotate secret carve-controller-webhook-certs --overwrite carve.dev/rotate-ca=",
		"--clusterrole=carve-controller-metrics-reader",
		"--unremovable-node-recheck-timeout=10s",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("helm install output does not contain %q:\n%s", want, notes)
		}
	}
	rendered := render(t, release, namespace, cloudProviderTLS)
	checkInstalled(ctx, t, c, rendered)

	// carve-controller last: once it has registered its webhooks (served
	// by no pod here), NodePools, Workspaces and workspace pods cannot be
	// created.
	runCloudProviderAsServiceAccount(ctx, t, c)
	runSchedulerAsServiceAccount(ctx, t, c)
	runControllerAsServiceAccount(ctx, t, c)

	if _, err := helm(t, "uninstall", release, "--namespace", namespace, "--kubeconfig", c.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	checkUninstalled(ctx, t, c, rendered)
}

// certSecret is where carve-controller keeps its webhook certificates.
const certSecret = "carve-controller-webhook-certs"

// cleanupCommand removes carve's webhook configurations; NOTES.txt gives it.
var cleanupCommand = "kubectl delete mutatingwebhookconfiguration,validatingwebhookconfiguration " + webhooks.ConfigurationName

var crdNames = []string{"nodepools.carve.dev", "resourceprofiles.carve.dev", "workspaces.carve.dev"}

// checkUninstalled checks, after helm uninstall, that every rendered
// object is gone but the CRDs (Helm never deletes those of crds/: that would
// delete every workspace, profile and pool), and that the webhook
// configurations and certificate Secret carve-controller created, owned by
// the chart's ClusterRole, went with it through the garbage collector.
func checkUninstalled(ctx context.Context, t *testing.T, c *framework.Cluster, rendered []runtime.Object) {
	t.Helper()
	cl, err := client.New(c.Config, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	err = poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		left = nil
		for _, r := range rendered {
			o := r.DeepCopyObject().(client.Object)
			if err := cl.Get(ctx, client.ObjectKeyFromObject(o), o); !apierrors.IsNotFound(err) {
				left = append(left, fmt.Sprintf("%T %s", o, client.ObjectKeyFromObject(o)))
			}
		}
		return len(left) == 0, nil
	})
	if err != nil {
		t.Errorf("the chart's objects are still there after helm uninstall: %v: %v", err, left)
	}
	crds, err := apiextensionsclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range crdNames {
		if _, err := crds.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("CRD %s after helm uninstall: %v", name, err)
		}
	}
	kube := c.Client
	err = poll(ctx, 60*time.Second, func(ctx context.Context) (bool, error) {
		_, errM := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, webhooks.ConfigurationName, metav1.GetOptions{})
		_, errV := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, webhooks.ConfigurationName, metav1.GetOptions{})
		_, errS := kube.CoreV1().Secrets(namespace).Get(ctx, certSecret, metav1.GetOptions{})
		return apierrors.IsNotFound(errM) && apierrors.IsNotFound(errV) && apierrors.IsNotFound(errS), nil
	})
	if err != nil {
		t.Errorf("carve's webhook configurations or certificate Secret are still there after helm uninstall: %v", err)
	}
}

// checkInstalled checks that every object the chart renders exists, that
// RBAC rules and the controller's arguments arrived unchanged, and that the
// CRDs are established.
func checkInstalled(ctx context.Context, t *testing.T, c *framework.Cluster, rendered []runtime.Object) {
	cl, err := client.New(c.Config, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rendered {
		want := r.(client.Object)
		got := want.DeepCopyObject().(client.Object)
		if err := cl.Get(ctx, client.ObjectKeyFromObject(want), got); err != nil {
			t.Errorf("%T %s after helm install: %v", want, client.ObjectKeyFromObject(want), err)
			continue
		}
		switch w := want.(type) {
		case *rbacv1.ClusterRole:
			if diff := cmp.Diff(w.Rules, got.(*rbacv1.ClusterRole).Rules); diff != "" {
				t.Errorf("ClusterRole %s rules (-rendered +installed):\n%s", w.Name, diff)
			}
		case *rbacv1.Role:
			if diff := cmp.Diff(w.Rules, got.(*rbacv1.Role).Rules); diff != "" {
				t.Errorf("Role %s rules (-rendered +installed):\n%s", w.Name, diff)
			}
		case *appsv1.Deployment:
			if diff := cmp.Diff(w.Spec.Template.Spec.Containers[0].Args, got.(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Args); diff != "" {
				t.Errorf("Deployment %s args (-rendered +installed):\n%s", w.Name, diff)
			}
		}
	}

	waitEstablished(ctx, t, c.Config, crdNames)
}

// runControllerAsServiceAccount runs carve-controller on the host with the
// installed Deployment's arguments, only its ports and certificate folder
// moved to free local ones, through a kubeconfig that impersonates the
// chart's ServiceAccount. It waits until the controller has registered both
// webhook configurations with its CA and checks its log for denied
// requests, then stops it.
func runControllerAsServiceAccount(ctx context.Context, t *testing.T, c *framework.Cluster) {
	kube := c.Client
	d, err := kube.AppsV1().Deployments(namespace).Get(ctx, "carve-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := d.Spec.Template.Spec
	user := "system:serviceaccount:" + namespace + ":" + pod.ServiceAccountName

	// The dry-run probe of podLevelResources=auto needs the namespace's
	// default ServiceAccount, which kube-controller-manager creates.
	err = poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		_, err := kube.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("waiting for ServiceAccount %s/default: %v", namespace, err)
	}

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = user
	}
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}

	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = framework.FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	args := append(slices.Clone(pod.Containers[0].Args),
		"--webhook-bind-address=127.0.0.1",
		"--webhook-port="+strconv.Itoa(ports[0]),
		"--metrics-bind-address=127.0.0.1:"+strconv.Itoa(ports[1]),
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(ports[2]),
		// A local run stops at once; the chart's delay is for Services.
		"--shutdown-delay=0s",
	)
	proc := startBinary(t, "carve-controller", controllerBinary(t), user, args, []string{"KUBECONFIG=" + kubeconfig}, 10*time.Second)

	// Registered: both configurations carry the CA bundle of the
	// certificate Secret the controller made (owned by the chart's
	// ClusterRole) and point at the chart's Service.
	wantSvc := fmt.Sprintf("%s/%s:443", namespace, "carve-webhook")
	var state string
	err = poll(ctx, 60*time.Second, func(ctx context.Context) (bool, error) {
		if err := proc.alive(); err != nil {
			return false, err
		}
		sec, err := kube.CoreV1().Secrets(namespace).Get(ctx, certSecret, metav1.GetOptions{})
		if err != nil {
			state = "no certificate Secret yet: " + err.Error()
			return false, nil
		}
		if len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].Kind != "ClusterRole" || sec.OwnerReferences[0].Name != "carve-controller" {
			return false, fmt.Errorf("certificate Secret owned by %+v, want the ClusterRole carve-controller", sec.OwnerReferences)
		}
		ca := sec.Data[certs.KeyTrust]
		m, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, webhooks.ConfigurationName, metav1.GetOptions{})
		if err != nil {
			state = err.Error()
			return false, nil
		}
		v, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, webhooks.ConfigurationName, metav1.GetOptions{})
		if err != nil {
			state = err.Error()
			return false, nil
		}
		var clients []admissionregistrationv1.WebhookClientConfig
		for _, w := range m.Webhooks {
			clients = append(clients, w.ClientConfig)
		}
		for _, w := range v.Webhooks {
			clients = append(clients, w.ClientConfig)
		}
		for _, cc := range clients {
			if !bytes.Equal(cc.CABundle, ca) || cc.Service == nil || cc.Service.Port == nil {
				state = "webhook client config not carve-controller's yet"
				return false, nil
			}
			if got := fmt.Sprintf("%s/%s:%d", cc.Service.Namespace, cc.Service.Name, *cc.Service.Port); got != wantSvc {
				return false, fmt.Errorf("webhook calls service %s, want %s", got, wantSvc)
			}
		}
		return len(clients) > 0, nil
	})
	if err != nil {
		t.Fatalf("carve-controller did not register its webhooks as %s: %v (last: %s)", user, err, state)
	}
	// And the admission policies for namespaces outside every workspace,
	// each bound.
	for _, name := range []string{webhooks.PolicyLabels, webhooks.PolicySchedulerOutsideWorkspaces} {
		err := poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
			if _, err := kube.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, name, metav1.GetOptions{}); err != nil {
				return false, nil
			}
			_, err := kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, name, metav1.GetOptions{})
			return err == nil, nil
		})
		if err != nil {
			t.Errorf("carve-controller did not install ValidatingAdmissionPolicy %s and its binding as %s: %v", name, user, err)
		}
	}

	// The policies are created inside the registration, before it ends
	// and readiness follows: wait for ready rather than read it once.
	var last string
	if err := poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(ports[2]) + "/readyz")
		if err != nil {
			last = err.Error()
			return false, nil
		}
		resp.Body.Close()
		last = resp.Status
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		t.Errorf("carve-controller /readyz: %s", last)
	}

	checkMetricsAuth(ctx, t, c, "https://127.0.0.1:"+strconv.Itoa(ports[1])+"/metrics")

	proc.stop()
	for _, bad := range []string{"forbidden", "Dry-run probe for pod-level resources failed"} {
		if strings.Contains(strings.ToLower(proc.output()), strings.ToLower(bad)) {
			t.Errorf("carve-controller's log mentions %q: the chart's RBAC misses something", bad)
		}
	}
}

// checkMetricsAuth: carve-controller's metrics answer only a token the
// apiserver authenticates and authorizes for GET /metrics, which the
// chart's metrics-reader ClusterRole grants.
func checkMetricsAuth(ctx context.Context, t *testing.T, c *framework.Cluster, url string) {
	t.Helper()
	kube := c.Client
	token := func(sa string) string {
		t.Helper()
		if _, err := kube.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := kube.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	reader, stranger := token("prometheus"), token("stranger")
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-carve-metrics"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "carve-controller-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: namespace}},
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The certificate is made in memory and trusted by nobody.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the token is what is checked
	get := func(token string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		return resp.StatusCode
	}
	// RBAC is read through an informer in the apiserver: the binding may
	// take a moment.
	var got int
	err := poll(ctx, 20*time.Second, func(context.Context) (bool, error) {
		got = get(reader)
		return got == http.StatusOK, nil
	})
	if err != nil {
		t.Errorf("metrics with the metrics-reader's token: %d, want 200", got)
	}
	for name, tc := range map[string]struct {
		token string
		want  int
	}{"no token": {"", http.StatusUnauthorized}, "a token without the role": {stranger, http.StatusForbidden}} {
		if got := get(tc.token); got != tc.want {
			t.Errorf("metrics with %s: %d, want %d", name, got, tc.want)
		}
	}
}

// poll calls cond until it reports true, returns an error, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, cond wait.ConditionWithContextFunc) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, cond)
}
