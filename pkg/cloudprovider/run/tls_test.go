package run

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func issue(t *testing.T, tmpl *x509.Certificate, parent *keyPair) *keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &keyPair{cert: cert, key: key, der: der}
}

func (k *keyPair) write(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	keyDER, err := x509.MarshalECPrivateKey(k.key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLSConfigFlags(t *testing.T) {
	dir := t.TempDir()
	ca := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil)
	caFile, _ := ca.write(t, dir, "ca")
	srv := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "srv"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca)
	certFile, keyFile := srv.write(t, dir, "srv")

	tests := map[string]struct {
		cert, key, ca string
		insecure      bool
		wantErr       string
		wantTLS, mTLS bool
	}{
		"nothing":             {wantErr: "no --cert and --key given: pass them to serve TLS, or --insecure to serve plaintext"},
		"insecure":            {insecure: true},
		"insecure and cert":   {cert: certFile, key: keyFile, insecure: true, wantErr: "--insecure conflicts with --cert/--key: choose one"},
		"cert without key":    {cert: certFile, wantErr: "--cert and --key go together"},
		"cacert alone":        {ca: caFile, insecure: true, wantErr: "--cacert needs --cert and --key"},
		"tls":                 {cert: certFile, key: keyFile, wantTLS: true},
		"mtls":                {cert: certFile, key: keyFile, ca: caFile, wantTLS: true, mTLS: true},
		"missing cert file":   {cert: filepath.Join(dir, "nope.crt"), key: keyFile, wantErr: "loading the server certificate"},
		"missing cacert file": {cert: certFile, key: keyFile, ca: keyFile + "x", wantErr: "reading the client CA"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := TLSConfig(tc.cert, tc.key, tc.ca, tc.insecure)
			if tc.wantErr != "" {
				if err == nil || !contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (cfg != nil) != tc.wantTLS {
				t.Fatalf("TLS config %v, want TLS %v", cfg, tc.wantTLS)
			}
			if cfg == nil {
				return
			}
			eff, err := cfg.GetConfigForClient(&tls.ClientHelloInfo{})
			if err != nil {
				t.Fatal(err)
			}
			if (eff.ClientAuth == tls.RequireAndVerifyClientCert) != tc.mTLS {
				t.Errorf("ClientAuth = %v, want mTLS %v", eff.ClientAuth, tc.mTLS)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// With --cacert, only clients presenting a certificate from that CA get in.
func TestMutualTLSHandshake(t *testing.T) {
	dir := t.TempDir()
	ca := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil)
	caFile, _ := ca.write(t, dir, "ca")
	srv := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "srv"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca)
	certFile, keyFile := srv.write(t, dir, "srv")
	cli := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "cluster-autoscaler"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca)
	other := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "stranger"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, nil)

	cfg, err := TLSConfig(certFile, keyFile, caFile, false)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				if err := conn.(*tls.Conn).Handshake(); err == nil {
					_, _ = conn.Write([]byte("ok"))
				}
			}()
		}
	}()
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	dial := func(client *keyPair) error {
		c := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
		if client != nil {
			c.Certificates = []tls.Certificate{{Certificate: [][]byte{client.der}, PrivateKey: client.key}}
		}
		conn, err := tls.Dial("tcp", lis.Addr().String(), c)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 2)
		_, err = conn.Read(buf) // TLS 1.3 reports a rejected client certificate here
		return err
	}
	if err := dial(cli); err != nil {
		t.Errorf("client with a certificate from the CA: %v, want success", err)
	}
	if err := dial(nil); err == nil {
		t.Error("client without a certificate got in")
	}
	if err := dial(other); err == nil {
		t.Error("client with a certificate from another CA got in")
	}
}

// A renewed certificate written over the files is served without a restart;
// a broken write keeps the working one.
func TestCertificateReload(t *testing.T) {
	old := reloadEvery
	reloadEvery = 0
	t.Cleanup(func() { reloadEvery = old })
	dir := t.TempDir()
	ca := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil)
	serving := func(cn string) *keyPair {
		return issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca)
	}
	certFile, keyFile := serving("first").write(t, dir, "srv")
	cfg, err := TLSConfig(certFile, keyFile, "", false)
	if err != nil {
		t.Fatal(err)
	}
	served := func() string {
		eff, err := cfg.GetConfigForClient(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(eff.Certificates[0].Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.Subject.CommonName
	}
	if got := served(); got != "first" {
		t.Fatalf("serving %q, want first", got)
	}
	serving("renewed").write(t, dir, "srv")
	if got := served(); got != "renewed" {
		t.Errorf("after renewal serving %q, want renewed", got)
	}
	if err := os.WriteFile(certFile, []byte("half-written"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := served(); got != "renewed" {
		t.Errorf("after a broken write serving %q, want the previous renewed", got)
	}
}
