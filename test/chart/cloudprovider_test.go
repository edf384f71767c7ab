package chart

import (
	"crypto/tls"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	providerrun "github.com/carve-dev/carve/pkg/cloudprovider/run"
	"github.com/carve-dev/carve/test/framework"
)

// Values that enable carve-cloudprovider: over mutual TLS from a Secret,
// and in plaintext.
const (
	cloudProviderTLS      = "cloudProvider: {enabled: true, tls: {secretName: carve-cloudprovider-tls}}"
	cloudProviderInsecure = "cloudProvider: {enabled: true, insecure: true, port: 9000}"
)

func TestCloudProviderOffByDefault(t *testing.T) {
	for _, o := range render(t, "carve", "carve-system", "") {
		if strings.Contains(objectName(o), "cloudprovider") {
			t.Errorf("rendered %T %s with cloudProvider.enabled=false", o, objectName(o))
		}
	}
}

func objectName(o runtime.Object) string {
	if m, ok := o.(interface{ GetName() string }); ok {
		return m.GetName()
	}
	return ""
}

// TestCloudProviderTemplate checks that carve-cloudprovider's objects fit
// together and stay apart from carve-controller's: it listens on the port
// its Service reaches, reads its certificates from the Secret mounted where
// its flags point, is probed on that port, runs alone and locked down, and
// its RBAC binds the ServiceAccount it runs as.
func TestCloudProviderTemplate(t *testing.T) {
	for _, tc := range []struct {
		release, namespace, values, prefix string
		port                               int32
	}{
		{"carve", "carve-system", cloudProviderTLS, "carve", 8086},
		{"ml", "platform", cloudProviderInsecure, "ml-carve", 9000},
	} {
		t.Run(tc.release, func(t *testing.T) {
			objs := render(t, tc.release, tc.namespace, tc.values)
			checkCloudProvider(t, objs, tc.namespace, tc.prefix, tc.port, tc.values == cloudProviderInsecure)
		})
	}
}

