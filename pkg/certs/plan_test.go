package certs

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func testPolicy() Policy {
	return Policy{Hosts: []string{"carve-webhook.carve-system.svc", "127.0.0.1"},
		CAValidity: 300 * time.Hour, ServingValidity: 90 * time.Hour, Grace: time.Minute}
}

func mustPlan(t *testing.T, s *State, p Policy, now time.Time) (*State, []Step, time.Time) {
	t.Helper()
	n, steps, wake, err := Plan(s, p, now)
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, n, p, now)
	if !wake.After(now) {
		t.Fatalf("wake %v is not after now %v: Plan left a due step undone (steps %v)", wake, now, steps)
	}
	return n, steps, wake
}

// checkInvariants: what any state Plan returns must satisfy.
func checkInvariants(t *testing.T, s *State, p Policy, now time.Time) {
	t.Helper()
	switch {
	case !s.Trust[0].Equal(s.Signer.Cert):
		t.Fatal("the signer is not first in Trust")
	case !s.Serving.SignedBy(s.Signer.Cert):
		t.Fatal("the serving certificate is not signed by the signer")
	case !BundleTrusts(s.TrustPEM(), s.Serving.Cert):
		t.Fatal("Trust does not trust the serving certificate")
	case !s.Serving.Covers(p.Hosts):
		t.Fatalf("the serving certificate does not name %v", p.Hosts)
	case now.Before(s.Serving.Cert.NotBefore) || !now.Before(s.Serving.Cert.NotAfter):
		t.Fatalf("the serving certificate is not valid at %v: %v..%v", now, s.Serving.Cert.NotBefore, s.Serving.Cert.NotAfter)
	case len(s.Trust) > 3:
		t.Fatalf("%d CAs trusted", len(s.Trust))
	case s.Next != nil && !slices.ContainsFunc(s.Trust, s.Next.Cert.Equal):
		t.Fatal("the next CA is not trusted")
	}
}

// safe: while replicas and the apiserver catch up from a to b in any
// order, every pairing of served certificate and published trust holds.
func safe(a, b *State) bool {
	return BundleTrusts(b.TrustPEM(), a.Serving.Cert) && BundleTrusts(a.TrustPEM(), b.Serving.Cert)
}

func TestPlanRotatesInThreeSafeSteps(t *testing.T) {
	p := testPolicy()
	s, steps, _ := mustPlan(t, nil, p, t0)
	if diff := cmp.Diff([]Step{StepCreated}, steps); diff != "" {
		t.Fatalf("first plan (-want +got):\n%s", diff)
	}
	if again, steps, _ := mustPlan(t, s, p, t0.Add(time.Hour)); len(steps) != 0 || again != s {
		t.Fatalf("a current state changed: %v", steps)
	}

	// An admin asks for a new CA.
	s.RotateRequested = "2026-12-03"
	introduced, steps, wake := mustPlan(t, s, p, t0.Add(time.Hour))
	if diff := cmp.Diff([]Step{StepIntroduced}, steps); diff != "" {
		t.Fatalf("rotation request (-want +got):\n%s", diff)
	}
	if len(introduced.Trust) != 2 || introduced.Serving != s.Serving || !safe(s, introduced) {
		t.Fatalf("introducing a CA must only add it to Trust: %d CAs, same serving %v", len(introduced.Trust), introduced.Serving == s.Serving)
	}
	if want := t0.Add(time.Hour + p.Grace); !wake.Equal(want) {
		t.Errorf("wake = %v, want the end of the grace period %v", wake, want)
	}
	if _, steps, _ := mustPlan(t, introduced, p, t0.Add(time.Hour+p.Grace-time.Second)); len(steps) != 0 {
		t.Fatalf("promoted before the grace period ended: %v", steps)
	}

	promoted, steps, _ := mustPlan(t, introduced, p, t0.Add(time.Hour+p.Grace))
	if diff := cmp.Diff([]Step{StepPromoted}, steps); diff != "" {
		t.Fatalf("after grace (-want +got):\n%s", diff)
	}
	if !promoted.Signer.Cert.Equal(introduced.Next.Cert) || !safe(introduced, promoted) || len(promoted.Trust) != 2 {
		t.Fatal("promotion must sign with the introduced CA and keep trusting the old one")
	}

	retired, steps, _ := mustPlan(t, promoted, p, t0.Add(time.Hour+2*p.Grace))
	if diff := cmp.Diff([]Step{StepRetired}, steps); diff != "" {
		t.Fatalf("after the second grace (-want +got):\n%s", diff)
	}
	if len(retired.Trust) != 1 || !safe(promoted, retired) {
		t.Fatalf("retiring must leave the new CA only: %d CAs", len(retired.Trust))
	}
	if _, steps, _ := mustPlan(t, retired, p, t0.Add(2*time.Hour)); len(steps) != 0 {
		t.Fatalf("a finished rotation went on: %v", steps)
	}
}

