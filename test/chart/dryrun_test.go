package chart

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/carve-dev/carve/test/framework"
)

// cloudProviderPlatforms turns on every platform, with the ServiceAccount
// annotations and pod label of the clouds' workload identities.
const cloudProviderPlatforms = `cloudProvider:
  enabled: true
  tls: {secretName: carve-cloudprovider-tls}
  platforms: [Kwok, EKS, AKS, OpenShift, ClusterAPI]
  serviceAccount:
    annotations:
      eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/carve
      azure.workload.identity/client-id: 00000000-0000-0000-0000-000000000000
  podLabels: {azure.workload.identity/use: "true"}
`

// TestServerSideDryRun sends every object the chart renders, for several
// value sets, to a real kube-apiserver with server-side apply in dry-run
// mode (dryRun=All: admission and validation run in full, nothing is
// stored), so the apiserver itself judges what helm template cannot:
// invalid or unknown fields, selectors, PodDisruptionBudgets, RBAC
// references. A Deployment's pod template is validated only as a template:
// its priority class, ServiceAccount and Pod Security level are checked on
// pods, so a pod made from each template is created as a dry run too, in
// namespaces that enforce the restricted Pod Security Standard. Broken
// copies of rendered objects must be refused, which shows the dry run
// validates.
func TestServerSideDryRun(t *testing.T) {
	ctx := t.Context()
	c := startControlPlane(t, framework.Options{})
	a := newApplier(t, c.Config)
	applyCRDs(ctx, t, a, c.Config)

	for _, tc := range []struct{ name, release, namespace, values string }{
		{"defaults", "carve", "carve-system", ""},
		{"cloudprovider-mtls", "carve", "carve-system", cloudProviderTLS},
		{"cloudprovider-platforms", "carve", "carve-system", cloudProviderPlatforms},
		{"controller-admin-certs", "carve", "carve-system", "controller: {webhook: {certSecretName: carve-webhook-tls}, podLevelResources: 'on'}"},
		{"scheduler-off", "carve", "carve-system", schedulerOff},
		{"fullname-override", "ml", "ml-platform", "fullnameOverride: ml-carve\ncloudProvider: {enabled: true, insecure: true}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			manifests := renderManifests(t, tc.release, tc.namespace, tc.values)
			objs := unstructuredObjects(t, manifests)
			createNamespaces(ctx, t, c.Client, objs, tc.namespace)
			for _, obj := range objs {
				if err := a.apply(ctx, obj, tc.namespace, true); err != nil {
					t.Errorf("%s refused by the apiserver: %v", describe(obj), err)
				}
			}
			// Nothing was stored: the dry run was one.
			for _, obj := range objs {
				if _, err := a.get(ctx, obj, tc.namespace); !apierrors.IsNotFound(err) {
					t.Errorf("%s after a dry run: %v, want NotFound", describe(obj), err)
				}
			}

			typed, err := decode(manifests)
			if err != nil {
				t.Fatal(err)
			}
			applyServiceAccounts(ctx, t, a, c.Client, objs, tc.namespace)
			for _, d := range all[*appsv1.Deployment](typed) {
				if err := dryRunPod(ctx, c.Client, d); err != nil {
					t.Errorf("a pod of Deployment %s/%s refused by the apiserver: %v", d.Namespace, d.Name, err)
				}
			}
		})
	}

	// Positive controls: broken copies of the default objects.
	manifests := renderManifests(t, "carve", "carve-system", "")
	objs := unstructuredObjects(t, manifests)
	find := func(kind, name string) *unstructured.Unstructured {
		t.Helper()
		i := slices.IndexFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == kind && o.GetName() == name })
		if i < 0 {
			t.Fatalf("no rendered %s %s", kind, name)
		}
		return objs[i].DeepCopy()
	}
	set := func(obj *unstructured.Unstructured, value any, path ...string) *unstructured.Unstructured {
		t.Helper()
		if err := unstructured.SetNestedField(obj.Object, value, path...); err != nil {
			t.Fatal(err)
		}
		return obj
	}
	unknownField := find("Deployment", "carve-controller")
	containers, _, _ := unstructured.NestedSlice(unknownField.Object, "spec", "template", "spec", "containers")
	containers[0].(map[string]any)["argz"] = []any{"--v=1"}
	set(unknownField, containers, "spec", "template", "spec", "containers")
	for _, tc := range []struct {
		name string
		obj  *unstructured.Unstructured
		want string
	}{
		{"selector", set(find("Deployment", "carve-controller"), map[string]any{"app": "other"}, "spec", "selector", "matchLabels"), "does not match template"},
		{"unknown field", unknownField, "field not declared in schema"},
		{"PodDisruptionBudget", set(find("PodDisruptionBudget", "carve-controller"), int64(1), "spec", "minAvailable"), "cannot be both set"},
	} {
		err := a.apply(ctx, tc.obj, "carve-system", true)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("positive control %q: a broken %s: %v, want an error containing %q", tc.name, describe(tc.obj), err, tc.want)
		}
	}
	typed, err := decode(manifests)
	if err != nil {
		t.Fatal(err)
	}
	applyServiceAccounts(ctx, t, a, c.Client, objs, "carve-system")
	d := named[*appsv1.Deployment](t, typed, "carve-system", "carve-controller")
	for _, tc := range []struct {
		name string
		edit func(*corev1.PodSpec)
		want string
	}{
		{"priority class", func(p *corev1.PodSpec) { p.PriorityClassName = "no-such-class" }, "no PriorityClass with name no-such-class"},
		{"pod security", func(p *corev1.PodSpec) {
			p.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
		}, "violates PodSecurity"},
		{"service account", func(p *corev1.PodSpec) { p.ServiceAccountName = "no-such-account" }, "no-such-account"},
	} {
		broken := d.DeepCopy()
		tc.edit(&broken.Spec.Template.Spec)
		err := dryRunPod(ctx, c.Client, broken)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("positive control %q: a broken pod of Deployment %s: %v, want an error containing %q", tc.name, d.Name, err, tc.want)
		}
	}
}

