package certs

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The Secret's layout. tls.crt, tls.key and ca.crt keep the names of a
// kubernetes.io/tls Secret (and of cert-manager's), so tools that read
// those find the serving certificate and the bundle to trust.
const (
	KeyTrust      = "ca.crt"     // the CA bundle published to the apiserver
	KeyServing    = "tls.crt"    // the serving certificate
	KeyServingKey = "tls.key"    //
	KeySigner     = "signer.crt" // the CA that signs serving certificates
	KeySignerKey  = "signer.key" //
	KeyNext       = "next.crt"   // a CA being introduced (during a rotation)
	KeyNextKey    = "next.key"   //

	// AnnotationRotate asks for a new CA: set it to any new value (a date,
	// say) and carve-controller rotates at once, without a refused request.
	AnnotationRotate = "carve.dev/rotate-ca"
	// AnnotationRotated is the last value of AnnotationRotate acted on.
	AnnotationRotated = "carve.dev/rotated-ca"
	// AnnotationNextTrustedSince is when the CA in next.crt was first
	// published to the apiserver.
	AnnotationNextTrustedSince = "carve.dev/next-ca-trusted-since"
	// AnnotationPreviousUntil is when CAs in ca.crt other than the signer
	// and the next one stop being trusted.
	AnnotationPreviousUntil = "carve.dev/previous-ca-trusted-until"
)

// FromSecret reads a State from a Secret written by ToSecret. A Secret
// that lacks a part or holds one that does not parse is an error; the
// caller decides whether to start over.
func FromSecret(data map[string][]byte, annotations map[string]string) (*State, error) {
	s := &State{RotateRequested: annotations[AnnotationRotate], RotateDone: annotations[AnnotationRotated]}
	var err error
	if s.Signer, err = pairAt(data, KeySigner, KeySignerKey); err != nil {
		return nil, err
	}
	if s.Serving, err = pairAt(data, KeyServing, KeyServingKey); err != nil {
		return nil, err
	}
	if s.Trust, err = ParseCertificates(data[KeyTrust]); err != nil {
		return nil, fmt.Errorf("reading %s: %w", KeyTrust, err)
	}
	if _, ok := data[KeyNext]; ok {
		if s.Next, err = pairAt(data, KeyNext, KeyNextKey); err != nil {
			return nil, err
		}
		if s.NextTrustedSince, err = timeAt(annotations, AnnotationNextTrustedSince); err != nil {
			return nil, err
		}
	}
	if _, ok := annotations[AnnotationPreviousUntil]; ok {
		if s.PreviousUntil, err = timeAt(annotations, AnnotationPreviousUntil); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ToSecret writes s into a Secret's data and annotations, keeping other
// annotations in annotations (which may be nil) and dropping the ones
// that no longer apply.
func (s *State) ToSecret(annotations map[string]string) (map[string][]byte, map[string]string) {
	data := map[string][]byte{
		KeyTrust:      s.TrustPEM(),
		KeyServing:    s.Serving.CertPEM,
		KeyServingKey: s.Serving.KeyPEM,
		KeySigner:     s.Signer.CertPEM,
		KeySignerKey:  s.Signer.KeyPEM,
	}
	a := map[string]string{}
	for k, v := range annotations {
		a[k] = v
	}
	delete(a, AnnotationNextTrustedSince)
	delete(a, AnnotationPreviousUntil)
	delete(a, AnnotationRotated)
	if s.RotateDone != "" {
		a[AnnotationRotated] = s.RotateDone
	}
	if s.Next != nil {
		data[KeyNext], data[KeyNextKey] = s.Next.CertPEM, s.Next.KeyPEM
		a[AnnotationNextTrustedSince] = s.NextTrustedSince.UTC().Format(time.RFC3339Nano)
	}
	if !s.PreviousUntil.IsZero() {
		a[AnnotationPreviousUntil] = s.PreviousUntil.UTC().Format(time.RFC3339Nano)
	}
	return data, a
}

// SecretType is the type of the Secret carve writes.
const SecretType = corev1.SecretTypeTLS

func pairAt(data map[string][]byte, certKey, keyKey string) (*KeyPair, error) {
	c, k := data[certKey], data[keyKey]
	if len(c) == 0 || len(k) == 0 {
		return nil, fmt.Errorf("%s or %s is missing", certKey, keyKey)
	}
	p, err := ParseKeyPair(c, k)
	if err != nil {
		return nil, fmt.Errorf("reading %s and %s: %w", certKey, keyKey, err)
	}
	return p, nil
}

func timeAt(annotations map[string]string, key string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, annotations[key])
	if err != nil {
		return time.Time{}, fmt.Errorf("annotation %s: %w", key, err)
	}
	return t, nil
}
