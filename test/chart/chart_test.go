package chart

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/carve-dev/carve/pkg/webhooks"
	"github.com/carve-dev/carve/test/framework"
)

func TestLint(t *testing.T) {
	if out, err := helm(t, "lint", "--strict", chartDir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, values := range []string{cloudProviderTLS, cloudProviderInsecure, schedulerOff, schedulerReplicas} {
		if out, err := helm(t, "lint", "--strict", chartDir, "-f", valuesFile(t, values)); err != nil {
			t.Errorf("values %q: %v\n%s", values, err, out)
		}
	}
}

// TestTemplateIsConsistent renders the chart under the usual release name
// and under one that changes every object name, and checks that the pieces
// fit together: carve-controller is told its own namespace and the Service
// that really fronts its webhook port, probes hit the health port it opens,
// RBAC binds the ServiceAccount it runs as, and the pod is locked down.
func TestTemplateIsConsistent(t *testing.T) {
	for _, tc := range []struct{ release, namespace, prefix, wantService string }{
		{"carve", "carve-system", "carve", "carve-webhook"},
		{"ml", "platform", "ml-carve", "ml-carve-webhook"},
	} {
		t.Run(tc.release, func(t *testing.T) {
			objs := render(t, tc.release, tc.namespace, "")
			checkConsistent(t, objs, tc.namespace, tc.prefix, tc.wantService)
		})
	}
}

func checkConsistent(t *testing.T, objs []runtime.Object, namespace, prefix, wantService string) {
	name := prefix + "-controller"
	for _, o := range objs {
		switch o.(type) {
		case *corev1.Namespace:
			t.Errorf("the chart renders a Namespace; Helm's --namespace/--create-namespace owns it")
		case *admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration:
			t.Errorf("the chart renders %T; carve-controller installs its webhook configurations itself", o)
		}
	}

	d := named[*appsv1.Deployment](t, objs, namespace, name)
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("Deployment has %d containers, want 1", len(d.Spec.Template.Spec.Containers))
	}
	ctr := d.Spec.Template.Spec.Containers[0]
	f := flags(t, ctr.Args)
	if f["namespace"] != namespace {
		t.Errorf("--namespace=%q, want the release namespace %q", f["namespace"], namespace)
	}
	if f["webhook-url"] != "" || f["install-webhooks"] != "true" {
		t.Errorf("--webhook-url=%q --install-webhooks=%q: carve-controller must register the webhooks itself, through the Service",
			f["webhook-url"], f["install-webhooks"])
	}

	podLabels := labels.Set(d.Spec.Template.Labels)
	sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels)
	if !sel.Matches(podLabels) {
		t.Errorf("Deployment selector %v does not match its pod labels %v", sel, podLabels)
	}

	// The Service named by --webhook-service must exist, select the pods and
	// map port 443 (what the webhook configurations call) to --webhook-port.
	svcNS, svcName, _ := strings.Cut(f["webhook-service"], "/")
	if svcNS != namespace || svcName != wantService {
		t.Errorf("--webhook-service=%q, want %s/%s", f["webhook-service"], namespace, wantService)
	}
	var svc *corev1.Service
	for _, s := range all[*corev1.Service](objs) {
		if s.Name == svcName && s.Namespace == svcNS {
			svc = s
		}
	}
	if svc == nil {
		t.Fatalf("--webhook-service=%q names no rendered Service", f["webhook-service"])
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("Service %s selector %v does not match the pod labels %v", svc.Name, svc.Spec.Selector, podLabels)
	}
	var webhookPort *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if p.Port == 443 {
			webhookPort = &svc.Spec.Ports[i]
		}
	}
	if webhookPort == nil {
		t.Fatalf("Service %s has no port 443: %+v", svc.Name, svc.Spec.Ports)
	}
	if got := containerPort(t, ctr, webhookPort.TargetPort); itoa(got) != f["webhook-port"] {
		t.Errorf("Service port 443 reaches container port %d, but --webhook-port=%s", got, f["webhook-port"])
	}

	// Probes go to the health server on the port carve-controller opens.
	wantHealth := ":" + itoa(containerPort(t, ctr, intstr.FromString("health")))
	if f["health-probe-bind-address"] != wantHealth {
		t.Errorf("--health-probe-bind-address=%q, want %q (the container port named health)", f["health-probe-bind-address"], wantHealth)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readiness", ctr.ReadinessProbe, "/readyz"}, {"liveness", ctr.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("health") {
			t.Errorf("%s probe GET %s on %s, want %s on the health port", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
	}

	// The certificates come from a Secret the Role lets it keep, served
	// from memory: no volume, nothing written to the read-only root.
	if f["cert-dir"] != "" || len(ctr.VolumeMounts) != 0 {
		t.Errorf("--cert-dir=%q and mounts %+v: want neither by default", f["cert-dir"], ctr.VolumeMounts)
	}
	wantSecret := name + "-webhook-certs"
	if f["cert-secret"] != wantSecret {
		t.Errorf("--cert-secret=%q, want %q", f["cert-secret"], wantSecret)
	}
	role := named[*rbacv1.Role](t, objs, namespace, name)
	for _, verb := range []string{"get", "list", "watch", "update", "create"} {
		if !roleAllows(role.Rules, verb, "secrets", wantSecret) {
			t.Errorf("Role %s does not allow %s on Secret %s", role.Name, verb, wantSecret)
		}
	}
	if roleAllows(role.Rules, "get", "secrets", "something-else") {
		t.Errorf("Role %s lets carve-controller read other Secrets", role.Name)
	}
	// Two replicas, kept through drains, spread over nodes, critical, and
	// given time to stop without refusing requests.
	spec := d.Spec.Template.Spec
	if *d.Spec.Replicas != 2 || spec.PriorityClassName != prefix+"-critical" || len(spec.TopologySpreadConstraints) != 1 {
		t.Errorf("replicas %d, priorityClassName %q, %d spread constraints: want 2, carve's own class, 1",
			*d.Spec.Replicas, spec.PriorityClassName, len(spec.TopologySpreadConstraints))
	}
	delay, err := time.ParseDuration(f["shutdown-delay"])
	if err != nil || delay <= 0 || spec.TerminationGracePeriodSeconds == nil || time.Duration(*spec.TerminationGracePeriodSeconds)*time.Second <= delay {
		t.Errorf("--shutdown-delay=%q with terminationGracePeriodSeconds %v: want a delay shorter than the grace period", f["shutdown-delay"], spec.TerminationGracePeriodSeconds)
	}
	pdb := named[*policyv1.PodDisruptionBudget](t, objs, namespace, d.Name)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || !cmpSelector(pdb.Spec.Selector, d.Spec.Selector) {
		t.Errorf("PodDisruptionBudget %+v does not keep all but one of the Deployment's pods", pdb.Spec)
	}
	pc := named[*schedulingv1.PriorityClass](t, objs, "", prefix+"-critical")
	if pc.Value != 1000000000 || pc.GlobalDefault {
		t.Errorf("PriorityClass %s: value %d, globalDefault %v; want the highest user value, not the default", pc.Name, pc.Value, pc.GlobalDefault)
	}

	checkSecurityContext(t, d.Spec.Template.Spec, ctr)

	// The pod runs as the rendered ServiceAccount, and that is whom the
	// RBAC bindings name.
	sa := named[*corev1.ServiceAccount](t, objs, namespace, name)
	if d.Spec.Template.Spec.ServiceAccountName != sa.Name || sa.Namespace != namespace {
		t.Errorf("pod runs as ServiceAccount %q, the chart renders %s/%s", d.Spec.Template.Spec.ServiceAccountName, sa.Namespace, sa.Name)
	}
	wantSubjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: namespace}}
	crb := named[*rbacv1.ClusterRoleBinding](t, objs, "", name)
	cr := named[*rbacv1.ClusterRole](t, objs, "", name)
	if diff := cmp.Diff(wantSubjects, crb.Subjects); diff != "" {
		t.Errorf("ClusterRoleBinding subjects (-want +got):\n%s", diff)
	}
	if crb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name}) {
		t.Errorf("ClusterRoleBinding refers to %+v, not the rendered ClusterRole %s", crb.RoleRef, cr.Name)
	}
	rb := named[*rbacv1.RoleBinding](t, objs, namespace, name)
	if diff := cmp.Diff(wantSubjects, rb.Subjects); diff != "" {
		t.Errorf("RoleBinding subjects (-want +got):\n%s", diff)
	}
	if rb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}) || rb.Namespace != namespace || role.Namespace != namespace {
		t.Errorf("RoleBinding %s/%s refers to %+v, not the rendered Role %s/%s", rb.Namespace, rb.Name, rb.RoleRef, role.Namespace, role.Name)
	}
}

