package ha_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/carve-dev/carve/pkg/certs"
	"github.com/carve-dev/carve/pkg/webhooks"
	"github.com/carve-dev/carve/test/framework"
)

// TestFirstStartKeepsTrustedCAs: an earlier carve-controller (chart 0.1.0)
// made its own CA at every start and registered it. When this one makes
// the certificate Secret, the CA the configurations trusted stays in the
// bundle for the grace period, so the old replica is not refused while a
// rolling update replaces it, and then goes.
func TestFirstStartKeepsTrustedCAs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, k8s := startCluster(t, ctx)
	// What the old version left: configurations trusting its own CA.
	old, err := certs.Generate([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	oldCA, err := certs.ParseCertificates(old.CA)
	if err != nil {
		t.Fatal(err)
	}
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	probe, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	m, _ := webhooks.Configurations(webhooks.Endpoint{URL: url, CABundle: old.CA}, carveNS)
	if _, err := k8s.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, m, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	bins, err := framework.BuildBinaries(ctx, t.TempDir(), "./cmd/carve-controller")
	if err != nil {
		t.Fatal(err)
	}
	proc, err := framework.StartProcess("carve-controller", bins["carve-controller"], []string{
		"--kubeconfig=" + c.Kubeconfig, "--namespace=" + carveNS,
		"--webhook-bind-address=127.0.0.1", "--webhook-port=" + strconv.Itoa(port), "--webhook-url=" + url,
		"--cert-rotation-grace=3s", "--pod-level-resources=off", "--metrics-bind-address=0",
		"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(probe),
	}, nil, filepath.Join(c.Dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = proc.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("carve-controller:\n%s", proc.Tail(40))
		}
	})

	published := func() (old, signer bool, n int) {
		t.Helper()
		cas, err := webhooks.TrustedCAs(ctx, k8s)
		if err != nil {
			t.Fatal(err)
		}
		sec, err := k8s.CoreV1().Secrets(carveNS).Get(ctx, "carve-webhook-certs", metav1.GetOptions{})
		if err != nil {
			return slices.ContainsFunc(cas, oldCA[0].Equal), false, len(cas)
		}
		mine, err := certs.ParseCertificates(sec.Data[certs.KeySigner])
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(cas, oldCA[0].Equal), slices.ContainsFunc(cas, mine[0].Equal), len(cas)
	}
	var sawBoth bool
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		if err := proc.Exited(); err != nil {
			return false, err
		}
		o, s, n := published()
		if o && s {
			sawBoth = true
		}
		// Done when only the new CA is left.
		return s && !o && n == 1, nil
	})
	if err != nil {
		t.Fatalf("the bundle did not end with the new CA alone: %v", err)
	}
	if !sawBoth {
		t.Error("the old CA was dropped at once: an old replica still serving would have been refused")
	}
}