func checkCloudProvider(t *testing.T, objs []runtime.Object, namespace, prefix string, port int32, insecure bool) {
	name := prefix + "-cloudprovider"
	d := named[*appsv1.Deployment](t, objs, namespace, name)
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("replicas %d, strategy %q: want 1 and Recreate, so that two servers never guard the same pools at once", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	ctr := pod.Containers[0]
	f := flags(t, ctr.Args)
	podLabels := labels.Set(d.Spec.Template.Labels)
	if !labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(podLabels) {
		t.Errorf("Deployment selector %v does not match its pod labels %v", d.Spec.Selector.MatchLabels, podLabels)
	}

	// The Service reaches the port carve-cloudprovider listens on.
	grpcPort := containerPort(t, ctr, intstr.FromString("grpc"))
	if f["address"] != ":"+itoa(grpcPort) {
		t.Errorf("--address=%q, want :%d (the container port named grpc)", f["address"], grpcPort)
	}
	svc := named[*corev1.Service](t, objs, namespace, name)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("Service %s selector %v does not match the pod labels %v", svc.Name, svc.Spec.Selector, podLabels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != port || containerPort(t, ctr, svc.Spec.Ports[0].TargetPort) != grpcPort {
		t.Errorf("Service ports %+v, want %d to the grpc container port %d", svc.Spec.Ports, port, grpcPort)
	}
	// carve-controller's Deployment and Services never pick these pods,
	// nor this Service carve-controller's.
	ctrl := named[*appsv1.Deployment](t, objs, namespace, prefix+"-controller")
	if labels.SelectorFromSet(ctrl.Spec.Selector.MatchLabels).Matches(podLabels) {
		t.Errorf("carve-controller's Deployment selects carve-cloudprovider's pods")
	}
	for _, s := range all[*corev1.Service](objs) {
		if s.Name != name && labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			t.Errorf("Service %s selects carve-cloudprovider's pods", s.Name)
		}
	}
	if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(ctrl.Spec.Template.Labels)) {
		t.Errorf("Service %s selects carve-controller's pods", svc.Name)
	}

	for _, p := range []struct {
		name  string
		probe *corev1.Probe
	}{{"readiness", ctr.ReadinessProbe}, {"liveness", ctr.LivenessProbe}} {
		if p.probe == nil || p.probe.TCPSocket == nil || p.probe.TCPSocket.Port != intstr.FromString("grpc") {
			t.Errorf("%s probe %+v, want a TCP check of the grpc port", p.name, p.probe)
		}
	}

	// TLS: the three files are the keys of the Secret mounted where the
	// flags point; plaintext only when insecure says so.
	if insecure {
		if f["insecure"] != "true" || f["cert"] != "" || f["key"] != "" || f["cacert"] != "" || len(pod.Volumes) != 0 {
			t.Errorf("insecure: flags %v, volumes %v; want --insecure=true and no certificates", f, pod.Volumes)
		}
	} else {
		if _, ok := f["insecure"]; ok {
			t.Errorf("--insecure=%s with TLS", f["insecure"])
		}
		for flag, key := range map[string]string{"cert": "tls.crt", "key": "tls.key", "cacert": "ca.crt"} {
			dir, file := path.Split(f[flag])
			i := slices.IndexFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath+"/" == dir })
			if file != key || i < 0 || !ctr.VolumeMounts[i].ReadOnly {
				t.Errorf("--%s=%q is not the key %s of a read-only mount: %+v", flag, f[flag], key, ctr.VolumeMounts)
				continue
			}
			j := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == ctr.VolumeMounts[i].Name })
			if j < 0 || pod.Volumes[j].Secret == nil || pod.Volumes[j].Secret.SecretName != "carve-cloudprovider-tls" {
				t.Errorf("--%s is not read from the Secret carve-cloudprovider-tls: %+v", flag, pod.Volumes)
			}
		}
	}

	checkSecurityContext(t, pod, ctr)

	sa := named[*corev1.ServiceAccount](t, objs, namespace, name)
	if pod.ServiceAccountName != sa.Name {
		t.Errorf("pod runs as ServiceAccount %q, want %s", pod.ServiceAccountName, sa.Name)
	}
	wantSubjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: namespace}}
	crb := named[*rbacv1.ClusterRoleBinding](t, objs, "", name)
	cr := named[*rbacv1.ClusterRole](t, objs, "", name)
	if diff := cmp.Diff(wantSubjects, crb.Subjects); diff != "" {
		t.Errorf("ClusterRoleBinding subjects (-want +got):\n%s", diff)
	}
	if crb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name}) {
		t.Errorf("ClusterRoleBinding refers to %+v, not ClusterRole %s", crb.RoleRef, cr.Name)
	}
	rb := named[*rbacv1.RoleBinding](t, objs, "default", name+"-events")
	role := named[*rbacv1.Role](t, objs, "default", name+"-events")
	if diff := cmp.Diff(wantSubjects, rb.Subjects); diff != "" {
		t.Errorf("RoleBinding subjects (-want +got):\n%s", diff)
	}
	if rb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}) {
		t.Errorf("RoleBinding refers to %+v, not Role %s", rb.RoleRef, role.Name)
	}
}

