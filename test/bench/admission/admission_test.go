// Package admission measures the latency of carve's pod webhook through its
// real HTTPS server: carve-controller runs as its binary against a real
// apiserver (its informer caches filled from it), and an open-loop load
// generator sends realistic AdmissionReviews at a fixed rate. The same load
// against allowall, a server that answers without decoding, is the floor.
//
//	make bench-admission   (go test ./test/bench/admission -bench . -benchtime 1x -count 5)
package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/certs"
	"github.com/carve-dev/carve/pkg/controller"
	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/pkg/webhooks"
	"github.com/carve-dev/carve/test/framework"
	"github.com/carve-dev/carve/test/framework/carvetest"
)

var env struct {
	once       sync.Once
	err        error
	cluster    *framework.Cluster
	procs      []*exec.Cmd
	client     *http.Client
	carveURL   string
	floorURL   string
	reviews    [][]byte
	admitted   [][]byte
	namespace  string
	handshakes atomic.Int64
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range env.procs {
		_ = p.Process.Kill()
		_ = p.Wait()
	}
	if env.cluster != nil {
		_ = env.cluster.Stop()
	}
	os.Exit(code)
}

func setup() error {
	ctx := context.Background()
	c, err := framework.Start(ctx, framework.Options{})
	if err != nil {
		return err
	}
	env.cluster = c
	if err := carvetest.InstallCRDs(ctx, c.Config); err != nil {
		return err
	}
	k8s := kubernetes.NewForConfigOrDie(c.Config)
	cl, err := client.New(c.Config, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		return err
	}
	for _, obj := range append([]client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "carve-system"}},
		ut.MakeNamespace("team-a", "ml", "vision"),
	}, fixtures()...) {
		if err := cl.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %s: %w", obj.GetName(), err)
		}
	}
	env.namespace = "team-a"
	_ = k8s

	// Build both servers as binaries and run them as their own processes,
	// so that neither shares the load generator's process.
	bin := filepath.Join(c.Dir, "bench-bin")
	for pkg, out := range map[string]string{"./cmd/carve-controller": "carve-controller", "./test/bench/admission/allowall": "allowall"} {
		build := exec.Command("go", "build", "-o", filepath.Join(bin, out), pkg)
		build.Dir = framework.RepoRoot()
		if o, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s: %v\n%s", pkg, err, o)
		}
	}
	carvePort, err := framework.FreePort()
	if err != nil {
		return err
	}
	floorPort, err := framework.FreePort()
	if err != nil {
		return err
	}
	// Both servers serve the same certificate, from a folder.
	certDir := filepath.Join(c.Dir, "bench-certs")
	bundle, err := certs.Generate([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		return err
	}
	if err := bundle.Write(certDir); err != nil {
		return err
	}
	env.carveURL = fmt.Sprintf("https://127.0.0.1:%d", carvePort)
	env.floorURL = fmt.Sprintf("https://127.0.0.1:%d", floorPort)
	ctrl := exec.Command(filepath.Join(bin, "carve-controller"),
		"--kubeconfig", c.Kubeconfig, "--namespace", "carve-system",
		"--webhook-bind-address", "127.0.0.1", "--webhook-port", fmt.Sprint(carvePort),
		"--webhook-url", env.carveURL, "--cert-dir", certDir,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0",
		"--pprof-bind-address", os.Getenv("CARVE_BENCH_PPROF"))
	logf, err := os.Create(filepath.Join(c.Dir, "logs", "bench-carve-controller.log"))
	if err != nil {
		return err
	}
	ctrl.Stdout, ctrl.Stderr = logf, logf
	if v := os.Getenv("CARVE_BENCH_CONTROLLER_GOGC"); v != "" {
		// To measure the server with another GC target than the load
		// generator's.
		ctrl.Env = append(os.Environ(), "GOGC="+v)
	}
	if err := ctrl.Start(); err != nil {
		return err
	}
	env.procs = append(env.procs, ctrl)

	// carve-controller is ready when it has registered its webhooks.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := k8s.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, webhooks.ConfigurationName, metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("carve-controller did not register its webhooks (log in %s)", logf.Name())
	}
	floor := exec.Command(filepath.Join(bin, "allowall"), "--addr", fmt.Sprintf("127.0.0.1:%d", floorPort),
		"--cert", filepath.Join(certDir, "tls.crt"), "--key", filepath.Join(certDir, "tls.key"))
	floor.Stdout, floor.Stderr = logf, logf
	if err := floor.Start(); err != nil {
		return err
	}
	env.procs = append(env.procs, floor)

	ca, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	// Like the apiserver's webhook client: HTTP/2 over one TLS connection.
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1",
			VerifyConnection: func(tls.ConnectionState) error { env.handshakes.Add(1); return nil }},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 256,
	}
	if os.Getenv("CARVE_BENCH_HTTP1") != "" {
		// HTTP/1.1 with a pool of keep-alive connections instead.
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	env.client = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	env.reviews = reviews(env.namespace, 512, false)
	env.admitted = reviews(env.namespace, 512, true)
	for _, u := range []string{env.carveURL + webhooks.PathPodMutate, env.floorURL} {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			return send(u, env.reviews[0]) == nil, nil
		})
		if err != nil {
			return fmt.Errorf("%s does not answer: %v", u, send(u, env.reviews[0]))
		}
	}
	return nil
}

