// Package certs makes and rotates the serving certificate of carve's webhook
// server: a private CA that only the apiserver's webhook client trusts, and
// a leaf certificate for the server's names.
//
// The certificates live in one Secret that every carve-controller replica
// reads and any of them may update (see Plan for the rotation steps and
// pkg/certs/secret.go for the Secret's layout), so replicas serve the same
// certificate, a restart changes nothing, and a new CA is trusted by the
// apiserver before any replica serves a certificate signed by it.
package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Validity is how long a certificate made by Generate is valid.
const Validity = 365 * 24 * time.Hour

// backdate makes a new certificate valid a little before it was made, so a
// peer whose clock is behind still accepts it.
const backdate = time.Hour

// KeyPair is a certificate and its private key, PEM-encoded, with the
// certificate parsed.
type KeyPair struct {
	CertPEM, KeyPEM []byte
	Cert            *x509.Certificate
	key             crypto.Signer
}

// NewCA makes a self-signed CA valid from now for validity.
func NewCA(name string, now time.Time, validity time.Duration) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	return sign(tmpl, tmpl, key, key)
}

// Issue makes a serving certificate for hosts (DNS names or IP addresses)
// signed by ca, valid from now for validity but never past ca's own end.
func (ca *KeyPair) Issue(hosts []string, now time.Time, validity time.Duration) (*KeyPair, error) {
	if ca.key == nil {
		return nil, errors.New("the CA's private key is not loaded")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating serving key: %w", err)
	}
	end := now.Add(validity)
	if end.After(ca.Cert.NotAfter) {
		end = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "carve-webhook"},
		NotBefore:    now.Add(-backdate),
		NotAfter:     end,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return sign(tmpl, ca.Cert, key, ca.key)
}

func sign(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, parentKey crypto.Signer) (*KeyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, fmt.Errorf("signing certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding key of %q: %w", tmpl.Subject.CommonName, err)
	}
	return ParseKeyPair(
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

// ParseKeyPair reads a PEM certificate and the PEM private key that belongs
// to it.
func ParseKeyPair(certPEM, keyPEM []byte) (*KeyPair, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", pair.PrivateKey)
	}
	return &KeyPair{CertPEM: certPEM, KeyPEM: keyPEM, Cert: pair.Leaf, key: signer}, nil
}

// TLS returns the pair as a certificate a tls.Config can serve.
func (p *KeyPair) TLS() (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// Covers reports whether the certificate names every one of hosts.
func (p *KeyPair) Covers(hosts []string) bool {
	for _, h := range hosts {
		if p.Cert.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// SignedBy reports whether ca signed the certificate.
func (p *KeyPair) SignedBy(ca *x509.Certificate) bool {
	return p.Cert.CheckSignatureFrom(ca) == nil
}

// ParseCertificates reads every CERTIFICATE block of a PEM bundle; other
// blocks are skipped. A bundle without any certificate is an error.
func ParseCertificates(bundle []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := bundle; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate %d of the bundle: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate in the bundle")
	}
	return out, nil
}

// EncodeCertificates is the PEM bundle of certs, in order.
func EncodeCertificates(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// BundleTrusts reports whether the PEM bundle holds a CA that signed leaf.
func BundleTrusts(bundle []byte, leaf *x509.Certificate) bool {
	cas, err := ParseCertificates(bundle)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(cas, func(ca *x509.Certificate) bool { return leaf.CheckSignatureFrom(ca) == nil })
}

// Bundle is a CA and a serving certificate signed by it, PEM-encoded, as
// a folder holds them (ca.crt, tls.crt, tls.key): the form cert-manager
// writes, and what tests and local runs use.
type Bundle struct {
	CA, Cert, Key []byte
}

// Generate makes a CA and a serving certificate for hosts (DNS names or IP
// addresses), both valid for Validity.
func Generate(hosts []string, now time.Time) (*Bundle, error) {
	ca, err := NewCA("carve-webhook-ca", now, Validity)
	if err != nil {
		return nil, err
	}
	leaf, err := ca.Issue(hosts, now, Validity)
	if err != nil {
		return nil, err
	}
	return &Bundle{CA: ca.CertPEM, Cert: leaf.CertPEM, Key: leaf.KeyPEM}, nil
}

// Write stores the bundle as ca.crt, tls.crt and tls.key in dir, the names
// controller-runtime's webhook server reads.
func (b *Bundle) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating certificate folder: %w", err)
	}
	for name, data := range map[string][]byte{"ca.crt": b.CA, "tls.crt": b.Cert, "tls.key": b.Key} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}

// Read loads a bundle written by Write (or mounted from a Secret).
func Read(dir string) (*Bundle, error) {
	var b Bundle
	for name, dst := range map[string]*[]byte{"ca.crt": &b.CA, "tls.crt": &b.Cert, "tls.key": &b.Key} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("reading webhook certificate: %w", err)
		}
		*dst = data
	}
	return &b, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}
