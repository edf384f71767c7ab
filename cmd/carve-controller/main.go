// Command carve-controller serves carve's admission webhooks and runs its
// controllers.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/carve-dev/carve/pkg/certs"
	"github.com/carve-dev/carve/pkg/consolidation"
	"github.com/carve-dev/carve/pkg/controller"
	"github.com/carve-dev/carve/pkg/version"
)

func main() {
	o := controller.Options{}
	var (
		service   string
		certHosts string
		podLevel  string
	)
	klog.InitFlags(nil)
	versionFlag := version.AddFlag(flag.CommandLine, "carve-controller")
	flag.StringVar(&o.Namespace, "namespace", envOr("POD_NAMESPACE", "carve-system"), "namespace carve runs in; never subject to its pod webhooks")
	flag.StringVar(&o.WebhookBindAddress, "webhook-bind-address", "", "address the webhook server listens on (empty: all)")
	flag.IntVar(&o.WebhookPort, "webhook-port", 9443, "port of the webhook server")
	flag.StringVar(&o.CertSecret, "cert-secret", "carve-webhook-certs", "Secret in --namespace that carve-controller keeps the webhook's CA and serving certificate in, and rotates")
	flag.StringVar(&o.CertDir, "cert-dir", "", "folder with tls.crt, tls.key and ca.crt kept current by something else, e.g. cert-manager (instead of --cert-secret)")
	defaults := certs.DefaultPolicy(nil)
	flag.DurationVar(&o.CertPolicy.CAValidity, "ca-validity", defaults.CAValidity, "lifetime of a new webhook CA; a new one is introduced when a third is left")
	flag.DurationVar(&o.CertPolicy.ServingValidity, "cert-validity", defaults.ServingValidity, "lifetime of a new serving certificate; renewed when a third is left")
	flag.DurationVar(&o.CertPolicy.Grace, "cert-rotation-grace", defaults.Grace, "how long a new CA is trusted before it signs, and the old one after")
	flag.DurationVar(&o.ShutdownDelay, "shutdown-delay", 0, "keep serving this long after SIGTERM while reporting not ready, so a Service stops sending requests first")
	flag.StringVar(&certHosts, "cert-hosts", "", "comma-separated DNS names and IPs of the serving certificate (default: the service's names, or the webhook URL's host)")
	flag.BoolVar(&o.InstallWebhooks, "install-webhooks", true, "create or update the webhook configurations at start")
	flag.StringVar(&o.WebhookOwnerClusterRole, "webhook-owner-cluster-role", "", "ClusterRole that owns the webhook configurations, so deleting it (helm uninstall) removes them")
	flag.StringVar(&o.Endpoint.URL, "webhook-url", "", "base URL the apiserver calls the webhooks at, e.g. https://127.0.0.1:9443 (local runs); empty: use --webhook-service")
	flag.StringVar(&service, "webhook-service", "carve-system/carve-webhook", "namespace/name of the Service in front of the webhook server")
	flag.StringVar(&podLevel, "pod-level-resources", string(controller.PodLevelAuto), "write profiles as pod-level resources: auto (ask the apiserver), on or off")
	flag.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8443", "metrics address; 0 turns metrics off")
	flag.BoolVar(&o.MetricsSecure, "metrics-secure", true, "serve metrics over HTTPS to clients the apiserver authenticates and authorizes (GET /metrics); false: plain HTTP to anyone")
	flag.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "health probe address; 0 turns probes off")
	flag.StringVar(&o.PprofBindAddress, "pprof-bind-address", "0", "address of Go's profiler (e.g. 127.0.0.1:6060); 0 turns it off")
	flag.BoolVar(&o.LeaderElection, "leader-elect", true, "run the controllers (consolidation) only on the holder of the Lease carve-controller in --namespace; the webhooks serve on every replica")
	consolidate := flag.Bool("consolidation", true, "retire nodes whose pool's work fits on fewer, and nodes marked or drifted (see docs/consolidation.md)")
	var co consolidation.Options
	flag.DurationVar(&co.Interval, "consolidation-interval", consolidation.DefaultInterval, "how often every node pool is planned")
	flag.DurationVar(&co.ArrivalWindow, "consolidation-arrival-window", consolidation.DefaultArrivalWindow, "a pool keeps free, on the nodes that stay, the requests of the pods that arrived in it during this window")
	flag.Parse()
	versionFlag.Handle()
	if *consolidate {
		o.Consolidation = &co
	}

	if err := complete(&o, service, certHosts, podLevel); err != nil {
		fmt.Fprintln(os.Stderr, "carve-controller:", err)
		os.Exit(2)
	}
	ctx := ctrl.SetupSignalHandler()
	ctrl.SetLogger(klog.NewKlogr())
	if err := controller.Run(ctx, ctrl.GetConfigOrDie(), o); err != nil {
		klog.ErrorS(err, "carve-controller failed")
		os.Exit(1)
	}
}

func complete(o *controller.Options, service, certHosts, podLevel string) error {
	switch m := controller.PodLevelMode(podLevel); m {
	case controller.PodLevelAuto, controller.PodLevelOn, controller.PodLevelOff:
		o.PodLevelResources = m
	default:
		return fmt.Errorf("--pod-level-resources=%q: use auto, on or off", podLevel)
	}
	if o.Endpoint.URL == "" {
		ns, name, ok := strings.Cut(service, "/")
		if !ok || ns == "" || name == "" {
			return fmt.Errorf("--webhook-service=%q: use namespace/name", service)
		}
		o.Endpoint.ServiceNamespace, o.Endpoint.ServiceName = ns, name
	}
	switch {
	case certHosts != "":
		o.CertPolicy.Hosts = strings.Split(certHosts, ",")
	case o.Endpoint.URL != "":
		h, err := controller.URLHost(o.Endpoint.URL)
		if err != nil {
			return err
		}
		o.CertPolicy.Hosts = []string{h}
	default:
		svc := o.Endpoint.ServiceName + "." + o.Endpoint.ServiceNamespace
		o.CertPolicy.Hosts = []string{svc, svc + ".svc", svc + ".svc.cluster.local"}
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
