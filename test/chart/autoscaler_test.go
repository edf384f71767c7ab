package chart

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
	"github.com/carve-dev/carve/test/framework"
)

const autoscalerValues = `
cloudProvider: {enabled: true}
autoscaler: {enabled: true, image: {repository: example/cluster-autoscaler}}
`

func TestAutoscalerOffByDefault(t *testing.T) {
	for _, o := range render(t, "carve", "carve-system", "cloudProvider: {enabled: true, insecure: true}") {
		if name := objectName(o); strings.Contains(name, "autoscaler") {
			t.Errorf("%s rendered with autoscaler.enabled false", name)
		}
	}
}

// TestAutoscalerTemplate: the bundled autoscaler runs with the flags carve
// needs, and its cloud-config names carve-cloudprovider's Service and the
// files of the client certificate it mounts.
func TestAutoscalerTemplate(t *testing.T) {
	objs := render(t, "carve", "carve-system", autoscalerValues)
	d := named[*appsv1.Deployment](t, objs, "carve-system", "carve-autoscaler")
	spec := d.Spec.Template.Spec
	ctr := spec.Containers[0]
	f := flags(t, ctr.Args)
	for flag, want := range map[string]string{
		"cloud-provider":                   "externalgrpc",
		"enforce-node-group-min-size":      "true",
		"unremovable-node-recheck-timeout": "10s",
		"namespace":                        "carve-system",
		"leader-elect-resource-namespace":  "carve-system",
	} {
		if f[flag] != want {
			t.Errorf("--%s=%q, want %q", flag, f[flag], want)
		}
	}
	if spec.ServiceAccountName != "carve-autoscaler" || ctr.Image != "example/cluster-autoscaler:v1.36.1" {
		t.Errorf("ServiceAccount %q, image %q", spec.ServiceAccountName, ctr.Image)
	}
	checkSecurityContext(t, spec, ctr)

	// The cloud-config: where it is mounted, what it says.
	sec := named[*corev1.Secret](t, objs, "carve-system", "carve-autoscaler-cloud-config")
	var cc struct{ Address, Cert, Key, Cacert string }
	if err := yaml.Unmarshal([]byte(sec.StringData["cloud-config"]), &cc); err != nil {
		t.Fatal(err)
	}
	if cc.Address != "carve-cloudprovider.carve-system.svc:8086" {
		t.Errorf("cloud-config address %q, want carve-cloudprovider's Service", cc.Address)
	}
	mounted := func(file, secret string) {
		t.Helper()
		for _, m := range ctr.VolumeMounts {
			if filepath.Dir(file) != m.MountPath {
				continue
			}
			i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
			if i >= 0 && spec.Volumes[i].Secret != nil && spec.Volumes[i].Secret.SecretName == secret {
				return
			}
		}
		t.Errorf("%s is not a file of Secret %s in the autoscaler's pod", file, secret)
	}
	mounted(f["cloud-config"], sec.Name)
	for _, file := range []string{cc.Cert, cc.Key, cc.Cacert} {
		mounted(file, "carve-autoscaler-tls")
	}
	cp := named[*appsv1.Deployment](t, objs, "carve-system", "carve-cloudprovider")
	if i := slices.IndexFunc(cp.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Secret != nil && v.Secret.SecretName == "carve-cloudprovider-tls" }); i < 0 {
		t.Errorf("carve-cloudprovider does not serve from the Secret the chart made: %+v", cp.Spec.Template.Spec.Volumes)
	}

	// The certificates: one CA; the server's for its Service's names, the
	// client's for client authentication.
	server := named[*corev1.Secret](t, objs, "carve-system", "carve-cloudprovider-tls")
	client := named[*corev1.Secret](t, objs, "carve-system", "carve-autoscaler-tls")
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(server.Data["ca.crt"]) || string(server.Data["ca.crt"]) != string(client.Data["ca.crt"]) {
		t.Fatal("the two Secrets do not hold the same CA")
	}
	for _, tc := range []struct {
		sec   *corev1.Secret
		name  string
		usage x509.ExtKeyUsage
	}{{server, "carve-cloudprovider.carve-system.svc", x509.ExtKeyUsageServerAuth}, {client, "", x509.ExtKeyUsageClientAuth}} {
		pair, err := tls.X509KeyPair(tc.sec.Data["tls.crt"], tc.sec.Data["tls.key"])
		if err != nil {
			t.Fatalf("%s: %v", tc.sec.Name, err)
		}
		if _, err := pair.Leaf.Verify(x509.VerifyOptions{DNSName: tc.name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{tc.usage}}); err != nil {
			t.Errorf("%s does not verify for %q: %v", tc.sec.Name, tc.name, err)
		}
	}
}

