package controller

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/certs"
	"github.com/carve-dev/carve/pkg/consolidation"
	"github.com/carve-dev/carve/pkg/podcontract"
	"github.com/carve-dev/carve/pkg/util/kubeevents"
	"github.com/carve-dev/carve/pkg/webhooks"
)

// PodLevelMode says whether carve writes profiles as pod-level resources.
type PodLevelMode string

const (
	PodLevelAuto PodLevelMode = "auto" // ask the apiserver at start
	PodLevelOn   PodLevelMode = "on"
	PodLevelOff  PodLevelMode = "off"
)

// Options configure carve-controller.
type Options struct {
	// Namespace carve runs in; its pods are never subject to the webhooks.
	Namespace string
	// WebhookBindAddress and WebhookPort are where the webhook server listens.
	WebhookBindAddress string
	WebhookPort        int
	// CertSecret is the Secret in Namespace that holds the webhook's
	// certificates; carve-controller makes it, serves it and rotates it
	// (see pkg/certs). Used unless CertDir is set.
	CertSecret string
	// CertDir, when set, holds tls.crt, tls.key and ca.crt kept current by
	// something else (a Secret of cert-manager's mounted there): they are
	// read again every few seconds and nothing is rotated.
	CertDir string
	// CertPolicy sets the certificates' names, lifetimes and the pace of
	// a rotation.
	CertPolicy certs.Policy
	// InstallWebhooks creates or updates the webhook configurations.
	InstallWebhooks bool
	// WebhookOwnerClusterRole, when set, owns the webhook configurations, so
	// they are garbage-collected when that ClusterRole is deleted.
	WebhookOwnerClusterRole string
	// Endpoint is how the apiserver reaches the webhook server (its
	// CABundle is filled in from the certificates).
	Endpoint webhooks.Endpoint
	// PodLevelResources decides where profiles are written.
	PodLevelResources PodLevelMode
	// MetricsBindAddress and HealthProbeBindAddress; "0" turns them off.
	MetricsBindAddress     string
	HealthProbeBindAddress string
	// MetricsSecure serves metrics over HTTPS to clients the apiserver
	// authenticates (TokenReview) and authorizes (SubjectAccessReview for
	// GET on the non-resource URL /metrics); otherwise plain HTTP to anyone.
	MetricsSecure bool
	// PprofBindAddress serves Go's profiler when set (not "0" or "").
	PprofBindAddress string
	// ShutdownDelay is how long carve-controller keeps serving, reporting
	// not ready, after it is told to stop: the time a Service takes to stop
	// sending it requests, so that none is refused.
	ShutdownDelay time.Duration
	// LeaderElection: carve-controller's controllers (consolidation) run
	// only on the holder of the Lease carve-controller in Namespace; the
	// webhooks serve on every replica.
	LeaderElection bool
	// Consolidation configures the retirement of nodes (pkg/consolidation);
	// nil turns it off.
	Consolidation *consolidation.Options
	// Ready, if set, is called once the webhooks serve and are registered.
	Ready func()
}

// Scheme knows the built-in kinds and carve's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilRuntimeMust(clientgoscheme.AddToScheme(s))
	utilRuntimeMust(carvev1.AddToScheme(s))
	return s
}

func utilRuntimeMust(err error) {
	if err != nil {
		panic(err)
	}
}