func checkSecurityContext(t *testing.T, pod corev1.PodSpec, ctr corev1.Container) {
	psc, sc := pod.SecurityContext, ctr.SecurityContext
	if psc == nil || sc == nil {
		t.Fatalf("pod or container securityContext missing")
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("pod runAsNonRoot is not true")
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccompProfile = %+v, want RuntimeDefault", psc.SeccompProfile)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("container readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container allowPrivilegeEscalation is not false")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container capabilities = %+v, want drop [ALL] and nothing added", sc.Capabilities)
	}
}

// containerPort resolves a Service targetPort or probe port against the
// container's ports.
func containerPort(t *testing.T, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %q", c.Name, p.StrVal)
	return 0
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }

// TestControllerAcceptsArgs runs the carve-controller binary with the
// rendered arguments and -h: Go's flag package then exits 0 only if every
// flag the chart passes exists and its value parses.
func TestControllerAcceptsArgs(t *testing.T) {
	bin := controllerBinary(t)
	for _, values := range []string{
		"",
		"controller: {podLevelResources: off, metrics: {enabled: false, port: 8080}, logVerbosity: 4}",
		"controller: {replicas: 3, webhook: {port: 10250, certSecretName: carve-tls}}",
	} {
		d := controllerDeployment(t, render(t, "carve", "carve-system", values))
		args := append(slices.Clone(d.Spec.Template.Spec.Containers[0].Args), "-h")
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("values %q: carve-controller %s: %v\n%s", values, strings.Join(args, " "), err, lastLines(out, 5))
		}
	}
}

