package chart

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	kubeschedulerconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/validation"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	// carve's plugin args, as cmd/carve-scheduler registers them.
	_ "github.com/carve-dev/carve/pkg/apis/config/scheme"
	"github.com/carve-dev/carve/test/framework"
)

// Values that change carve-scheduler: off, and several replicas.
const (
	schedulerOff      = "scheduler: {enabled: false}"
	schedulerReplicas = "scheduler: {replicas: 3, securePort: 11259, logVerbosity: 4}"
)

// schedulerBinary builds cmd/carve-scheduler once per test binary.
func schedulerBinary(t *testing.T) string {
	t.Helper()
	path, err := buildScheduler()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

var buildScheduler = sync.OnceValues(func() (string, error) { return goBuild("carve-scheduler") })

// shippedSchedulerConfig reads manifests/scheduler/config.yaml.
func shippedSchedulerConfig(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(framework.RepoRoot(), "manifests", "scheduler", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadSchedulerConfig decodes, defaults and validates a
// KubeSchedulerConfiguration as carve-scheduler does at start.
func loadSchedulerConfig(t *testing.T, data []byte) *kubeschedulerconfig.KubeSchedulerConfiguration {
	t.Helper()
	f := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := options.LoadConfigFromFile(klog.Background(), f)
	if err != nil {
		t.Fatalf("loading the scheduler configuration: %v", err)
	}
	if err := validation.ValidateKubeSchedulerConfiguration(cfg); err != nil {
		t.Fatalf("validating the scheduler configuration: %v", err)
	}
	return cfg
}

func TestSchedulerOff(t *testing.T) {
	for _, o := range render(t, "carve", "carve-system", schedulerOff) {
		if strings.Contains(objectName(o), "scheduler") {
			t.Errorf("rendered %T %s with scheduler.enabled=false", o, objectName(o))
		}
	}
}

// TestSchedulerTemplate checks that carve-scheduler's objects fit together
// and stay apart from the other components': it reads its configuration
// from the ConfigMap mounted where --config points, serves on the port its
// probes hit, runs locked down, rolls when its configuration changes, and
// every RBAC binding names the ServiceAccount it runs as.
func TestSchedulerTemplate(t *testing.T) {
	for _, tc := range []struct {
		release, namespace, values, prefix string
		replicas, port                     int32
	}{
		{"carve", "carve-system", "", "carve", 1, 10259},
		{"ml", "platform", schedulerReplicas + "\n" + cloudProviderTLS, "ml-carve", 3, 11259},
	} {
		t.Run(tc.release, func(t *testing.T) {
			objs := render(t, tc.release, tc.namespace, tc.values)
			checkScheduler(t, objs, tc.namespace, tc.prefix, tc.replicas, tc.port)
		})
	}
}

func checkScheduler(t *testing.T, objs []runtime.Object, namespace, prefix string, replicas, port int32) {
	name := prefix + "-scheduler"
	d := named[*appsv1.Deployment](t, objs, namespace, name)
	if *d.Spec.Replicas != replicas {
		t.Errorf("replicas %d, want %d", *d.Spec.Replicas, replicas)
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
	// No other Deployment or Service picks these pods, and this
	// Deployment picks no other pods.
	for _, other := range all[*appsv1.Deployment](objs) {
		if other.Name == name {
			continue
		}
		if labels.SelectorFromSet(other.Spec.Selector.MatchLabels).Matches(podLabels) {
			t.Errorf("Deployment %s selects carve-scheduler's pods", other.Name)
		}
		if labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(labels.Set(other.Spec.Template.Labels)) {
			t.Errorf("carve-scheduler's Deployment selects the pods of %s", other.Name)
		}
	}
	for _, s := range all[*corev1.Service](objs) {
		if labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			t.Errorf("Service %s selects carve-scheduler's pods", s.Name)
		}
	}

	// --config is the key config.yaml of the ConfigMap, mounted read-only.
	cm := named[*corev1.ConfigMap](t, objs, namespace, name)
	dir, file := path.Split(f["config"])
	i := slices.IndexFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath+"/" == dir })
	if _, ok := cm.Data[file]; !ok || i < 0 || !ctr.VolumeMounts[i].ReadOnly {
		t.Errorf("--config=%q is not a key of ConfigMap %s (keys %v) in a read-only mount %+v", f["config"], cm.Name, slices.Sorted(maps.Keys(cm.Data)), ctr.VolumeMounts)
	} else if j := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == ctr.VolumeMounts[i].Name }); j < 0 ||
		pod.Volumes[j].ConfigMap == nil || pod.Volumes[j].ConfigMap.Name != cm.Name {
		t.Errorf("--config is not read from ConfigMap %s: %+v", cm.Name, pod.Volumes)
	}
	// A new configuration rolls the pods.
	sum := sha256.Sum256([]byte(cm.Data["config.yaml"]))
	if got := d.Spec.Template.Annotations["checksum/config"]; got != hex.EncodeToString(sum[:]) {
		t.Errorf("pod annotation checksum/config = %q, want the sha256 of the configuration", got)
	}
	cfg := loadSchedulerConfig(t, []byte(cm.Data["config.yaml"]))
	if replicas > 1 && !cfg.LeaderElection.LeaderElect {
		t.Errorf("%d replicas without leader election would all schedule", replicas)
	}

	// The probes reach the HTTPS port carve-scheduler serves.
	httpsPort := containerPort(t, ctr, intstr.FromString("https"))
	if f["secure-port"] != itoa(httpsPort) || httpsPort != port {
		t.Errorf("--secure-port=%s, container port https %d, want both %d", f["secure-port"], httpsPort, port)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readiness", ctr.ReadinessProbe, "/readyz"}, {"liveness", ctr.LivenessProbe, "/livez"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || g.Port != intstr.FromString("https") || g.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("%s probe %s %s on %s, want HTTPS %s on the https port", p.name, g.Scheme, g.Path, g.Port.String(), p.path)
		}
	}

	checkSecurityContext(t, pod, ctr)

	// Every binding names the ServiceAccount the pod runs as.
	sa := named[*corev1.ServiceAccount](t, objs, namespace, name)
	if pod.ServiceAccountName != sa.Name {
		t.Errorf("pod runs as ServiceAccount %q, want %s", pod.ServiceAccountName, sa.Name)
	}
	wantSubjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: namespace}}
	for crb, role := range map[string]string{
		name + "-kube-scheduler":   "system:kube-scheduler",
		name + "-volume-scheduler": "system:volume-scheduler",
		name:                       name,
	} {
		b := named[*rbacv1.ClusterRoleBinding](t, objs, "", crb)
		if diff := cmp.Diff(wantSubjects, b.Subjects); diff != "" {
			t.Errorf("ClusterRoleBinding %s subjects (-want +got):\n%s", crb, diff)
		}
		if b.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}) {
			t.Errorf("ClusterRoleBinding %s refers to %+v, want ClusterRole %s", crb, b.RoleRef, role)
		}
	}
	named[*rbacv1.ClusterRole](t, objs, "", name)
	le := cfg.LeaderElection
	for _, rb := range []struct{ namespace, name, role string }{
		{"kube-system", name + "-authentication-reader", "extension-apiserver-authentication-reader"},
		{le.ResourceNamespace, name + "-leader-election", name + "-leader-election"},
	} {
		b := named[*rbacv1.RoleBinding](t, objs, rb.namespace, rb.name)
		if diff := cmp.Diff(wantSubjects, b.Subjects); diff != "" {
			t.Errorf("RoleBinding %s/%s subjects (-want +got):\n%s", rb.namespace, rb.name, diff)
		}
		if b.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: rb.role}) {
			t.Errorf("RoleBinding %s/%s refers to %+v, want Role %s", rb.namespace, rb.name, b.RoleRef, rb.role)
		}
	}
	named[*rbacv1.Role](t, objs, le.ResourceNamespace, name+"-leader-election")
}