// TestCloudProviderAcceptsArgs runs the carve-cloudprovider binary with the
// rendered arguments and -h (every flag exists and parses), and hands the
// TLS flags, pointed at real files, to the function the binary builds its
// TLS from: the chart's combination must give mutual TLS, or plaintext only
// with insecure.
func TestCloudProviderAcceptsArgs(t *testing.T) {
	bin := cloudProviderBinary(t)
	pki := newTestPKI(t)
	for _, values := range []string{
		cloudProviderTLS,
		cloudProviderInsecure,
		"cloudProvider: {enabled: true, logVerbosity: 5, tls: {secretName: x}}",
		"cloudProvider: {enabled: true, tls: {secretName: x}, platforms: [EKS, Kwok]}",
	} {
		d := named[*appsv1.Deployment](t, render(t, "carve", "carve-system", values), "carve-system", "carve-cloudprovider")
		args := d.Spec.Template.Spec.Containers[0].Args
		out, err := exec.Command(bin, append(slices.Clone(args), "-h")...).CombinedOutput()
		if err != nil {
			t.Errorf("values %q: carve-cloudprovider %s -h: %v\n%s", values, strings.Join(args, " "), err, lastLines(out, 5))
		}
		f := flags(t, args)
		if _, err := providerrun.ParsePlatforms(f["platforms"]); err != nil {
			t.Errorf("values %q: --platforms=%q is refused: %v", values, f["platforms"], err)
		}
		local := func(p string) string {
			if p == "" {
				return ""
			}
			return pki.Dir + "/" + path.Base(p)
		}
		cfg, err := providerrun.TLSConfig(local(f["cert"]), local(f["key"]), local(f["cacert"]), f["insecure"] == "true")
		switch {
		case err != nil:
			t.Errorf("values %q: the TLS flags are refused: %v", values, err)
		case f["insecure"] == "true":
			if cfg != nil {
				t.Errorf("values %q: --insecure=true, but TLS is served", values)
			}
		case cfg == nil:
			t.Errorf("values %q: plaintext, want mutual TLS", values)
		default:
			// Each connection gets the current files' config.
			eff, err := cfg.GetConfigForClient(&tls.ClientHelloInfo{})
			if err != nil || eff.ClientAuth != tls.RequireAndVerifyClientCert {
				t.Errorf("values %q: TLS config %+v (%v), want mutual TLS", values, eff, err)
			}
		}
	}
}

// TestCloudProviderRBAC lists what carve-cloudprovider does and compares it
// with the rendered ClusterRole and Role.
func TestCloudProviderRBAC(t *testing.T) {
	wantCluster := []rbacv1.PolicyRule{
		// The NodePool and Node informers; status sizes and conditions.
		{APIGroups: []string{"carve.dev"}, Resources: []string{"nodepools"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"carve.dev"}, Resources: []string{"nodepools/status"}, Verbs: []string{"patch"}},
		// The kwok platform makes and removes Nodes.
		{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch", "create", "delete", "update"}},
		// Pods on a node about to be deleted, read live.
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}},
	}
	// Events of refusals, in "default" only (NodePools are cluster-scoped).
	wantRole := []rbacv1.PolicyRule{{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}}}

	objs := render(t, "carve", "carve-system", cloudProviderTLS)
	if diff := cmp.Diff(wantCluster, named[*rbacv1.ClusterRole](t, objs, "", "carve-cloudprovider").Rules); diff != "" {
		t.Errorf("ClusterRole rules (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantRole, named[*rbacv1.Role](t, objs, "default", "carve-cloudprovider-events").Rules); diff != "" {
		t.Errorf("Role rules (-want +got):\n%s", diff)
	}
}