// controllerDeployment returns carve-controller's Deployment of release
// carve in carve-system.
func controllerDeployment(t *testing.T, objs []runtime.Object) *appsv1.Deployment {
	t.Helper()
	return named[*appsv1.Deployment](t, objs, "carve-system", "carve-controller")
}

func isA[T runtime.Object](o runtime.Object) bool {
	_, ok := o.(T)
	return ok
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return string(bytes.Join(lines[max(0, len(lines)-n):], []byte("\n")))
}

// TestRBAC lists what carve-controller does and compares it with the
// rendered ClusterRole and Role.
func TestRBAC(t *testing.T) {
	webhookConfigs := []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"}
	policies := []string{"validatingadmissionpolicies", "validatingadmissionpolicybindings"}
	wantCluster := []rbacv1.PolicyRule{
		// The informers behind every webhook decision.
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"carve.dev"}, Resources: []string{"workspaces", "resourceprofiles", "nodepools"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"scheduling.k8s.io"}, Resources: []string{"priorityclasses"}, Verbs: []string{"get", "list", "watch"}},
		// Consolidation: the count of retiring nodes, the nodes' taints,
		// every pod, sessions' conditions, evictions; and its events.
		{APIGroups: []string{"carve.dev"}, Resources: []string{"nodepools/status"}, Verbs: []string{"patch"}},
		{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch", "update"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/status"}, Verbs: []string{"patch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/eviction"}, Verbs: []string{"create"}},
		{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		// Installing the webhook configurations and admission policies:
		// create cannot be limited by name, get and update are.
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: append(slices.Clone(webhookConfigs), policies...), Verbs: []string{"create"}},
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: webhookConfigs, ResourceNames: []string{webhooks.ConfigurationName}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: policies, ResourceNames: []string{webhooks.PolicyLabels, webhooks.PolicySchedulerOutsideWorkspaces}, Verbs: []string{"get", "update"}},
		// Authenticating and authorizing whoever scrapes /metrics.
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
		// Their owner, so helm uninstall removes them.
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}, ResourceNames: []string{"carve-controller"}, Verbs: []string{"get"}},
	}
	// The leader-election Lease and the certificate Secret (create cannot
	// be limited by name), and the dry-run pod of podLevelResources=auto,
	// in carve's own namespace.
	leaseRules := []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{"carve-controller"}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
	}
	secretRules := append(slices.Clone(leaseRules),
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"carve-controller-webhook-certs"}, Verbs: []string{"get", "list", "watch", "update", "delete"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
	)
	wantRole := append(slices.Clone(secretRules), rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}})

	objs := render(t, "carve", "carve-system", "")
	if diff := cmp.Diff(wantCluster, named[*rbacv1.ClusterRole](t, objs, "", "carve-controller").Rules); diff != "" {
		t.Errorf("ClusterRole rules (-want +got):\n%s", diff)
	}
	role := named[*rbacv1.Role](t, objs, "carve-system", "carve-controller")
	if diff := cmp.Diff(wantRole, role.Rules); diff != "" {
		t.Errorf("Role rules (-want +got):\n%s", diff)
	}

	// With podLevelResources on or off there is no probe, hence no pods.
	for _, mode := range []string{"on", "off"} {
		objs := render(t, "carve", "carve-system", "controller: {podLevelResources: "+mode+"}")
		role := named[*rbacv1.Role](t, objs, "carve-system", "carve-controller")
		if diff := cmp.Diff(secretRules, role.Rules); diff != "" {
			t.Errorf("podLevelResources=%s: Role rules (-want +got):\n%s", mode, diff)
		}
	}
	// With certificates of the admin's and no probe, the Role holds the
	// Lease alone.
	objs = render(t, "carve", "carve-system", "controller: {podLevelResources: 'off', webhook: {certSecretName: x}}")
	if diff := cmp.Diff(leaseRules, named[*rbacv1.Role](t, objs, "carve-system", "carve-controller").Rules); diff != "" {
		t.Errorf("certSecretName and podLevelResources=off: Role rules (-want +got):\n%s", diff)
	}
}

