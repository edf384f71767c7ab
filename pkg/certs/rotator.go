package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Rotator keeps the webhook's certificates in a Secret and serves them.
// Every replica runs one: each watches the Secret, takes the steps Plan
// says are due (a replica that loses the race to write gets a conflict and
// reads the winner's result), and serves the Secret's certificate from
// memory, so a change reaches the server in the time a watch event takes,
// with no volume and no restart.
type Rotator struct {
	Client          kubernetes.Interface
	Namespace, Name string
	Policy          Policy
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Resync is how often the Secret is looked at without an event (to
	// act on time-gated steps even when wake-ups are missed); a minute
	// when zero.
	Resync time.Duration
	// Owners are set on the Secret, so that it goes with what owns it
	// (the chart's ClusterRole: `helm uninstall` removes the Secret too).
	Owners []metav1.OwnerReference
	// Adopt, when set, returns the CAs the apiserver trusts now (those in
	// the webhook configurations). When there is no Secret yet, they stay
	// trusted for a grace period beside the new CA, as a rotation's
	// previous CA does: replicas of an earlier carve, which made their own
	// CA, keep being trusted until a rolling update has replaced them.
	Adopt func(context.Context) ([]*x509.Certificate, error)

	holder
}

type served struct {
	state *State
	cert  *tls.Certificate
	rv    string // resourceVersion of the Secret it came from
}

// NeedLeaderElection is false: every replica serves, so every replica
// must read the certificates; writes are made safe by optimistic
// concurrency instead of a lease.
func (r *Rotator) NeedLeaderElection() bool { return false }

func (r *Rotator) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Start watches the Secret and rotates until ctx ends.
func (r *Rotator) Start(ctx context.Context) error {
	if err := r.Policy.Validate(); err != nil {
		return err
	}
	log := klog.FromContext(ctx).WithValues("secret", r.Namespace+"/"+r.Name)
	ctx = klog.NewContext(ctx, log)
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	lw := toolscache.NewListWatchFromClient(r.Client.CoreV1().RESTClient(), "secrets", r.Namespace,
		fields.OneTermEqualSelector("metadata.name", r.Name))
	store, informer := toolscache.NewInformerWithOptions(toolscache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &corev1.Secret{},
		Handler: toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { poke() },
			UpdateFunc: func(any, any) { poke() },
			DeleteFunc: func(any) { poke() },
		},
	})
	go informer.RunWithContext(ctx)
	if !toolscache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return ctx.Err()
	}
	resync := r.Resync
	if resync <= 0 {
		resync = time.Minute
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-timer.C:
		}
		var sec *corev1.Secret
		if obj, ok, _ := store.GetByKey(r.Namespace + "/" + r.Name); ok {
			sec = obj.(*corev1.Secret)
		}
		wake, err := r.reconcile(ctx, sec)
		if err != nil {
			log.Error(err, "Keeping the webhook certificates current; retrying")
			wake = r.now().Add(time.Second)
		}
		d := min(time.Until(wake), resync)
		timer.Reset(max(d, 10*time.Millisecond))
	}
}

// reconcile takes the steps that are due for sec (nil: there is none yet)
// and serves the result. It returns when to look again.
func (r *Rotator) reconcile(ctx context.Context, sec *corev1.Secret) (time.Time, error) {
	log := klog.FromContext(ctx)
	var have *State
	if sec != nil {
		var err error
		if have, err = FromSecret(sec.Data, sec.Annotations); err != nil {
			// A hand-edited or truncated Secret: start over, as there is
			// nothing in it a server could serve.
			log.Error(err, "The webhook certificate Secret is unusable; making new certificates")
			have = nil
		}
		if have == nil && sec.Annotations != nil {
			have = &State{RotateRequested: sec.Annotations[AnnotationRotate], RotateDone: sec.Annotations[AnnotationRotated]}
		}
	}
	now := r.now()
	next, steps, wake, err := Plan(have, r.Policy, now)
	if err != nil {
		return time.Time{}, err
	}
	rv := ""
	if sec != nil {
		rv = sec.ResourceVersion
	}
	if sec == nil && r.Adopt != nil {
		if err := r.adopt(ctx, next, now); err != nil {
			log.Error(err, "Reading the CAs trusted before; not keeping them")
		}
		if !next.PreviousUntil.IsZero() {
			wake = minTime(wake, next.PreviousUntil) // their retirement
		}
	}
	if len(steps) > 0 {
		written, err := r.write(ctx, sec, next)
		if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
			// Another replica wrote first; its Secret arrives by watch.
			log.V(2).Info("Another replica updated the webhook certificates first", "steps", steps)
			return now.Add(time.Second), nil
		}
		if err != nil {
			return time.Time{}, err
		}
		log.Info("Webhook certificates updated", "steps", steps, "servingExpires", next.Serving.Cert.NotAfter, "cas", len(next.Trust))
		rv = written.ResourceVersion
	}
	if err := r.serve(next, rv); err != nil {
		return time.Time{}, err
	}
	return wake, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// maxAdopted bounds the CAs kept from before, so the bundle stays small.
