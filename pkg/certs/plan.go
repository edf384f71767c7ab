package certs

import (
	"crypto/x509"
	"errors"
	"slices"
	"time"
)

// State is everything the webhook's certificates are: what the apiserver
// is told to trust, the CA that signs, and the certificate served.
type State struct {
	// Trust are the CAs published in the webhook configurations, the
	// signer first. It holds more than the signer only during a rotation.
	Trust []*x509.Certificate
	// Signer signs the serving certificate.
	Signer *KeyPair
	// Next is a new CA already in Trust that will replace Signer once it
	// has been trusted for the grace period (NextTrustedSince + Grace).
	Next             *KeyPair
	NextTrustedSince time.Time
	// PreviousUntil, when set, is when the CAs in Trust other than Signer
	// and Next (the CA a rotation replaced) stop being trusted.
	PreviousUntil time.Time
	// Serving is the certificate the webhook server presents.
	Serving *KeyPair
	// RotateRequested is set by an admin (any new value asks for a new CA
	// now); RotateDone is the last request acted on.
	RotateRequested, RotateDone string
}

// Policy says how long certificates last and how a rotation is paced.
type Policy struct {
	// Hosts are the names the serving certificate must cover.
	Hosts []string
	// CAValidity and ServingValidity are the lifetimes of new
	// certificates. Each is renewed once a third of its life is left.
	CAValidity, ServingValidity time.Duration
	// Grace is how long a new CA is trusted before anything is signed with
	// it, and how long the CA it replaced stays trusted afterwards: longer
	// than it takes every replica and the apiserver to see a change of the
	// Secret and of the webhook configurations.
	Grace time.Duration
}

// DefaultPolicy is carve-controller's unless flags say otherwise.
func DefaultPolicy(hosts []string) Policy {
	return Policy{Hosts: hosts, CAValidity: 5 * 365 * 24 * time.Hour, ServingValidity: 365 * 24 * time.Hour, Grace: 2 * time.Minute}
}

// Validate reports a policy that could not keep the apiserver's trust.
func (p Policy) Validate() error {
	switch {
	case len(p.Hosts) == 0:
		return errors.New("the serving certificate needs at least one host name")
	case p.Grace <= 0:
		return errors.New("the rotation grace period must be positive")
	case p.CAValidity < 3*p.Grace || p.ServingValidity < 3*p.Grace:
		return errors.New("certificates must be valid for at least three grace periods")
	}
	return nil
}

// Step names what Plan changed, for logs and events.
type Step string

const (
	StepCreated    Step = "Created"    // a first CA and serving certificate
	StepIntroduced Step = "Introduced" // a new CA is trusted, not yet signing
	StepPromoted   Step = "Promoted"   // the new CA signs a new serving certificate
	StepRetired    Step = "Retired"    // the replaced CA is no longer trusted
	StepReissued   Step = "Reissued"   // a new serving certificate from the same CA
)

// Plan returns the state to write next and what changed (empty: nothing,
// next is s), and when to look again. It is a pure function of its inputs
// apart from key generation, so every replica that reads the same Secret at
// the same time decides the same.
//
// A rotation never makes the apiserver distrust a certificate a replica
// may still serve: a new CA is first added to Trust (Introduced); only a
// grace period later does it sign the serving certificate (Promoted); and
// the old CA leaves Trust a grace period after that (Retired). Each wait
// is gated on time recorded in the state, so a step taken by one replica
// cannot be followed by the next before all have seen it.
func Plan(s *State, p Policy, now time.Time) (next *State, steps []Step, wake time.Time, err error) {
	if err := p.Validate(); err != nil {
		return nil, nil, time.Time{}, err
	}
	n := s.clone()
	if n == nil || n.Signer == nil || !now.Before(n.Signer.Cert.NotAfter) {
		// Nothing usable: whatever was trusted cannot be anymore.
		ca, err := NewCA("carve-webhook-ca", now, p.CAValidity)
		if err != nil {
			return nil, nil, time.Time{}, err
		}
		n = &State{Trust: []*x509.Certificate{ca.Cert}, Signer: ca}
		if s != nil {
			n.RotateRequested, n.RotateDone = s.RotateRequested, s.RotateRequested
		}
		steps = append(steps, StepCreated)
	}
	if !n.PreviousUntil.IsZero() && !now.Before(n.PreviousUntil) {
		n.Trust = []*x509.Certificate{n.Signer.Cert}
		if n.Next != nil {
			n.Trust = append(n.Trust, n.Next.Cert)
		}
		n.PreviousUntil = time.Time{}
		steps = append(steps, StepRetired)
	}
	if n.Next != nil && !now.Before(n.NextTrustedSince.Add(p.Grace)) {
		n.Signer, n.Next, n.NextTrustedSince = n.Next, nil, time.Time{}
		n.Trust = withFirst(n.Trust, n.Signer.Cert)
		n.PreviousUntil = now.Add(p.Grace)
		n.Serving = nil // issued below, from the new signer
		steps = append(steps, StepPromoted)
	}
	if n.Next == nil && (!now.Before(renewAt(n.Signer.Cert)) || n.RotateRequested != n.RotateDone) {
		ca, err := NewCA("carve-webhook-ca", now, p.CAValidity)
		if err != nil {
			return nil, nil, time.Time{}, err
		}
		n.Next, n.NextTrustedSince = ca, now
		n.Trust = append(n.Trust, ca.Cert)
		n.RotateDone = n.RotateRequested
		steps = append(steps, StepIntroduced)
	}
	n.Trust = withFirst(n.Trust, n.Signer.Cert)
	if n.Serving == nil || !n.Serving.SignedBy(n.Signer.Cert) || !n.Serving.Covers(p.Hosts) ||
		!now.Before(renewAt(n.Serving.Cert)) {
		leaf, err := n.Signer.Issue(p.Hosts, now, p.ServingValidity)
		if err != nil {
			return nil, nil, time.Time{}, err
		}
		n.Serving = leaf
		if !slices.Contains(steps, StepPromoted) && !slices.Contains(steps, StepCreated) {
			steps = append(steps, StepReissued)
		}
	}
	if len(steps) == 0 {
		n = s
	}
	return n, steps, n.wake(p.Grace), nil
}

// wake is the earliest time Plan has something to do for s.
func (s *State) wake(grace time.Duration) time.Time {
	times := []time.Time{renewAt(s.Serving.Cert)}
	if s.Next != nil {
		times = append(times, s.NextTrustedSince.Add(grace))
	} else {
		times = append(times, renewAt(s.Signer.Cert))
	}
	if !s.PreviousUntil.IsZero() {
		times = append(times, s.PreviousUntil)
	}
	return slices.MinFunc(times, time.Time.Compare)
}

// renewAt is when a third of c's life is left.
func renewAt(c *x509.Certificate) time.Time {
	return c.NotAfter.Add(-c.NotAfter.Sub(c.NotBefore) / 3)
}

// withFirst returns certs with c first and no duplicates.
func withFirst(certs []*x509.Certificate, c *x509.Certificate) []*x509.Certificate {
	out := []*x509.Certificate{c}
	for _, x := range certs {
		if !slices.ContainsFunc(out, x.Equal) {
			out = append(out, x)
		}
	}
	return out
}

func (s *State) clone() *State {
	if s == nil {
		return nil
	}
	c := *s
	c.Trust = slices.Clone(s.Trust)
	return &c
}

// TrustPEM is the CA bundle to publish in the webhook configurations.
func (s *State) TrustPEM() []byte { return EncodeCertificates(s.Trust) }