// TestPodLevelResources checks the flag for each mode, written the ways a
// values file can: unquoted on/off are YAML 1.1 booleans.
func TestPodLevelResources(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"auto", "auto"},
		{`"on"`, "on"},
		{`"off"`, "off"},
		{"on", "on"},
		{"off", "off"},
		{"true", "on"},
		{"false", "off"},
	} {
		d := controllerDeployment(t, render(t, "carve", "carve-system", "controller: {podLevelResources: "+tc.value+"}"))
		if got := flags(t, d.Spec.Template.Spec.Containers[0].Args)["pod-level-resources"]; got != tc.want {
			t.Errorf("podLevelResources: %s gives --pod-level-resources=%s, want %s", tc.value, got, tc.want)
		}
	}
}

// TestCertSecret checks certificates kept by something else (cert-manager):
// the Secret is mounted and read, and carve-controller gets no Secret
// permissions (its Role holds only the leader-election Lease).
func TestCertSecret(t *testing.T) {
	objs := render(t, "carve", "carve-system", "controller: {replicas: 3, podLevelResources: 'on', webhook: {port: 9443, certSecretName: carve-tls}}")
	d := controllerDeployment(t, objs)
	ctr := d.Spec.Template.Spec.Containers[0]
	f := flags(t, ctr.Args)
	if _, ok := f["cert-secret"]; ok {
		t.Errorf("--cert-secret=%q given with a Secret of the admin's", f["cert-secret"])
	}
	for _, r := range all[*rbacv1.Role](objs) {
		for _, rule := range r.Rules {
			if slices.Contains(rule.Resources, "secrets") {
				t.Errorf("Role %s grants %v on Secrets; with certSecretName carve-controller needs none", r.Name, rule.Verbs)
			}
		}
	}
	i := slices.IndexFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == f["cert-dir"] })
	if i < 0 {
		t.Fatalf("nothing mounted at --cert-dir=%s", f["cert-dir"])
	}
	j := slices.IndexFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == ctr.VolumeMounts[i].Name })
	if j < 0 || d.Spec.Template.Spec.Volumes[j].Secret == nil || d.Spec.Template.Spec.Volumes[j].Secret.SecretName != "carve-tls" {
		t.Errorf("--cert-dir is not the Secret carve-tls: %+v", d.Spec.Template.Spec.Volumes)
	}
	if *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %d, want 3", *d.Spec.Replicas)
	}
}