// Run runs carve-controller until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	log := klog.FromContext(ctx)
	direct, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	owners, err := webhooks.ClusterRoleOwner(ctx, direct, o.WebhookOwnerClusterRole)
	if err != nil {
		return err
	}
	src, err := newCertSource(cfg, o, owners)
	if err != nil {
		return err
	}

	scheme := Scheme()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              "carve-controller",
		LeaderElectionNamespace:       o.Namespace,
		LeaderElectionReleaseOnCancel: true,
		Metrics:                       metricsOptions(o),
		HealthProbeBindAddress:        o.HealthProbeBindAddress,
		PprofBindAddress:              o.PprofBindAddress,
		Cache: cache.Options{
			// The webhooks only read what they get; copying every object
			// on every admission would be the largest cost of a review.
			DefaultUnsafeDisableDeepCopy: ptrTrue(),
			// Only consolidation reads pods (on the leader): keep what it
			// reads.
			ByObject: map[client.Object]cache.ByObject{&corev1.Pod{}: {Transform: consolidation.TrimPod}},
		},
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: o.WebhookBindAddress,
			Port: o.WebhookPort,
			TLSOpts: []func(*tls.Config){func(c *tls.Config) {
				c.MinVersion = tls.VersionTLS12
				// Served from memory: a rotation reaches the server with no
				// file and no restart.
				c.GetCertificate = src.GetCertificate
			}},
		}),
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}

	// direct reads what must not go through a cache: the pod-level probe
	// and the webhook configurations (see webhooks.Install).
	podLevel, err := podLevelResources(ctx, direct, cfg, o)
	if err != nil {
		return err
	}
	log.Info("Pod-level resources", "enabled", podLevel)

	srv := mgr.GetWebhookServer()
	for path, h := range webhooks.Handlers(scheme, mgr.GetCache(), mgr.GetAPIReader(), podcontract.Options{PodLevelResources: podLevel}) {
		srv.Register(path, h)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.Add(src); err != nil {
		return err
	}
	if o.Consolidation != nil {
		recorder, err := kubeevents.Start(ctx, cfg, scheme, ReportingController)
		if err != nil {
			return err
		}
		cc, err := consolidation.New(mgr.GetClient(), recorder, *o.Consolidation)
		if err != nil {
			return err
		}
		if err := mgr.Add(cc); err != nil {
			return err
		}
	}
	// Ready means the apiserver may call this server and it can decide:
	// the server runs, its caches are synced, the configurations are
	// registered and trust the certificate it serves, and it is not
	// shutting down.
	var (
		published atomic.Pointer[[]byte]
		stopping  atomic.Bool
	)
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("certificate", func(*http.Request) error {
		return servesTrusted(src.Current(), published.Load())
	}); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("stopping", func(*http.Request) error {
		if stopping.Load() {
			return fmt.Errorf("shutting down")
		}
		return nil
	}); err != nil {
		return err
	}

	// Register the webhooks only once the caches they read are synced and
	// the server answers, so the apiserver never calls a server that
	// cannot decide; register again whenever the CA bundle changes.
	if err := mgr.Add(readyRunnable(func(ctx context.Context) error {
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return fmt.Errorf("caches did not sync")
		}
		if err := waitServing(ctx, o.WebhookBindAddress, o.WebhookPort); err != nil {
			return err
		}
		first := true
		for {
			changed := src.Changed()
			cur := src.Current()
			if cur == nil {
				select {
				case <-ctx.Done():
					return nil
				case <-changed:
					continue
				}
			}
			trust := cur.TrustPEM()
			resync := time.Minute
			if !o.InstallWebhooks {
				// Someone else registers them: ready once synced.
				published.Store(&trust)
			} else {
				e := o.Endpoint
				e.CABundle = trust
				if err := webhooks.Install(ctx, direct, e, o.Namespace, o.WebhookOwnerClusterRole); err != nil {
					if first {
						return err
					}
					log.Error(err, "Updating the webhook configurations; retrying")
					resync = 2 * time.Second
				} else {
					published.Store(&trust)
					log.V(1).Info("Webhook configurations current", "endpoint", describe(o.Endpoint), "cas", len(cur.Trust))
				}
			}
			if first {
				log.Info("Webhooks registered", "endpoint", describe(o.Endpoint), "installed", o.InstallWebhooks)
				first = false
				if o.Ready != nil {
					o.Ready()
				}
			}
			select {
			case <-ctx.Done():
				return nil
			case <-changed:
			case <-time.After(resync):
				// Put back what someone else changed.
			}
		}
	})); err != nil {
		return err
	}

	// Warm the caches the webhooks read before anything is served.
	for _, obj := range []client.Object{&corev1.Namespace{}, &carvev1.Workspace{}, &carvev1.ResourceProfile{}, &carvev1.NodePool{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("starting informer for %T: %w", obj, err)
		}
	}
	// Stop in two steps: first report not ready and keep serving for
	// ShutdownDelay, the time endpoints take to drop this replica, then
	// stop the server (which finishes the requests it has).
	mgrCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	go func() {
		select {
		case <-ctx.Done():
		case <-mgrCtx.Done():
			return
		}
		stopping.Store(true)
		if o.ShutdownDelay > 0 {
			log.Info("Stopping: not ready, still serving", "for", o.ShutdownDelay)
			t := time.NewTimer(o.ShutdownDelay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-mgrCtx.Done():
			}
		}
		stop()
	}()
	return mgr.Start(mgrCtx)
}

func metricsOptions(o Options) metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.MetricsBindAddress}
	if o.MetricsSecure {
		// A self-signed certificate made in memory: scrapers authenticate
		// with a token; the connection only needs to be private.
		m.SecureServing = true
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return m
}

