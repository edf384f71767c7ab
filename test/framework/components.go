package framework

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Flags of each component. Comments say why a flag is there when it is not
// obvious; everything listens on 127.0.0.1 only.

func (c *Cluster) etcdArgs(clientPort, peerPort int) []string {
	client, peer := "http://"+hostPort(clientPort), "http://"+hostPort(peerPort)
	return []string{
		"--name=carve",
		"--data-dir=" + c.path("etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=carve=" + peer,
		// A throw-away cluster does not need durable writes, and fsync is
		// what makes etcd slow on shared CI disks.
		"--unsafe-no-fsync",
		"--log-level=warn",
	}
}

func (c *Cluster) apiserverArgs(etcdPort, securePort int) []string {
	defaults := []string{
		"--etcd-servers=http://" + hostPort(etcdPort),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(securePort),
		// The default reconciler refuses a loopback advertise address; with
		// "none" the kubernetes Service simply has no endpoints.
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + c.path("pki"),
		"--tls-cert-file=" + c.pki.servingCert,
		"--tls-private-key-file=" + c.pki.servingKey,
		"--client-ca-file=" + c.pki.caCert,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.pki.saPub,
		"--service-account-signing-key-file=" + c.pki.saKey,
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		"--profiling=false",
	}
	return mergeFlags(defaults, c.opts.APIServerArgs)
}

func (c *Cluster) controllerManagerArgs() []string {
	return []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--controllers=*",
		"--service-account-private-key-file=" + c.pki.saKey,
		// Published to every namespace as kube-root-ca.crt for pods.
		"--root-ca-file=" + c.pki.caCert,
		// Lets the CSR signer controller run instead of logging that it has no key.
		"--cluster-signing-cert-file=" + c.pki.caCert,
		"--cluster-signing-key-file=" + c.pki.caKey,
		"--cluster-name=carve-local",
	}
}

func (c *Cluster) schedulerArgs(securePort int) []string {
	return []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--leader-elect=false",
		// A port only so Start can see /healthz, which needs no credentials;
		// it serves a self-signed certificate made in memory. Without
		// --authentication-kubeconfig the scheduler does not watch for the
		// request-header CA this apiserver has no use for.
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(securePort),
	}
}

// mergeFlags returns defaults with every flag that extra names removed,
// followed by extra.
func mergeFlags(defaults, extra []string) []string {
	name := func(f string) string { n, _, _ := strings.Cut(f, "="); return n }
	override := map[string]bool{}
	for _, f := range extra {
		override[name(f)] = true
	}
	var out []string
	for _, f := range defaults {
		if !override[name(f)] {
			out = append(out, f)
		}
	}
	return append(out, extra...)
}

// waitFor polls cond until it holds, p exits, or timeout passes. Errors from
// cond only mean "not yet": components refuse connections while starting.
func (c *Cluster) waitFor(ctx context.Context, p *process, timeout time.Duration, what string, cond func(context.Context) (bool, error)) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		for _, q := range c.procs {
			if err := q.exitErr(); err != nil {
				return false, err
			}
		}
		attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ok, err := cond(attempt)
		last = err
		return ok, nil
	})
	if err == nil {
		return nil
	}
	if wait.Interrupted(err) {
		return fmt.Errorf("waiting for %s: %w (last error: %v); last lines of %s:\n%s", what, err, last, p.logPath, p.tail(30))
	}
	return err
}

func (c *Cluster) readyz(ctx context.Context) (bool, error) {
	_, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err == nil, err
}

func (c *Cluster) defaultServiceAccount(ctx context.Context) (bool, error) {
	_, err := c.Client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func httpOK(url string) func(context.Context) (bool, error) {
	return get(http.DefaultClient, url)
}

// httpsOK checks a component's health endpoint, which serves a certificate
// it made itself; only liveness is at stake, so it is not verified.
func httpsOK(url string) func(context.Context) (bool, error) {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	return get(client, url)
}

func get(client *http.Client, url string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
		}
		return true, nil
	}
}
