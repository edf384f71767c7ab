// Package ha_test proves that carve-controller never refuses a pod because
// it restarted: two replicas, as the binary runs, behind a Service-like
// proxy, restarted one after the other as a rolling update does, with a
// certificate rotation in the middle, while pods are created at a steady
// rate in a workspace namespace.
package ha_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/carve-dev/carve/pkg/certs"
	"github.com/carve-dev/carve/pkg/controller"
	ut "github.com/carve-dev/carve/pkg/util/testing"
	"github.com/carve-dev/carve/test/framework"
)

const (
	carveNS    = "carve-system"
	secretName = "carve-webhook-certs"
	// rate of pod creations while replicas restart.
	rate = 25
)

type replica struct {
	name               string
	bin, logDir        string
	args               []string
	webhookPort, probe int
	proc               *framework.Process
}

func (r *replica) start(t *testing.T) {
	t.Helper()
	p, err := framework.StartProcess(r.name, r.bin, r.args, nil, r.logDir)
	if err != nil {
		t.Fatal(err)
	}
	r.proc = p
}

func TestRollingRestartRefusesNoPod(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, k8s := startCluster(t, ctx)
	cl, err := client.New(c.Config, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{
		ut.MakeProfile("small", "1", "2Gi").Obj(),
		ut.MakeWorkspace("ml", "small").Obj(),
		ut.MakeNamespace("ml-load", "ml", "load"),
	} {
		if err := cl.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	bins, err := framework.BuildBinaries(ctx, t.TempDir(), "./cmd/carve-controller")
	if err != nil {
		t.Fatal(err)
	}

	// Two replicas behind one proxy; the apiserver calls the proxy.
	var reps []*replica
	var backends []framework.Backend
	for i := range 2 {
		r := &replica{name: fmt.Sprintf("carve-controller-%d", i), bin: bins["carve-controller"], logDir: filepath.Join(c.Dir, "logs")}
		if r.webhookPort, err = framework.FreePort(); err != nil {
			t.Fatal(err)
		}
		if r.probe, err = framework.FreePort(); err != nil {
			t.Fatal(err)
		}
		reps = append(reps, r)
		backends = append(backends, framework.Backend{
			Addr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(r.webhookPort)),
			ReadyURL: fmt.Sprintf("http://127.0.0.1:%d/readyz", r.probe),
		})
	}
	// Endpoints follow readiness a second late, as they do in a cluster.
	proxy, err := framework.StartServiceProxy(ctx, 100*time.Millisecond, time.Second, backends...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		r.args = []string{
			"--kubeconfig=" + c.Kubeconfig, "--namespace=" + carveNS,
			"--webhook-bind-address=127.0.0.1", "--webhook-port=" + strconv.Itoa(r.webhookPort),
			"--webhook-url=https://" + proxy.Addr(), "--cert-hosts=127.0.0.1",
			"--cert-secret=" + secretName, "--cert-rotation-grace=3s",
			"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(r.probe), "--metrics-bind-address=0",
			"--pod-level-resources=off",
			// Longer than the proxy takes to see it not ready.
			"--shutdown-delay=2s",
		}
		r.start(t)
	}
	t.Cleanup(func() {
		for _, r := range reps {
			if r.proc != nil {
				_ = r.proc.Stop(5 * time.Second)
				if t.Failed() {
					t.Logf("%s:\n%s", r.name, r.proc.Tail(40))
				}
			}
		}
	})
	waitReady := func(i int) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
			if err := reps[i].proc.Exited(); err != nil {
				return false, err
			}
			return proxy.Ready()[i], nil
		})
		if err != nil {
			t.Fatalf("%s not ready: %v\n%s", reps[i].name, err, reps[i].proc.Tail(30))
		}
	}
	waitReady(0)
	waitReady(1)

	// The load: pods at a steady rate, each one checked for the profile's
	// resources so that a pod that bypassed the webhook counts as a failure.
	var (
		created, failed atomic.Int64
		mu              sync.Mutex
		failures        []string
		wg              sync.WaitGroup
	)
	loadCtx, stopLoad := context.WithCancel(ctx)
	go func() {
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func(n int) {
				defer wg.Done()
				pod := ut.MakePod(fmt.Sprintf("p-%05d", n), "ml-load").Profile("small").Container("main", "", "").Obj()
				got, err := k8s.CoreV1().Pods("ml-load").Create(ctx, pod, metav1.CreateOptions{})
				if err == nil && got.Spec.Containers[0].Resources.Requests.Cpu().String() != "1" {
					err = fmt.Errorf("created without the profile's resources: %v", got.Spec.Containers[0].Resources)
				}
				if err != nil {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s at %s: %v", pod.Name, time.Now().Format("15:04:05.000"), err))
					mu.Unlock()
					return
				}
				created.Add(1)
			}(n)
		}
	}()
	pause := func(d time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}

	restart := func(i int) {
		t.Helper()
		if err := reps[i].proc.Stop(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		reps[i].start(t)
		waitReady(i)
	}
	started := time.Now()
	pause(2 * time.Second)
	caBefore := currentCA(t, ctx, k8s)
	restart(0)
	pause(time.Second)
	// A rotation asked for while the rollout goes on.
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, certs.AnnotationRotate, time.Now().Format(time.RFC3339Nano))
	if _, err := k8s.CoreV1().Secrets(carveNS).Patch(ctx, secretName, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	restart(1)
	// The rotation ends with one CA, a new one, served by both replicas.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		sec, err := k8s.CoreV1().Secrets(carveNS).Get(ctx, secretName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		trust, err := certs.ParseCertificates(sec.Data[certs.KeyTrust])
		if err != nil || len(trust) != 1 || trust[0].Equal(caBefore) {
			return false, nil
		}
		for _, r := range reps {
			if !servesSignedBy(r.webhookPort, trust[0]) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the rotation did not finish: %v", err)
	}
	restart(0)
	pause(2 * time.Second)
	stopLoad()
	wg.Wait()
	elapsed := time.Since(started)

	t.Logf("%d pods created in %s at %d/s through 3 restarts and a CA rotation; %d refused or failed",
		created.Load(), elapsed.Round(time.Second), rate, failed.Load())
	if n := failed.Load(); n > 0 {
		t.Errorf("%d pod creations failed, first ones:\n%v", n, failures[:min(len(failures), 10)])
	}
	if created.Load() < int64(rate*elapsed.Seconds()/2) {
		t.Errorf("only %d pods created in %s: the load did not run", created.Load(), elapsed)
	}

	// Positive control: with no replica ready, the same creation is refused
	// (failurePolicy Fail), so the count above could have been non-zero.
	for _, r := range reps {
		_ = r.proc.Stop(30 * time.Second)
	}
	pod := ut.MakePod("after-stop", "ml-load").Profile("small").Container("main", "", "").Obj()
	if _, err := k8s.CoreV1().Pods("ml-load").Create(ctx, pod, metav1.CreateOptions{}); err == nil {
		t.Fatal("a pod was created with no carve-controller running: the test cannot see refusals")
	}
}

func currentCA(t *testing.T, ctx context.Context, k8s kubernetes.Interface) *x509.Certificate {
	t.Helper()
	sec, err := k8s.CoreV1().Secrets(carveNS).Get(ctx, secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	trust, err := certs.ParseCertificates(sec.Data[certs.KeyTrust])
	if err != nil {
		t.Fatal(err)
	}
	return trust[0]
}

// servesSignedBy dials a replica and checks the certificate it presents.
func servesSignedBy(port int, ca *x509.Certificate) bool {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only the presented certificate is read
	if err != nil {
		return false
	}
	defer conn.Close()
	chain := conn.ConnectionState().PeerCertificates
	return len(chain) > 0 && chain[0].CheckSignatureFrom(ca) == nil
}