// TestSchedulerConfigIsManifest checks that the chart serves
// manifests/scheduler/config.yaml byte for byte, and that
// hack/chart-scheduler-config.sh --check agrees.
func TestSchedulerConfigIsManifest(t *testing.T) {
	want := string(shippedSchedulerConfig(t))
	cm := named[*corev1.ConfigMap](t, render(t, "carve", "carve-system", ""), "carve-system", "carve-scheduler")
	if diff := cmp.Diff(want, cm.Data["config.yaml"]); diff != "" {
		t.Errorf("the ConfigMap's config.yaml differs from manifests/scheduler/config.yaml; run hack/chart-scheduler-config.sh (-manifest +chart):\n%s", diff)
	}
	cmd := exec.Command(filepath.Join(framework.RepoRoot(), "hack", "chart-scheduler-config.sh"), "--check")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("hack/chart-scheduler-config.sh --check: %v\n%s", err, out)
	}
}

// TestChartSchedulerConfigScript runs hack/chart-scheduler-config.sh in a
// scratch copy of the layout it works on: --check must fail on a changed or
// missing copy, and a plain run must make it identical again.
func TestChartSchedulerConfigScript(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(framework.RepoRoot(), "hack", "chart-scheduler-config.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, chart string }{
		{"changed", "kind: Old\n"},
		{"missing", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			write := fileWriter(t, root)
			write("hack/chart-scheduler-config.sh", string(script), 0o755)
			write("manifests/scheduler/config.yaml", "kind: New\n", 0o644)
			if tc.chart != "" {
				write("charts/carve/files/scheduler-config.yaml", tc.chart, 0o644)
			}
			run := func(args ...string) error {
				return exec.Command(filepath.Join(root, "hack", "chart-scheduler-config.sh"), args...).Run()
			}
			if err := run("--check"); err == nil {
				t.Errorf("--check passed on a %s copy", tc.name)
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

// TestSchedulerAcceptsArgs runs the carve-scheduler binary with the
// rendered arguments and -h (every flag exists and its value parses), and
// loads the rendered configuration as carve-scheduler does at start:
// decoded strictly with carve's plugin args, defaulted and validated, with
// the profile carve's pod webhook names.
func TestSchedulerAcceptsArgs(t *testing.T) {
	bin := schedulerBinary(t)
	for _, values := range []string{"", schedulerReplicas} {
		objs := render(t, "carve", "carve-system", values)
		d := named[*appsv1.Deployment](t, objs, "carve-system", "carve-scheduler")
		args := d.Spec.Template.Spec.Containers[0].Args
		out, err := exec.Command(bin, append(slices.Clone(args), "-h")...).CombinedOutput()
		if err != nil {
			t.Errorf("values %q: carve-scheduler %s -h: %v\n%s", values, strings.Join(args, " "), err, lastLines(out, 5))
		}
		cm := named[*corev1.ConfigMap](t, objs, "carve-system", "carve-scheduler")
		cfg := loadSchedulerConfig(t, []byte(cm.Data["config.yaml"]))
		var profiles []string
		for _, p := range cfg.Profiles {
			profiles = append(profiles, p.SchedulerName)
		}
		if diff := cmp.Diff([]string{carvev1.SchedulerName}, profiles); diff != "" {
			t.Errorf("scheduler profiles (-want +got):\n%s", diff)
		}
		if cfg.ClientConnection.Kubeconfig != "" {
			t.Errorf("the configuration names kubeconfig %q; in a pod carve-scheduler must use its ServiceAccount", cfg.ClientConnection.Kubeconfig)
		}
	}
}