// TestAutoscalerRBAC: the rules of the official cluster-autoscaler chart of
// the Kubernetes autoscaler project (9.59, cluster-scoped RBAC, no
// provider-specific rules), transcribed from it here.
func TestAutoscalerRBAC(t *testing.T) {
	objs := render(t, "carve", "carve-system", autoscalerValues)
	core := []string{""}
	want := []rbacv1.PolicyRule{
		{APIGroups: core, Resources: []string{"events", "endpoints"}, Verbs: []string{"create", "patch"}},
		{APIGroups: core, Resources: []string{"pods/eviction"}, Verbs: []string{"create"}},
		{APIGroups: core, Resources: []string{"pods/status"}, Verbs: []string{"update"}},
		{APIGroups: core, Resources: []string{"endpoints"}, ResourceNames: []string{"cluster-autoscaler"}, Verbs: []string{"get", "update"}},
		{APIGroups: core, Resources: []string{"nodes"}, Verbs: []string{"watch", "list", "get", "update"}},
		{APIGroups: core, Resources: []string{"podtemplates"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
		{APIGroups: []string{"resource.k8s.io"}, Resources: []string{"resourceslices", "deviceclasses", "resourceclaims"}, Verbs: []string{"watch", "list", "get"}},
		{APIGroups: core, Resources: []string{"namespaces", "pods", "services", "replicationcontrollers", "persistentvolumeclaims", "persistentvolumes"}, Verbs: []string{"watch", "list", "get"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: []string{"watch", "list", "get"}},
		{APIGroups: []string{"batch", "extensions"}, Resources: []string{"jobs"}, Verbs: []string{"get", "list", "patch", "watch"}},
		{APIGroups: []string{"extensions"}, Resources: []string{"replicasets", "daemonsets"}, Verbs: []string{"watch", "list", "get"}},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: []string{"watch", "list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"daemonsets", "deployments", "replicasets", "statefulsets"}, Verbs: []string{"watch", "list", "get"}},
		{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses", "csinodes", "csidrivers", "csistoragecapacities", "volumeattachments"}, Verbs: []string{"watch", "list", "get"}},
		{APIGroups: core, Resources: []string{"configmaps"}, Verbs: []string{"list", "watch", "get"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{"cluster-autoscaler"}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"autoscaling.x-k8s.io"}, Resources: []string{"provisioningrequests", "provisioningrequests/status"}, Verbs: []string{"get", "list", "watch", "update", "patch"}},
		{APIGroups: []string{"autoscaling.x-k8s.io"}, Resources: []string{"capacitybuffers", "capacityquotas"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"autoscaling.x-k8s.io"}, Resources: []string{"capacityquotas/status", "capacitybuffers/status"}, Verbs: []string{"update", "patch"}},
	}
	if diff := cmp.Diff(want, named[*rbacv1.ClusterRole](t, objs, "", "carve-autoscaler").Rules); diff != "" {
		t.Errorf("ClusterRole rules (-want +got):\n%s", diff)
	}
	wantRole := []rbacv1.PolicyRule{
		{APIGroups: core, Resources: []string{"configmaps"}, Verbs: []string{"create"}},
		{APIGroups: core, Resources: []string{"configmaps"}, ResourceNames: []string{"cluster-autoscaler-status"}, Verbs: []string{"delete", "get", "update"}},
	}
	if diff := cmp.Diff(wantRole, named[*rbacv1.Role](t, objs, "carve-system", "carve-autoscaler").Rules); diff != "" {
		t.Errorf("Role rules (-want +got):\n%s", diff)
	}
	for _, b := range []struct {
		subjects []rbacv1.Subject
		ref      rbacv1.RoleRef
	}{
		{named[*rbacv1.ClusterRoleBinding](t, objs, "", "carve-autoscaler").Subjects, named[*rbacv1.ClusterRoleBinding](t, objs, "", "carve-autoscaler").RoleRef},
		{named[*rbacv1.RoleBinding](t, objs, "carve-system", "carve-autoscaler").Subjects, named[*rbacv1.RoleBinding](t, objs, "carve-system", "carve-autoscaler").RoleRef},
	} {
		if len(b.subjects) != 1 || b.subjects[0].Name != "carve-autoscaler" || b.subjects[0].Namespace != "carve-system" || b.ref.Name != "carve-autoscaler" {
			t.Errorf("binding %+v to %+v: want the autoscaler's ServiceAccount and role", b.subjects, b.ref)
		}
	}
}

// TestInstallAutoscalerTLS installs the chart with the bundled autoscaler:
// the certificates it made survive an upgrade unchanged, and with them the
// autoscaler's client certificate is accepted by carve-cloudprovider (run on
// the host with its Deployment's arguments) while another is refused.
func TestInstallAutoscalerTLS(t *testing.T) {
	ctx := t.Context()
	c, err := framework.Start(ctx, framework.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	values := valuesFile(t, autoscalerValues)
	if _, err := helm(t, "install", release, chartDir, "-n", namespace, "--create-namespace", "--kubeconfig", c.Kubeconfig, "-f", values); err != nil {
		t.Fatal(err)
	}
	get := func(name string) *corev1.Secret {
		t.Helper()
		s, err := c.Client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	server, client := get("carve-cloudprovider-tls"), get("carve-autoscaler-tls")
	if _, err := helm(t, "upgrade", release, chartDir, "-n", namespace, "--kubeconfig", c.Kubeconfig, "-f", values); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(server.Data, get("carve-cloudprovider-tls").Data) || !cmp.Equal(client.Data, get("carve-autoscaler-tls").Data) {
		t.Fatal("helm upgrade made new certificates: both sides would have to restart together")
	}

	// carve-cloudprovider with its Deployment's flags, the Secret's files.
	d, err := c.Client.AppsV1().Deployments(namespace).Get(ctx, "carve-cloudprovider", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for k, v := range server.Data {
		if err := os.WriteFile(filepath.Join(dir, k), v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var args []string
	for name, value := range flags(t, d.Spec.Template.Spec.Containers[0].Args) {
		switch name {
		case "address":
			value = addr
		case "cert", "key", "cacert":
			value = filepath.Join(dir, filepath.Base(value))
		}
		args = append(args, "--"+name+"="+value)
	}
	args = append(args, "--kubeconfig="+c.Kubeconfig, "--platforms=Kwok")
	proc := startBinary(t, "carve-cloudprovider", cloudProviderBinary(t), "admin", args, nil, 15*time.Second)

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(client.Data["ca.crt"])
	call := func(cert tls.Certificate) error {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			RootCAs: roots, Certificates: []tls.Certificate{cert}, ServerName: "carve-cloudprovider.carve-system.svc", MinVersion: tls.VersionTLS12,
		})))
		if err != nil {
			return err
		}
		defer conn.Close()
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err = externalgrpc.NewCloudProviderClient(conn).NodeGroups(cctx, &externalgrpc.NodeGroupsRequest{})
		return err
	}
	autoscaler, err := tls.X509KeyPair(client.Data["tls.crt"], client.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	err = poll(ctx, 60*time.Second, func(context.Context) (bool, error) {
		if err := proc.alive(); err != nil {
			return false, err
		}
		return call(autoscaler) == nil, nil
	})
	if err != nil {
		t.Fatalf("the autoscaler's certificate was not accepted: %v (last: %v)", err, call(autoscaler))
	}
	stranger := newTestPKI(t).Client
	if err := call(stranger); err == nil {
		t.Error("a client certificate of another CA was accepted")
	}
}