// fixtures are the carve objects of the benchmark's workspace.
func fixtures() []client.Object {
	return []client.Object{
		ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 10, "16", "64Gi").Obj(),
		ut.MakeNodePool("gpu", carvev1.NodePoolRoleGPU, 0, 4, "32", "128Gi").Capacity("nvidia.com/gpu", "4").
			Taint("nvidia.com/gpu", "", corev1.TaintEffectNoSchedule).Obj(),
		ut.MakeProfile("small", "1", "2Gi").Pools("cpu").Obj(),
		ut.MakeProfile("large", "4", "16Gi").CPULimit("6").Pools("cpu").Obj(),
		ut.MakeProfile("gpu-1", "8", "32Gi").GPU(1, "").Pools("gpu").Obj(),
		ut.MakeWorkspace("ml", "small", "large", "gpu-1").Obj(),
	}
}

// reviews makes n AdmissionReviews of pods as a data-science platform
// creates them: notebook sessions, job pods and model-serving pods with
// env, mounts, probes and a sidecar, 4 to 6 KiB each.
// With admitted set, the pods are as carve's mutating webhook leaves them,
// which is what its validating webhook sees.
func reviews(ns string, n int, admitted bool) [][]byte {
	objs := []any{}
	for _, o := range fixtures() {
		objs = append(objs, o)
	}
	lookup := ut.NewObjects(objs...)
	out := make([][]byte, n)
	for i := range out {
		var pod *corev1.Pod
		name := fmt.Sprintf("pod-%05d", i)
		switch i % 4 {
		case 0, 1:
			pod = ut.MakePod(name, ns).Profile("small").Container("notebook", "", "").Obj()
		case 2:
			pod = ut.MakePod(name, ns).Profile("large").Owner("batch/v1", "Job", "train-"+name).Container("train", "2", "8Gi").Obj()
		default:
			pod = ut.MakePod(name, ns).Profile("gpu-1").Owner("apps/v1", "ReplicaSet", "serve-abc").Container("serve", "", "").Sidecar("proxy", "100m", "128Mi").Obj()
		}
		decorate(pod)
		if admitted {
			var err error
			pod, err = podcontract.Admit(pod, ut.MakeNamespace(ns, "ml", "vision"), lookup, podcontract.Options{PodLevelResources: true})
			if err != nil {
				panic(err)
			}
		}
		raw, _ := json.Marshal(pod)
		rv, _ := json.Marshal(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{
				UID:       types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", i)),
				Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
				Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
				Namespace: ns, Name: name, Operation: admissionv1.Create,
				UserInfo: authenticationv1.UserInfo{Username: "system:serviceaccount:kube-system:replicaset-controller", Groups: []string{"system:serviceaccounts", "system:authenticated"}},
				Object:   runtime.RawExtension{Raw: raw},
				Options:  runtime.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}`)},
			},
		})
		out[i] = rv
	}
	return out
}

func decorate(pod *corev1.Pod) {
	pod.Labels["app.kubernetes.io/name"] = "workbench"
	pod.Labels["project"] = "churn-model"
	pod.Annotations = map[string]string{"workbench.example/owner": "alice@example.com"}
	pod.Spec.ServiceAccountName = "default"
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "home", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "home-alice"}}},
		{Name: "shm", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}}}}}},
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		c.Image = "registry.invalid/ml/runtime:2026.11-py311-cuda12"
		c.Command = []string{"/bin/bash", "-c", "exec jupyter lab --ip=0.0.0.0 --port=8888 --no-browser --NotebookApp.token=''"}
		for j := 0; j < 12; j++ {
			c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("WORKBENCH_SETTING_%02d", j), Value: strings.Repeat("v", 24)})
		}
		c.VolumeMounts = []corev1.VolumeMount{{Name: "home", MountPath: "/home/cdsw"}, {Name: "shm", MountPath: "/dev/shm"},
			{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}}
		c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8888, Protocol: corev1.ProtocolTCP}}
		c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/api", Port: intstr.FromInt32(8888)}}, PeriodSeconds: 10}
		c.TerminationMessagePath = "/dev/termination-log"
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
		c.ImagePullPolicy = corev1.PullIfNotPresent
	}
	pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
	pod.Spec.DNSPolicy = corev1.DNSClusterFirst
	pod.Spec.SchedulerName = corev1.DefaultSchedulerName
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	pod.Spec.Tolerations = []corev1.Toleration{
		{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
		{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
	}
}

// send posts one review and checks the answer is an allowed review.
func send(url string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := env.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"allowed":true`)) {
		return fmt.Errorf("status %d: %.300s", resp.StatusCode, b)
	}
	return nil
}