// certSource is where the server's certificate comes from.
type certSource interface {
	Start(context.Context) error
	NeedLeaderElection() bool
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	Current() *certs.State
	Changed() <-chan struct{}
}

func newCertSource(cfg *rest.Config, o Options, owners []metav1.OwnerReference) (certSource, error) {
	if o.CertDir != "" {
		d := &certs.Dir{Path: o.CertDir}
		if err := d.Load(); err != nil {
			return nil, err
		}
		return d, nil
	}
	if o.CertSecret == "" {
		return nil, fmt.Errorf("neither a certificate Secret nor a certificate folder is set")
	}
	if err := o.CertPolicy.Validate(); err != nil {
		return nil, fmt.Errorf("webhook certificates: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	r := &certs.Rotator{Client: cs, Namespace: o.Namespace, Name: o.CertSecret, Policy: o.CertPolicy, Owners: owners}
	if o.InstallWebhooks {
		r.Adopt = func(ctx context.Context) ([]*x509.Certificate, error) {
			return webhooks.TrustedCAs(ctx, cs)
		}
	}
	return r, nil
}

// servesTrusted says whether the apiserver trusts what is served: the
// served certificate is signed by a CA of the bundle last published.
func servesTrusted(cur *certs.State, published *[]byte) error {
	if cur == nil {
		return fmt.Errorf("no certificate loaded yet")
	}
	if published == nil {
		return fmt.Errorf("webhook configurations not registered yet")
	}
	if !certs.BundleTrusts(*published, cur.Serving.Cert) {
		return fmt.Errorf("the webhook configurations do not trust the served certificate yet")
	}
	return nil
}

type readyRunnable func(context.Context) error

func (r readyRunnable) Start(ctx context.Context) error { return r(ctx) }

// NeedLeaderElection: every replica registers and serves the webhooks.
func (readyRunnable) NeedLeaderElection() bool { return false }

func ptrTrue() *bool { b := true; return &b }

func describe(e webhooks.Endpoint) string {
	if e.URL != "" {
		return e.URL
	}
	return "service " + e.ServiceNamespace + "/" + e.ServiceName
}

func waitServing(ctx context.Context, host string, port int) error {
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, fmt.Sprint(port))
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// podLevelResources decides whether the apiserver keeps pod-level
// spec.resources. An apiserver with the PodLevelResources feature off drops
// the field silently, which would leave pods without any resources, so in
// auto mode carve asks: it creates a pod with pod-level resources in its own
// namespace as a dry run and looks whether they survived.
func podLevelResources(ctx context.Context, c client.Client, cfg *rest.Config, o Options) (bool, error) {
	switch o.PodLevelResources {
	case PodLevelOn:
		return true, nil
	case PodLevelOff:
		return false, nil
	}
	one := resource.MustParse("10m")
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "carve-probe-", Namespace: o.Namespace},
		Spec: corev1.PodSpec{
			Resources:  &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: one}, Limits: corev1.ResourceList{corev1.ResourceCPU: one}},
			Containers: []corev1.Container{{Name: "probe", Image: "carve.invalid/probe"}},
		},
	}
	err := c.Create(ctx, probe, client.DryRunAll)
	if err == nil {
		return probe.Spec.Resources != nil && len(probe.Spec.Resources.Requests) > 0, nil
	}
	// The dry run can fail for reasons of its own (no default service
	// account yet, a quota, a policy): then go by the version, since the
	// feature is on by default from 1.34.
	dc, derr := discovery.NewDiscoveryClientForConfig(cfg)
	if derr != nil {
		return false, fmt.Errorf("probing for pod-level resources: %w (and no discovery client: %v)", err, derr)
	}
	v, verr := dc.ServerVersion()
	if verr != nil {
		return false, fmt.Errorf("probing for pod-level resources: %w (and no server version: %v)", err, verr)
	}
	sv, perr := version.ParseGeneric(v.GitVersion)
	if perr != nil {
		return false, fmt.Errorf("probing for pod-level resources: %w (and server version %q does not parse)", err, v.GitVersion)
	}
	on := sv.AtLeast(version.MajorMinor(1, 34))
	klog.FromContext(ctx).Info("Dry-run probe for pod-level resources failed; deciding by the apiserver's version",
		"err", err.Error(), "version", v.GitVersion, "enabled", on)
	return on, nil
}

// URLHost returns the host part of a webhook URL, for its certificate.
func URLHost(u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("parsing webhook URL %q: %w", u, err)
	}
	return p.Hostname(), nil
}