// roleAllows reports whether rules grant verb on the core resource named
// name.
func roleAllows(rules []rbacv1.PolicyRule, verb, resource, name string) bool {
	return slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) &&
			(len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, name))
	})
}

func cmpSelector(a, b *metav1.LabelSelector) bool {
	return a != nil && b != nil && maps.Equal(a.MatchLabels, b.MatchLabels) && len(a.MatchExpressions) == 0 && len(b.MatchExpressions) == 0
}

// TestSchemaRejects checks that values.schema.json turns bad values into an
// error that names the field.
func TestSchemaRejects(t *testing.T) {
	for _, tc := range []struct{ values, want string }{
		{"controller: {replicas: -1}", "/controller/replicas"},
		{"controller: {replicas: 0}", "/controller/replicas"},
		{"controller: {podDisruptionBudget: {enabled: true, maxUnavailable: 0}}", "/controller/podDisruptionBudget/maxUnavailable"},
		{"controller: {shutdownDelaySeconds: -1}", "/controller/shutdownDelaySeconds"},
		{"controller: {podLevelResources: maybe}", "/controller/podLevelResources"},
		{"controller: {webhook: {port: 70000}}", "/controller/webhook/port"},
		{"controller: {image: {pullPolicy: Sometimes}}", "/controller/image/pullPolicy"},
		{"controller: {replica: 1}", "'replica' not allowed"},
		{"scheduler: {enabled: yes-please}", "/scheduler/enabled"},
		{"scheduler: {replicas: 0}", "/scheduler/replicas"},
		{"scheduler: {securePort: 0}", "/scheduler/securePort"},
		{"scheduler: {image: {repository: ''}}", "/scheduler/image/repository"},
		// Settings of carve-controller's pods only.
		{"scheduler: {podDisruptionBudget: {enabled: true, maxUnavailable: 1}}", "'podDisruptionBudget' not allowed"},
		{"scheduler: {topologySpreadConstraints: []}", "'topologySpreadConstraints' not allowed"},
		{"cloudProvider: {enabled: true, insecure: true, shutdownDelaySeconds: 5}", "'shutdownDelaySeconds' not allowed"},
		// The configuration is manifests/scheduler/config.yaml, not values.
		{"scheduler: {config: {profiles: []}}", "'config' not allowed"},
		// carve-cloudprovider serves mutual TLS from a Secret, or plaintext
		// when told so explicitly, never both.
		{"cloudProvider: {enabled: true}", "/cloudProvider/tls/secretName"},
		{"cloudProvider: {enabled: true, insecure: true, tls: {secretName: x}}", "/cloudProvider/tls/secretName"},
		{"cloudProvider: {enabled: true, port: 0, insecure: true}", "/cloudProvider/port"},
		{"cloudProvider: {enabled: true, replicas: 2, insecure: true}", "'replicas' not allowed"},
	} {
		out, err := helm(t, "template", "carve", chartDir, "-n", "carve-system", "-f", valuesFile(t, tc.values))
		if err == nil {
			t.Errorf("values %q rendered, want a schema error\n%s", tc.values, out)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("values %q: error does not name %q:\n%v", tc.values, tc.want, err)
		}
	}
}