// startControlPlane starts a control plane for the test and stops it when
// the test ends.
func startControlPlane(t *testing.T, o framework.Options) *framework.Cluster {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	c, err := framework.Start(t.Context(), o)
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return c
}

// applyCRDs applies the chart's CRDs (charts/carve/crds) for real and waits
// until the apiserver serves them.
func applyCRDs(ctx context.Context, t *testing.T, a *applier, cfg *rest.Config) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in the chart: %v", err)
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, crd := range unstructuredObjects(t, string(b)) {
			if err := a.apply(ctx, crd, "", false); err != nil {
				t.Fatalf("applying %s from %s: %v", describe(crd), f, err)
			}
			names = append(names, crd.GetName())
		}
	}
	waitEstablished(ctx, t, cfg, names)
}

// waitEstablished waits until each named CRD is established.
func waitEstablished(ctx context.Context, t *testing.T, cfg *rest.Config, names []string) {
	t.Helper()
	crds, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		err := poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
			crd, err := crds.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("CRD %s not established: %v", name, err)
		}
	}
}

// createNamespaces creates, for real, the release namespace and every
// other namespace the objects are in, unless it exists; those it creates
// enforce the restricted Pod Security Standard, as many clusters do.
func createNamespaces(ctx context.Context, t *testing.T, kube kubernetes.Interface, objs []*unstructured.Unstructured, release string) {
	t.Helper()
	names := []string{release}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && !slices.Contains(names, ns) {
			names = append(names, ns)
		}
	}
	for _, name := range names {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
		}}
		if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating namespace %s: %v", name, err)
		}
	}
}

// applyServiceAccounts applies the rendered ServiceAccounts and
// PriorityClasses for real, for the admission of dry-run pods (which looks
// both up), and deletes them when the test ends.
func applyServiceAccounts(ctx context.Context, t *testing.T, a *applier, kube kubernetes.Interface, objs []*unstructured.Unstructured, namespace string) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "PriorityClass" {
			if err := a.apply(ctx, o, "", false); err != nil {
				t.Fatalf("applying %s: %v", describe(o), err)
			}
			t.Cleanup(func() {
				if err := kube.SchedulingV1().PriorityClasses().Delete(context.WithoutCancel(ctx), o.GetName(), metav1.DeleteOptions{}); err != nil {
					t.Errorf("deleting %s: %v", describe(o), err)
				}
			})
			continue
		}
		if o.GetKind() != "ServiceAccount" {
			continue
		}
		if err := a.apply(ctx, o, namespace, false); err != nil {
			t.Fatalf("applying %s: %v", describe(o), err)
		}
		t.Cleanup(func() {
			ns := o.GetNamespace()
			if ns == "" {
				ns = namespace
			}
			if err := kube.CoreV1().ServiceAccounts(ns).Delete(context.WithoutCancel(ctx), o.GetName(), metav1.DeleteOptions{}); err != nil {
				t.Errorf("deleting %s: %v", describe(o), err)
			}
		})
	}
}

// dryRunPod creates, as a dry run, a pod from d's template, as the
// ReplicaSet controller would.
func dryRunPod(ctx context.Context, kube kubernetes.Interface, d *appsv1.Deployment) error {
	pod := &corev1.Pod{
		ObjectMeta: *d.Spec.Template.ObjectMeta.DeepCopy(),
		Spec:       *d.Spec.Template.Spec.DeepCopy(),
	}
	pod.Namespace = d.Namespace
	pod.GenerateName = d.Name + "-"
	_, err := kube.CoreV1().Pods(d.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}