const maxAdopted = 2

func (r *Rotator) adopt(ctx context.Context, s *State, now time.Time) error {
	cas, err := r.Adopt(ctx)
	if err != nil {
		return err
	}
	kept := 0
	for _, ca := range cas {
		if kept == maxAdopted {
			break
		}
		if !ca.IsCA || !now.Before(ca.NotAfter) || slices.ContainsFunc(s.Trust, ca.Equal) {
			continue
		}
		s.Trust = append(s.Trust, ca)
		kept++
	}
	if kept > 0 {
		s.PreviousUntil = now.Add(r.Policy.Grace)
		klog.FromContext(ctx).Info("Keeping the CAs trusted before for the grace period", "cas", kept, "until", s.PreviousUntil)
	}
	return nil
}

func (r *Rotator) write(ctx context.Context, sec *corev1.Secret, s *State) (*corev1.Secret, error) {
	secrets := r.Client.CoreV1().Secrets(r.Namespace)
	if sec == nil {
		data, ann := s.ToSecret(nil)
		return secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: r.Namespace, Annotations: ann, OwnerReferences: r.Owners,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "carve-controller"}},
			Type: SecretType,
			Data: data,
		}, metav1.CreateOptions{})
	}
	upd := sec.DeepCopy()
	upd.Data, upd.Annotations = s.ToSecret(sec.Annotations)
	if r.Owners != nil {
		upd.OwnerReferences = r.Owners
	}
	if upd.Type != SecretType {
		// The type is immutable: a Secret of another type made by hand
		// has to go first.
		if err := secrets.Delete(ctx, sec.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &sec.ResourceVersion}}); err != nil {
			return nil, fmt.Errorf("replacing Secret %s of type %s: %w", sec.Name, sec.Type, err)
		}
		return r.write(ctx, nil, s)
	}
	return secrets.Update(ctx, upd, metav1.UpdateOptions{})
}

func (r *Rotator) serve(s *State, rv string) error {
	old := r.serving.Load()
	if old != nil && old.rv == rv && rv != "" {
		return nil
	}
	cert := (*tls.Certificate)(nil)
	if old != nil && bytes.Equal(old.state.Serving.CertPEM, s.Serving.CertPEM) {
		cert = old.cert
	} else {
		var err error
		if cert, err = s.Serving.TLS(); err != nil {
			return fmt.Errorf("loading the serving certificate: %w", err)
		}
	}
	r.serving.Store(&served{state: s, cert: cert, rv: rv})
	if old == nil || !bytes.Equal(old.state.TrustPEM(), s.TrustPEM()) || old.cert != cert {
		r.changed.notify()
	}
	return nil
}

// holder serves what a Rotator or a Dir loaded.
type holder struct {
	serving atomic.Pointer[served]
	changed notifier
}

// GetCertificate serves the current certificate (for tls.Config).
func (h *holder) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s := h.serving.Load()
	if s == nil {
		return nil, errors.New("no webhook certificate loaded yet")
	}
	return s.cert, nil
}

// Current is the state served now, or nil before the first load.
func (h *holder) Current() *State {
	if s := h.serving.Load(); s != nil {
		return s.state
	}
	return nil
}

// Changed is closed at the next change of the served certificate or trust.
func (h *holder) Changed() <-chan struct{} { return h.changed.wait() }

// notifier is a broadcast: wait returns a channel that the next notify closes.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