// TestCRDsMatchGenerated checks charts/carve/crds holds exactly the
// generated CRDs, directly and through hack/chart-crds.sh --check.
func TestCRDsMatchGenerated(t *testing.T) {
	root := framework.RepoRoot()
	read := func(dir string) map[string]string {
		files, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m[filepath.Base(f)] = string(b)
		}
		return m
	}
	want := read(filepath.Join(root, "manifests", "crds"))
	if len(want) == 0 {
		t.Fatal("no CRDs in manifests/crds")
	}
	if diff := cmp.Diff(want, read(filepath.Join(chartDir, "crds"))); diff != "" {
		t.Errorf("charts/carve/crds differs from manifests/crds; run hack/chart-crds.sh (-manifests +chart):\n%s", diff)
	}
	cmd := exec.Command(filepath.Join(root, "hack", "chart-crds.sh"), "--check")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("hack/chart-crds.sh --check: %v\n%s", err, out)
	}
}

// TestChartCRDsScript runs hack/chart-crds.sh in a scratch copy of the
// layout it works on: --check must fail on a changed, missing or extra
// file, and a plain run must make the copies identical again.
func TestChartCRDsScript(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(framework.RepoRoot(), "hack", "chart-crds.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		chart map[string]string // charts/carve/crds before the run
	}{
		{"changed", map[string]string{"a.yaml": "a: 1\n", "b.yaml": "b: 0\n"}},
		{"missing", map[string]string{"a.yaml": "a: 1\n"}},
		{"extra", map[string]string{"a.yaml": "a: 1\n", "b.yaml": "b: 2\n", "old.yaml": "old\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			write := fileWriter(t, root)
			write("hack/chart-crds.sh", string(script), 0o755)
			write("manifests/crds/a.yaml", "a: 1\n", 0o644)
			write("manifests/crds/b.yaml", "b: 2\n", 0o644)
			for name, data := range tc.chart {
				write("charts/carve/crds/"+name, data, 0o644)
			}
			run := func(args ...string) error {
				return exec.Command(filepath.Join(root, "hack", "chart-crds.sh"), args...).Run()
			}
			if err := run("--check"); err == nil {
				t.Errorf("--check passed on a %s CRD", tc.name)
			} else if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Errorf("--check: %v, want exit status 1", err)
			}
			if err := run(); err != nil {
				t.Fatalf("copying: %v", err)
			}
			if err := run("--check"); err != nil {
				t.Errorf("--check after copying: %v", err)
			}
		})
	}
}

// TestRunAsUser: every pod runs as the images' user by default, and as one
// the platform assigns (OpenShift's restricted-v2 SCC) with runAsUser null,
// non-root either way.
func TestRunAsUser(t *testing.T) {
	for values, want := range map[string]*int64{
		"cloudProvider: {enabled: true, insecure: true}":                  ptrInt64(65532),
		"runAsUser: null\ncloudProvider: {enabled: true, insecure: true}": nil,
	} {
		ds := all[*appsv1.Deployment](render(t, "carve", "carve-system", values))
		if len(ds) != 3 {
			t.Fatalf("%d Deployments rendered, want 3", len(ds))
		}
		for _, d := range ds {
			sc := d.Spec.Template.Spec.SecurityContext
			if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
				t.Errorf("%s: pod not required to run as non-root: %+v", d.Name, sc)
				continue
			}
			if !cmp.Equal(want, sc.RunAsUser) || !cmp.Equal(want, sc.RunAsGroup) {
				t.Errorf("values %q: %s runs as user %v group %v, want %v", values, d.Name, sc.RunAsUser, sc.RunAsGroup, want)
			}
		}
	}
}

func ptrInt64(i int64) *int64 { return &i }