// load sends reviews at a fixed rate for d, open loop: requests go out on
// schedule whether or not earlier ones came back, so a stall of the server
// shows as latency instead of slowing the load. Timers here fire about 1 ms
// late (measured), so each wake-up sends every request that has come due,
// and latency counts from the moment a request is handed to the client.
func load(url string, bodies [][]byte, rate int, d time.Duration) (lat []time.Duration, errs int, firstErr error) {
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	lat = make([]time.Duration, n)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	start := time.Now()
	for i := 0; i < n; i++ {
		if w := time.Until(start.Add(time.Duration(i) * interval)); w > 0 {
			time.Sleep(w)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			t := time.Now()
			if err := send(url, bodies[i%len(bodies)]); err != nil {
				mu.Lock()
				if failed == 0 {
					firstErr = err
				}
				failed++
				mu.Unlock()
			}
			lat[i] = time.Since(t)
		}(i)
	}
	wg.Wait()
	return lat, failed, firstErr
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[int(float64(len(sorted)-1)*p)]
}

// BenchmarkPodAdmission reports p50/p99 latency of a pod review at 1000 and
// 2000 reviews/s, for carve's mutating and validating pod webhooks and for
// the allow-everything floor. Each run is 10 s of load after a 1 s warm-up;
// b.N is ignored (run with -benchtime 1x).
func BenchmarkPodAdmission(b *testing.B) {
	env.once.Do(func() { env.err = setup() })
	if env.err != nil {
		b.Fatal(env.err)
	}
	for _, rate := range []int{1000, 2000} {
		for _, target := range []struct {
			name, url string
			bodies    [][]byte
		}{
			{"floor", env.floorURL, env.reviews},
			{"carve-mutate", env.carveURL + webhooks.PathPodMutate, env.reviews},
			{"carve-validate", env.carveURL + webhooks.PathPodValidate, env.admitted},
		} {
			b.Run(fmt.Sprintf("rate=%d/server=%s", rate, target.name), func(b *testing.B) {
				load(target.url, target.bodies, rate, time.Second) // warm-up
				b.ResetTimer()
				h0 := env.handshakes.Load()
				lat, errs, firstErr := load(target.url, target.bodies, rate, 10*time.Second)
				b.StopTimer()
				if errs > 0 {
					b.Fatalf("%d of %d reviews failed; the first: %v", errs, len(lat), firstErr)
				}
				slices.Sort(lat)
				b.ReportMetric(float64(percentile(lat, 0.50).Microseconds()), "p50-µs")
				b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-µs")
				b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
				b.ReportMetric(float64(env.handshakes.Load()-h0), "tls-handshakes")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
