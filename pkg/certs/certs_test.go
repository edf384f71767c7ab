package certs

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestGeneratedCertServesTLSForItsHosts(t *testing.T) {
	b, err := Generate([]string{"127.0.0.1", "carve-webhook.carve-system.svc"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := b.Write(dir); err != nil {
		t.Fatal(err)
	}
	b2, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(b2.Cert, b2.Key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b2.CA) {
		t.Fatal("CA does not parse")
	}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, tc := range []struct {
		serverName string
		ok         bool
	}{{"127.0.0.1", true}, {"carve-webhook.carve-system.svc", true}, {"other.example", false}} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: tc.serverName}}}
		resp, err := c.Get("https://127.0.0.1:" + port)
		if resp != nil {
			resp.Body.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("TLS to %s: err=%v, want ok=%v", tc.serverName, err, tc.ok)
		}
	}
}
