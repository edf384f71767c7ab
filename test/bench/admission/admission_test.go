// Package admission measures the latency of carve's pod webhook through its
// real HTTPS server: carve-controller runs as its binary against a real
// apiserver (its informer caches filled from it), and an open-loop load
// generator sends realistic AdmissionReviews at a fixed rate. The same load
// against allowall, a server that answers without decoding, is the floor
// ("floor" without reading the review, "floor-read" reading it, as every
// webhook must).
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
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/carve-dev/carve/pkg/certs"
	"github.com/carve-dev/carve/pkg/controller"
	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/pkg/webhooks"
	"github.com/carve-dev/carve/test/framework"
	"github.com/carve-dev/carve/test/framework/carvetest"
)

var env struct {
	once     sync.Once
	err      error
	cluster  *framework.Cluster
	procs    []*exec.Cmd
	client   *http.Client
	carveURL string
	floorURL string
	// readURL is the floor that reads each review before answering.
	readURL    string
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
	}, ut.PlatformObjects()...) {
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
	readPort, err := framework.FreePort()
	if err != nil {
		return err
	}
	env.readURL = fmt.Sprintf("https://127.0.0.1:%d", readPort)
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
	// carve-controller runs with the chart's GC settings (GOGC=200, and
	// GOMEMLIMIT from the container's memory limit, 256Mi by default:
	// charts/carve/templates/deployment.yaml), the load generator with
	// Go's defaults. CARVE_BENCH_CONTROLLER_GOGC measures another target.
	gogc := "200"
	if v := os.Getenv("CARVE_BENCH_CONTROLLER_GOGC"); v != "" {
		gogc = v
	}
	ctrl.Env = append(os.Environ(), "GOGC="+gogc, "GOMEMLIMIT=256MiB")
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
	reader := exec.Command(filepath.Join(bin, "allowall"), "--addr", fmt.Sprintf("127.0.0.1:%d", readPort), "--read-body",
		"--cert", filepath.Join(certDir, "tls.crt"), "--key", filepath.Join(certDir, "tls.key"))
	reader.Stdout, reader.Stderr = logf, logf
	if err := reader.Start(); err != nil {
		return err
	}
	env.procs = append(env.procs, reader)

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
	for _, u := range []string{env.carveURL + webhooks.PathPodMutate, env.floorURL, env.readURL} {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			return send(u, env.reviews[0]) == nil, nil
		})
		if err != nil {
			return fmt.Errorf("%s does not answer: %v", u, send(u, env.reviews[0]))
		}
	}
	return nil
}

// reviews makes n AdmissionReviews of the pods a data-science platform
// creates (ut.PlatformPod). With admitted set, the pods are as carve's
// mutating webhook leaves them, which is what its validating webhook sees.
func reviews(ns string, n int, admitted bool) [][]byte {
	objs := []any{}
	for _, o := range ut.PlatformObjects() {
		objs = append(objs, o)
	}
	lookup := ut.NewObjects(objs...)
	out := make([][]byte, n)
	for i := range out {
		pod := ut.PlatformPod(ns, i)
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
				Namespace: ns, Name: pod.Name, Operation: admissionv1.Create,
				UserInfo: authenticationv1.UserInfo{Username: "system:serviceaccount:kube-system:replicaset-controller", Groups: []string{"system:serviceaccounts", "system:authenticated"}},
				Object:   runtime.RawExtension{Raw: raw},
				Options:  runtime.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}`)},
			},
		})
		out[i] = rv
	}
	return out
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
			// The floor again, reading each review as carve must: what
			// a body costs on one HTTP/2 connection.
			{"floor-read", env.readURL, env.reviews},
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
