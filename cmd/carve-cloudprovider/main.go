// Command carve-cloudprovider serves cluster-autoscaler's externalgrpc cloud
// provider API over carve's NodePools (see pkg/cloudprovider). Point the
// autoscaler at it with --cloud-provider=externalgrpc and a cloud-config such
// as
//
//	address: carve-cloudprovider.carve-system.svc:8086
//	cert: /etc/ca/tls.crt    # the autoscaler's client certificate
//	key: /etc/ca/tls.key
//	cacert: /etc/ca/ca.crt   # the CA that signed this server's --cert
//
// and start this server with --cert/--key (its serving pair, valid for the
// address's host) and --cacert (the CA of the autoscaler's client
// certificate). --insecure serves plaintext, for a cloud-config without
// cert.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	// The cloud APIs (AWS, Azure) are called over TLS, and the image has no
	// CA bundle: these roots, compiled in, are used when the system has
	// none. Being part of the binary, they are the same on every build
	// machine and change only with this module's version.
	_ "golang.org/x/crypto/x509roots/fallback"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/carve-dev/carve/pkg/cloudprovider/run"
	"github.com/carve-dev/carve/pkg/version"
)

func main() {
	fs := flag.NewFlagSet("carve-cloudprovider", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "Path to a kubeconfig; empty means in-cluster config.")
	address := fs.String("address", "127.0.0.1:8086", "host:port to serve the externalgrpc API on (the autoscaler's cloud-config address).")
	cert := fs.String("cert", "", "Server certificate (PEM); with --key, serve TLS.")
	key := fs.String("key", "", "Server private key (PEM).")
	cacert := fs.String("cacert", "", "CA (PEM) that client certificates must chain to; requires and verifies client certificates (mTLS).")
	allowInsecure := fs.Bool("insecure", false, "Serve plaintext gRPC when no --cert/--key are given.")
	platformList := fs.String("platforms", "", "Comma-separated platform types to serve (Kwok, EKS, AKS, OpenShift, ClusterAPI); empty serves all of them. NodePools of other types are not offered to the autoscaler.")
	bootDelay := fs.Duration("kwok-boot-delay", 0, "How long a new kwok instance boots before its Node appears (listed as creating meanwhile, as a cloud VM is); 0 creates it at once.")
	versionFlag := version.AddFlag(fs, "carve-cloudprovider")
	klog.InitFlags(fs)
	_ = fs.Parse(os.Args[1:])
	versionFlag.Handle()
	ctrllog.SetLogger(klog.NewKlogr())

	if err := runMain(*kubeconfig, *address, *cert, *key, *cacert, *allowInsecure, *platformList, *bootDelay); err != nil {
		fmt.Fprintln(os.Stderr, "carve-cloudprovider:", err)
		os.Exit(1)
	}
}

func runMain(kubeconfig, address, cert, key, cacert string, allowInsecure bool, platformList string, bootDelay time.Duration) error {
	tlsCfg, err := run.TLSConfig(cert, key, cacert, allowInsecure)
	if err != nil {
		return err
	}
	served, err := run.ParsePlatforms(platformList)
	if err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run.Run(ctx, cfg, run.Options{Address: address, TLS: tlsCfg, KwokBootDelay: bootDelay, Platforms: served})
}
