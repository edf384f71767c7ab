package chart

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/carve-dev/carve/pkg/certs"
	"github.com/carve-dev/carve/pkg/webhooks"
	"github.com/carve-dev/carve/test/framework"
)

// previousChart is the chart as it was released before this one: carve
// 0.1.0, the tree of commit 3f3c62b, packaged from the repository's root
// with the helm binary of hack/control-plane-tools.sh:
//
//	tmp=$(mktemp -d)
//	git archive 3f3c62b charts/carve | tar -x -C "$tmp"
//	helm package "$tmp/charts/carve" -d test/chart/testdata
//
// Replace it with the last release's chart when releasing the next.
var previousChart = filepath.Join("testdata", "carve-0.1.0.tgz")

// crdUpgradeCommand brings the CRDs up to date before helm upgrade, which
// leaves them as they were (README.md and NOTES.txt give it).
// --force-conflicts, because helm install created them and so owns every
// field: a changed CRD would otherwise conflict with field manager "helm".
const crdUpgradeCommand = "kubectl apply --server-side --force-conflicts -f charts/carve/crds/"

// TestUpgrade installs the previous release of the chart with default
// values into a real control plane, upgrades it to this one with default
// values and checks what an admin gets: the CRDs left alone by Helm and
// brought up to date by crdUpgradeCommand, the release at the new version
// with every new object, the objects and fields the new chart drops gone,
// and a carve-controller that, run with the upgraded Deployment's
// arguments as the chart's ServiceAccount, takes over the webhook
// configurations 0.1.0's left, with the CA of its certificate Secret.
// Then it uninstalls.
func TestUpgrade(t *testing.T) {
	ctx := t.Context()
	c := startControlPlane(t, framework.Options{ControllerManager: true})
	kube := c.Client
	crds, err := apiextensionsclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := helm(t, "install", release, previousChart, "--namespace", namespace, "--create-namespace", "--kubeconfig", c.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	checkRelease(t, c, "1", "carve-0.1.0", "0.1.0")
	// Positive control: what is installed is the old chart, whose
	// controller made a new self-signed CA at every start.
	d, err := kube.AppsV1().Deployments(namespace).Get(ctx, "carve-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f := flags(t, d.Spec.Template.Spec.Containers[0].Args); f["self-signed-certs"] != "true" || *d.Spec.Replicas != 1 {
		t.Fatalf("0.1.0 installed a controller with --self-signed-certs=%q and %d replicas, want true and 1", f["self-signed-certs"], *d.Spec.Replicas)
	}
	registerAs010(ctx, t, c)

	// 0.1.0's CRDs equal this chart's, so helm upgrade applying them would
	// not show: one must differ, as an older chart's would, owned by helm's
	// field manager as helm install left it.
	olderCRD(ctx, t, crds)
	crdVersions := map[string]string{}
	for _, name := range crdNames {
		crd, err := crds.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		crdVersions[name] = crd.ResourceVersion
	}

	notes, err := helm(t, "upgrade", release, chartDir, "--namespace", namespace, "--kubeconfig", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	checkRelease(t, c, "2", "carve-0.2.0", "0.2.0")
	if !strings.Contains(notes, crdUpgradeCommand) {
		t.Errorf("helm upgrade's notes do not tell to run %q:\n%s", crdUpgradeCommand, notes)
	}
	readme, err := os.ReadFile(filepath.Join(framework.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), crdUpgradeCommand) {
		t.Errorf("README.md does not tell to run %q before helm upgrade", crdUpgradeCommand)
	}

	rendered := render(t, release, namespace, "")
	checkInstalled(ctx, t, c, rendered)
	d, err = kube.AppsV1().Deployments(namespace).Get(ctx, "carve-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkUpgradedController(t, d)
	pdb, err := kube.PolicyV1().PodDisruptionBudgets(namespace).Get(ctx, "carve-controller", metav1.GetOptions{})
	if err != nil {
		t.Errorf("PodDisruptionBudget after the upgrade: %v", err)
	} else if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || !cmpSelector(pdb.Spec.Selector, d.Spec.Selector) {
		t.Errorf("PodDisruptionBudget %+v does not keep all but one of the controller's pods", pdb.Spec)
	}
	checkDropped(ctx, t, c, renderPrevious(t), rendered)

	// Helm installs crds/ only when it installs a release, never on
	// upgrade: the CRDs are exactly as they were.
	for _, name := range crdNames {
		crd, err := crds.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if crd.ResourceVersion != crdVersions[name] {
			t.Errorf("CRD %s changed during helm upgrade (resourceVersion %s, was %s): Helm upgrades crds/ after all, update what the docs say of %q",
				name, crd.ResourceVersion, crdVersions[name], crdUpgradeCommand)
		}
	}
	// The docs have the admin run it before helm upgrade; here it comes
	// after, to see Helm leave the CRDs alone, and works the same.
	applyCRDsAsDocumented(t, c)
	checkCRDsGenerated(ctx, t, crds)

	runControllerAsServiceAccount(ctx, t, c)

	if _, err := helm(t, "uninstall", release, "--namespace", namespace, "--kubeconfig", c.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	checkUninstalled(ctx, t, c, rendered)
}

// registerAs010 registers carve's webhook configurations as 0.1.0's
// carve-controller left them (the same configurations, owned by the
// chart's ClusterRole), trusting the self-signed CA such a controller made
// in memory at its start and took with it when its pod went: the upgraded
// controller must take them over with the CA of its certificate Secret.
func registerAs010(ctx context.Context, t *testing.T, c *framework.Cluster) {
	t.Helper()
	old, err := certs.Generate([]string{"carve-webhook." + namespace + ".svc"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	e := webhooks.Endpoint{ServiceNamespace: namespace, ServiceName: "carve-webhook", CABundle: old.CA}
	if err := webhooks.Install(ctx, cl, e, namespace, "carve-controller"); err != nil {
		t.Fatalf("registering the webhooks as 0.1.0's carve-controller: %v", err)
	}
}

// renderPrevious renders the previous chart with default values.
func renderPrevious(t *testing.T) []runtime.Object {
	t.Helper()
	objs, err := decode(renderChart(t, previousChart, release, namespace, ""))
	if err != nil {
		t.Fatalf("decoding the rendered %s: %v", previousChart, err)
	}
	return objs
}

// checkRelease checks helm's record of the release.
func checkRelease(t *testing.T, c *framework.Cluster, revision, chart, appVersion string) {
	t.Helper()
	out, err := helm(t, "list", "--namespace", namespace, "--kubeconfig", c.Kubeconfig, "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var releases []struct {
		Name       string `json:"name"`
		Revision   string `json:"revision"`
		Status     string `json:"status"`
		Chart      string `json:"chart"`
		AppVersion string `json:"app_version"`
	}
	if err := json.Unmarshal([]byte(out), &releases); err != nil {
		t.Fatalf("decoding helm list: %v\n%s", err, out)
	}
	if len(releases) != 1 {
		t.Fatalf("helm list: %s, want release %s only", out, release)
	}
	r := releases[0]
	if r.Name != release || r.Revision != revision || r.Status != "deployed" || r.Chart != chart || r.AppVersion != appVersion {
		t.Fatalf("helm list: %+v, want %s revision %s deployed, chart %s, app version %s", r, release, revision, chart, appVersion)
	}
}

// checkUpgradedController checks what 0.2.0 changed in carve-controller's
// Deployment arrived: two replicas, certificates in a Secret (not a new
// self-signed CA on every start in an emptyDir), the shutdown delay.
func checkUpgradedController(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec
	f := flags(t, pod.Containers[0].Args)
	if *d.Spec.Replicas != 2 {
		t.Errorf("controller replicas %d after the upgrade, want 2", *d.Spec.Replicas)
	}
	if f["cert-secret"] != certSecret || f["shutdown-delay"] != "10s" {
		t.Errorf("controller --cert-secret=%q --shutdown-delay=%q after the upgrade, want %s and 10s", f["cert-secret"], f["shutdown-delay"], certSecret)
	}
	// Helm's three-way merge removes what 0.1.0 set and 0.2.0 does not.
	for _, gone := range []string{"self-signed-certs", "cert-dir"} {
		if v, ok := f[gone]; ok {
			t.Errorf("controller still has --%s=%s after the upgrade", gone, v)
		}
	}
	if len(pod.Volumes) != 0 || len(pod.Containers[0].VolumeMounts) != 0 {
		t.Errorf("controller still has volumes %+v and mounts %+v after the upgrade, want none", pod.Volumes, pod.Containers[0].VolumeMounts)
	}
	if pod.PriorityClassName != "carve-critical" {
		t.Errorf("controller priorityClassName %q after the upgrade, want carve's own carve-critical", pod.PriorityClassName)
	}
}

// checkDropped checks that the objects the previous chart rendered and the
// new one does not are gone.
func checkDropped(ctx context.Context, t *testing.T, c *framework.Cluster, previous, current []runtime.Object) {
	t.Helper()
	cl, err := client.New(c.Config, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	key := func(o runtime.Object) string {
		co := o.(client.Object)
		return o.GetObjectKind().GroupVersionKind().Kind + " " + client.ObjectKeyFromObject(co).String()
	}
	var keep []string
	for _, o := range current {
		keep = append(keep, key(o))
	}
	dropped := 0
	for _, o := range previous {
		if slices.Contains(keep, key(o)) {
			continue
		}
		dropped++
		got := o.DeepCopyObject().(client.Object)
		if err := cl.Get(ctx, client.ObjectKeyFromObject(got), got); !apierrors.IsNotFound(err) {
			t.Errorf("%s, rendered by 0.1.0 only, after the upgrade: %v, want NotFound", key(o), err)
		}
	}
	t.Logf("0.1.0 renders %d objects that 0.2.0 does not", dropped)
}

// olderCRD changes the Workspace CRD (its first printer column only, another
// description) as helm's field manager, standing in for the CRD of an
// older chart as helm install leaves it.
func olderCRD(ctx context.Context, t *testing.T, crds apiextensionsclient.Interface) {
	t.Helper()
	crd, err := crds.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "workspaces.carve.dev", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(crd.ManagedFields, func(m metav1.ManagedFieldsEntry) bool { return m.Manager == "helm" }) {
		t.Fatalf("CRD %s has no fields of manager helm: %+v", crd.Name, crd.ManagedFields)
	}
	crd.Spec.Versions[0].AdditionalPrinterColumns = crd.Spec.Versions[0].AdditionalPrinterColumns[:1]
	crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Description = "an older Workspace"
	if _, err := crds.ApiextensionsV1().CustomResourceDefinitions().Update(ctx, crd, metav1.UpdateOptions{FieldManager: "helm"}); err != nil {
		t.Fatal(err)
	}
}

// applyCRDsAsDocumented runs crdUpgradeCommand with the cached kubectl from
// the repository's root, as the docs say.
func applyCRDsAsDocumented(t *testing.T, c *framework.Cluster) {
	t.Helper()
	bin, err := framework.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	kubectl := func(command string) (string, error) {
		args := append([]string{"--kubeconfig", c.Kubeconfig}, strings.Fields(strings.TrimPrefix(command, "kubectl "))...)
		cmd := exec.Command(filepath.Join(bin, "kubectl"), args...)
		cmd.Dir = framework.RepoRoot()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// Positive control: without --force-conflicts a CRD that helm created
	// and that differs is refused, which is why the docs give the flag.
	plain := strings.Replace(crdUpgradeCommand, " --force-conflicts", "", 1)
	if out, err := kubectl(plain); err == nil || !strings.Contains(out, `conflict with "helm"`) {
		t.Errorf("%s on a CRD that helm created and that differs: %v, want a conflict with helm\n%s", plain, err, out)
	}
	if out, err := kubectl(crdUpgradeCommand); err != nil {
		t.Fatalf("%s: %v\n%s", crdUpgradeCommand, err, out)
	}
}

// checkCRDsGenerated compares the served CRDs with manifests/crds.
func checkCRDsGenerated(ctx context.Context, t *testing.T, crds apiextensionsclient.Interface) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(framework.RepoRoot(), "manifests", "crds", "*.yaml"))
	if err != nil || len(files) != len(crdNames) {
		t.Fatalf("manifests/crds holds %d CRDs (%v), want %d", len(files), err, len(crdNames))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want := &apiextensionsv1.CustomResourceDefinition{}
		if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096).Decode(want); err != nil {
			t.Fatalf("decoding %s: %v", f, err)
		}
		got, err := crds.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("CRD %s: %v", want.Name, err)
			continue
		}
		// The apiserver fills in the conversion strategy (None).
		want.Spec.Conversion = got.Spec.Conversion
		if diff := cmp.Diff(want.Spec, got.Spec); diff != "" {
			t.Errorf("CRD %s differs from %s (-generated +served):\n%s", want.Name, filepath.Base(f), diff)
		}
	}
}
