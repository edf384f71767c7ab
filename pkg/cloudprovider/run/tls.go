package run

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
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
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the server certificate %s and key %s: %w", certFile, keyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading the client CA %s: %w", caFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the client CA %s holds no PEM certificate", caFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
