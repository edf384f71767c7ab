package run

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// TLSConfig builds the server's TLS from the flags, matching the
// autoscaler's cloud-config: cert and key make it serve TLS; cacert also
// makes it require client certificates signed by that CA (mutual TLS, what
// the autoscaler does when its cloud-config has cert/key/cacert). Without
// cert and key it returns nil, for plaintext, but only when allowInsecure
// says so explicitly.
func TLSConfig(certFile, keyFile, caFile string, allowInsecure bool) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		if caFile != "" {
			return nil, errors.New("--cacert needs --cert and --key")
		}
		if !allowInsecure {
			return nil, errors.New("no --cert and --key given: pass them to serve TLS, or --insecure to serve plaintext")
		}
		return nil, nil
	}
	if allowInsecure {
		return nil, errors.New("--insecure conflicts with --cert/--key: choose one")
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("--cert and --key go together")
	}
	r := &tlsReloader{certFile: certFile, keyFile: keyFile, caFile: caFile, every: reloadEvery, now: time.Now}
	if err := r.load(); err != nil {
		return nil, err
	}
	// The returned config only hands each connection the current one, so
	// renewed certificates (a Secret updated by cert-manager, say) are served
	// without a restart.
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: r.config}, nil
}

// reloadEvery is how often, at most, a handshake checks the files for a
// change.
var reloadEvery = 10 * time.Second

// tlsReloader serves the certificate, key and client CA from their files,
// reading them again when one of them changes. A change that does not load
// (a half-written file) keeps the previous, working config.
type tlsReloader struct {
	certFile, keyFile, caFile string
	every                     time.Duration
	now                       func() time.Time

	mu      sync.Mutex
	cfg     *tls.Config
	stamp   string
	checked time.Time
}

func (r *tlsReloader) config(*tls.ClientHelloInfo) (*tls.Config, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.checked) >= r.every {
		r.checked = now
		if r.fileStamp() != r.stamp {
			if err := r.loadLocked(); err != nil {
				klog.ErrorS(err, "Keeping the previous TLS certificates: the changed files do not load")
			} else {
				klog.InfoS("Reloaded the TLS certificates", "cert", r.certFile)
			}
		}
	}
	return r.cfg, nil
}

// fileStamp sums up the files' sizes and modification times.
func (r *tlsReloader) fileStamp() string {
	var b strings.Builder
	for _, f := range []string{r.certFile, r.keyFile, r.caFile} {
		if f == "" {
			continue
		}
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

func (r *tlsReloader) load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked = r.now()
	return r.loadLocked()
}

func (r *tlsReloader) loadLocked() error {
	stamp := r.fileStamp()
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("loading the server certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if r.caFile != "" {
		pem, err := os.ReadFile(r.caFile)
		if err != nil {
			return fmt.Errorf("reading the client CA %s: %w", r.caFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("the client CA %s holds no PEM certificate", r.caFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	r.cfg, r.stamp = cfg, stamp
	return nil
}