func TestPlanRenewsBeforeExpiry(t *testing.T) {
	p := testPolicy()
	s, _, wake := mustPlan(t, nil, p, t0)
	if want := t0.Add(-backdate).Add((p.ServingValidity + backdate) * 2 / 3); !wake.Equal(want) {
		t.Errorf("first wake %v, want the serving certificate's renewal at %v", wake, want)
	}
	renewed, steps, _ := mustPlan(t, s, p, wake)
	if diff := cmp.Diff([]Step{StepReissued}, steps); diff != "" {
		t.Fatalf("at renewal (-want +got):\n%s", diff)
	}
	if !safe(s, renewed) || renewed.Signer != s.Signer {
		t.Fatal("renewing the serving certificate must keep the CA")
	}
}

func TestPlanReissuesForNewHosts(t *testing.T) {
	p := testPolicy()
	s, _, _ := mustPlan(t, nil, p, t0)
	p.Hosts = append(p.Hosts, "carve-webhook.other.svc")
	_, steps, _ := mustPlan(t, s, p, t0.Add(time.Minute))
	if diff := cmp.Diff([]Step{StepReissued}, steps); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestPlanStartsOverWhenTheCAExpired(t *testing.T) {
	p := testPolicy()
	s, _, _ := mustPlan(t, nil, p, t0)
	_, steps, _ := mustPlan(t, s, p, t0.Add(p.CAValidity+time.Hour))
	if diff := cmp.Diff([]Step{StepCreated}, steps); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestPlanRejectsUnsafePolicies(t *testing.T) {
	for name, p := range map[string]Policy{
		"no hosts":       {CAValidity: time.Hour, ServingValidity: time.Hour, Grace: time.Minute},
		"no grace":       {Hosts: []string{"a"}, CAValidity: time.Hour, ServingValidity: time.Hour},
		"short validity": {Hosts: []string{"a"}, CAValidity: time.Hour, ServingValidity: 2 * time.Minute, Grace: time.Minute},
	} {
		if _, _, _, err := Plan(nil, p, t0); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// A long random walk through time and admin requests, waking where Plan
// says or at random: every state is valid, and every change that did not
// start over is safe.
func TestPlanWalkKeepsTrust(t *testing.T) {
	p := testPolicy()
	r := rand.New(rand.NewPCG(1, 2))
	now := t0
	s, _, wake := mustPlan(t, nil, p, now)
	counts := map[Step]int{}
	for i := 0; i < 3000; i++ {
		switch r.IntN(4) {
		case 0:
			now = wake
		case 1:
			now = now.Add(time.Duration(r.Int64N(int64(p.Grace))))
		case 2:
			now = now.Add(time.Duration(r.Int64N(int64(p.ServingValidity / 4))))
		case 3:
			s = s.clone()
			s.RotateRequested = now.String()
		}
		next, steps, w := mustPlan(t, s, p, now)
		if !slices.Contains(steps, StepCreated) && !safe(s, next) {
			t.Fatalf("step %d at %v: %v broke trust", i, now, steps)
		}
		for _, st := range steps {
			counts[st]++
		}
		s, wake = next, w
	}
	for _, st := range []Step{StepIntroduced, StepPromoted, StepRetired, StepReissued} {
		if counts[st] == 0 {
			t.Errorf("the walk never took step %s: %v", st, counts)
		}
	}
}