// TestCloudProviderPlatformsAndServiceAccount: platforms reach the binary's
// --platforms flag, and the ServiceAccount carries the annotations that IRSA
// and workload identity read.
func TestCloudProviderPlatformsAndServiceAccount(t *testing.T) {
	values := "cloudProvider: {enabled: true, tls: {secretName: x}, platforms: [EKS], serviceAccount: {annotations: {eks.amazonaws.com/role-arn: 'arn:aws:iam::111122223333:role/carve'}}}"
	objs := render(t, "carve", "carve-system", values)
	d := named[*appsv1.Deployment](t, objs, "carve-system", "carve-cloudprovider")
	if got := flags(t, d.Spec.Template.Spec.Containers[0].Args)["platforms"]; got != "EKS" {
		t.Errorf("--platforms = %q, want EKS", got)
	}
	sa := named[*corev1.ServiceAccount](t, objs, "carve-system", "carve-cloudprovider")
	if got := sa.Annotations["eks.amazonaws.com/role-arn"]; got != "arn:aws:iam::111122223333:role/carve" {
		t.Errorf("ServiceAccount annotations %v, want the IRSA role", sa.Annotations)
	}
	aks := render(t, "carve", "carve-system", "cloudProvider: {enabled: true, tls: {secretName: x}, platforms: [AKS], podLabels: {azure.workload.identity/use: 'true'}}")
	pod := named[*appsv1.Deployment](t, aks, "carve-system", "carve-cloudprovider").Spec.Template
	if pod.Labels["azure.workload.identity/use"] != "true" || pod.Labels["app.kubernetes.io/name"] == "" {
		t.Errorf("pod labels %v, want the workload identity label beside the chart's own", pod.Labels)
	}
	if _, err := helm(t, "template", "carve", chartDir, "--set", "cloudProvider.enabled=true", "--set", "cloudProvider.insecure=true", "--set", "cloudProvider.platforms={GCE}"); err == nil {
		t.Error("platforms [GCE] rendered; want the schema to refuse it")
	}
}

// TestCloudProviderMachineAPIRBAC: the Machine API permissions are granted
// only when cloudProvider.platforms names the platform, and are exactly the
// rules its page in docs/platforms documents (and the machineapi
// integration test proves sufficient).
func TestCloudProviderMachineAPIRBAC(t *testing.T) {
	for _, o := range render(t, "carve", "carve-system", cloudProviderTLS) {
		if name := objectName(o); strings.Contains(name, "cloudprovider-openshift") || strings.Contains(name, "cloudprovider-clusterapi") {
			t.Errorf("without platforms named, %s is rendered", name)
		}
	}
	objs := render(t, "carve", "carve-system", "cloudProvider: {enabled: true, tls: {secretName: x}, platforms: [OpenShift, ClusterAPI]}")
	for _, tc := range []struct {
		page, namespace, name string
	}{
		{"openshift.md", "openshift-machine-api", "carve-cloudprovider-openshift"},
		{"clusterapi.md", "", "carve-cloudprovider-clusterapi"},
	} {
		want := documentedRules(t, filepath.Join(framework.RepoRoot(), "docs", "platforms", tc.page))
		var got []rbacv1.PolicyRule
		if tc.namespace == "" {
			got = named[*rbacv1.ClusterRole](t, objs, "", tc.name).Rules
			crb := named[*rbacv1.ClusterRoleBinding](t, objs, "", tc.name)
			if crb.Subjects[0].Name != "carve-cloudprovider" || crb.Subjects[0].Namespace != "carve-system" {
				t.Errorf("%s binds %v, want carve-cloudprovider's ServiceAccount", tc.name, crb.Subjects)
			}
		} else {
			got = named[*rbacv1.Role](t, objs, tc.namespace, tc.name).Rules
			rb := named[*rbacv1.RoleBinding](t, objs, tc.namespace, tc.name)
			if rb.Subjects[0].Name != "carve-cloudprovider" || rb.Subjects[0].Namespace != "carve-system" {
				t.Errorf("%s binds %v, want carve-cloudprovider's ServiceAccount", tc.name, rb.Subjects)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s rules against docs/platforms/%s (-docs +chart):\n%s", tc.name, tc.page, diff)
		}
	}
}

// documentedRules reads the rules of the Role or ClusterRole in the first
// yaml block of a page's "## Permissions" section.
func documentedRules(t *testing.T, path string) []rbacv1.PolicyRule {
	t.Helper()
	block, err := framework.DocYAML(path, "Permissions")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(block)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, o := range objs {
		switch r := o.(type) {
		case *rbacv1.Role:
			return r.Rules
		case *rbacv1.ClusterRole:
			return r.Rules
		}
	}
	t.Fatalf("%s: no Role or ClusterRole under Permissions", path)
	return nil
}
