package certs

import (
	"bytes"
	"testing"
	"time"
)

func TestSecretRoundTrip(t *testing.T) {
	p := testPolicy()
	s, _, _ := mustPlan(t, nil, p, t0)
	s.RotateRequested = "now"
	s, _, _ = mustPlan(t, s, p, t0.Add(time.Second)) // introduced: every part set
	s, _, _ = mustPlan(t, s, p, t0.Add(time.Second+p.Grace))
	s.RotateRequested = "again"
	s, _, _ = mustPlan(t, s, p, t0.Add(2*time.Second+p.Grace)) // promoted, then a new one introduced
	if s.Next == nil || s.PreviousUntil.IsZero() {
		t.Fatalf("want a state with a next CA and a previous one: %+v", s)
	}
	data, ann := s.ToSecret(map[string]string{"keep": "me", AnnotationRotate: s.RotateRequested})
	got, err := FromSecret(data, ann)
	if err != nil {
		t.Fatal(err)
	}
	if ann["keep"] != "me" {
		t.Error("ToSecret dropped an annotation it does not own")
	}
	if !bytes.Equal(got.TrustPEM(), s.TrustPEM()) || !bytes.Equal(got.Serving.CertPEM, s.Serving.CertPEM) ||
		!bytes.Equal(got.Signer.KeyPEM, s.Signer.KeyPEM) || !bytes.Equal(got.Next.CertPEM, s.Next.CertPEM) ||
		!got.NextTrustedSince.Equal(s.NextTrustedSince) || !got.PreviousUntil.Equal(s.PreviousUntil) ||
		got.RotateDone != s.RotateDone || got.RotateRequested != s.RotateRequested {
		t.Fatal("the state read back differs from the one written")
	}
	// Once done, the rotation's annotations go.
	s, _, _ = mustPlan(t, got, p, t0.Add(time.Hour))
	s, _, _ = mustPlan(t, s, p, t0.Add(2*time.Hour))
	_, ann = s.ToSecret(ann)
	for _, k := range []string{AnnotationNextTrustedSince, AnnotationPreviousUntil} {
		if _, ok := ann[k]; ok {
			t.Errorf("annotation %s left after the rotation ended", k)
		}
	}
}

// FuzzFromSecret: any Secret content either reads back to a state that
// writes out to the same content, or is an error; never a panic.
func FuzzFromSecret(f *testing.F) {
	p := testPolicy()
	s, _, _, err := Plan(nil, p, t0)
	if err != nil {
		f.Fatal(err)
	}
	data, _ := s.ToSecret(nil)
	f.Add(data[KeyTrust], data[KeyServing], data[KeyServingKey], data[KeySigner], data[KeySignerKey], []byte(nil), "")
	f.Add(data[KeyTrust], data[KeyServing], data[KeyServingKey], data[KeySigner], data[KeySignerKey], data[KeySigner], "not a time")
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte{}, []byte{}, []byte{}, []byte{}, []byte(nil), "")
	f.Fuzz(func(t *testing.T, trust, serving, servingKey, signer, signerKey, next []byte, since string) {
		in := map[string][]byte{KeyTrust: trust, KeyServing: serving, KeyServingKey: servingKey, KeySigner: signer, KeySignerKey: signerKey}
		ann := map[string]string{}
		if next != nil {
			in[KeyNext], in[KeyNextKey] = next, signerKey
			ann[AnnotationNextTrustedSince] = since
		}
		got, err := FromSecret(in, ann)
		if err != nil {
			return
		}
		out, outAnn := got.ToSecret(nil)
		again, err := FromSecret(out, outAnn)
		if err != nil {
			t.Fatalf("a state read from a Secret does not read back after writing: %v", err)
		}
		if !bytes.Equal(again.TrustPEM(), got.TrustPEM()) || !bytes.Equal(again.Serving.CertPEM, serving) {
			t.Fatal("writing and reading changed the certificates")
		}
		// Whatever was read, Plan turns it into a valid state.
		if n, _, _, err := Plan(got, p, t0); err != nil {
			t.Fatal(err)
		} else {
			checkInvariants(t, n, p, t0)
		}
	})
}
