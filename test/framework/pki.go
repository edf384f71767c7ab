package framework

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	// serviceCIDR is the apiserver's --service-cluster-ip-range; the first
	// address in it belongs to the "kubernetes" Service, so the serving
	// certificate names it too.
	serviceCIDR       = "10.0.0.0/24"
	kubernetesService = "10.0.0.1"

	adminUser  = "carve-admin"
	adminGroup = "system:masters"
)

// pki holds the paths of the cluster's certificates and keys. One private CA
// signs both the apiserver's serving certificate and the admin client
// certificate, so a single file is all that clients (the kubeconfig,
// kube-controller-manager's --root-ca-file, pods) need to trust.
type pki struct {
	caCert, caKey           string
	servingCert, servingKey string
	adminCert, adminKey     string
	// saKey signs service-account tokens; saPub verifies them.
	saKey, saPub string
}

func newPKI(dir string) pki {
	f := func(name string) string { return filepath.Join(dir, name) }
	return pki{
		caCert: f("ca.crt"), caKey: f("ca.key"),
		servingCert: f("apiserver.crt"), servingKey: f("apiserver.key"),
		adminCert: f("admin.crt"), adminKey: f("admin.key"),
		saKey: f("sa.key"), saPub: f("sa.pub"),
	}
}

func (p pki) files() []string {
	return []string{p.caCert, p.caKey, p.servingCert, p.servingKey, p.adminCert, p.adminKey, p.saKey, p.saPub}
}

// ensure creates the whole set unless it is already complete. Reusing it keeps
// a restarted cluster (same Dir, same etcd data) valid: the service-account
// tokens stored in it stay verifiable and old kubeconfigs keep working. The
// set is made as a whole because certificates from a new CA next to an old
// one would not verify.
func (p pki) ensure() error {
	complete := true
	for _, f := range p.files() {
		if _, err := os.Stat(f); err != nil {
			complete = false
			break
		}
	}
	if complete {
		return nil
	}

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating CA key: %w", err)
	}
	caTmpl := certTemplate("carve-local-ca")
	caTmpl.IsCA = true
	caTmpl.BasicConstraintsValid = true
	caTmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return fmt.Errorf("signing CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return fmt.Errorf("parsing CA certificate: %w", err)
	}

	serving := certTemplate("kube-apiserver")
	serving.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	serving.DNSNames = []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	serving.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(kubernetesService)}
	servingDER, servingKey, err := signLeaf(serving, ca, caKey)
	if err != nil {
		return fmt.Errorf("making serving certificate: %w", err)
	}

	admin := certTemplate(adminUser)
	admin.Subject.Organization = []string{adminGroup}
	admin.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	adminDER, adminKey, err := signLeaf(admin, ca, caKey)
	if err != nil {
		return fmt.Errorf("making admin client certificate: %w", err)
	}

	// Service-account keys are RSA: every verifier of projected tokens
	// (including OIDC clients of the issuer) supports RS256.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generating service-account key: %w", err)
	}
	saPub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return fmt.Errorf("encoding service-account public key: %w", err)
	}

	type pemFile struct {
		path, typ string
		der       []byte
	}
	files := []pemFile{
		{p.caCert, "CERTIFICATE", caDER},
		{p.servingCert, "CERTIFICATE", servingDER},
		{p.adminCert, "CERTIFICATE", adminDER},
		{p.saKey, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)},
		{p.saPub, "PUBLIC KEY", saPub},
	}
	for path, key := range map[string]crypto.Signer{p.caKey: caKey, p.servingKey: servingKey, p.adminKey: adminKey} {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", path, err)
		}
		files = append(files, pemFile{path, "PRIVATE KEY", der})
	}
	for _, f := range files {
		data := pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der})
		if err := os.WriteFile(f.path, data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	return nil
}

func certTemplate(cn string) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		// Back-dated so a slightly skewed clock does not reject a fresh cert.
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:  x509.KeyUsageDigitalSignature,
	}
}

func signLeaf(tmpl, ca *x509.Certificate, caKey crypto.Signer) ([]byte, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	return der, key, err
}

// writeKubeconfig writes an admin kubeconfig for server with the
// certificates embedded, so the file can be copied or used from any folder.
func (p pki) writeKubeconfig(path, server string) error {
	var ca, cert, key []byte
	for _, f := range []struct {
		path string
		into *[]byte
	}{{p.caCert, &ca}, {p.adminCert, &cert}, {p.adminKey, &key}} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return fmt.Errorf("writing kubeconfig: %w", err)
		}
		*f.into = b
	}
	cfg := clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{
			"carve-local": {Server: server, CertificateAuthorityData: ca},
		},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{
			adminUser: {ClientCertificateData: cert, ClientKeyData: key},
		},
		Contexts: map[string]*clientcmdapi.Context{
			"carve-local": {Cluster: "carve-local", AuthInfo: adminUser, Namespace: "default"},
		},
		CurrentContext: "carve-local",
	}
	if err := clientcmd.WriteToFile(cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}
