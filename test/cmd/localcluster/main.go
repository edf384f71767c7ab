// Command localcluster runs a local control plane (test/framework) in the
// foreground until SIGINT or SIGTERM, then stops it. hack/local-cluster.sh
// runs it in the background.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/carve-dev/carve/test/framework"
)

func main() {
	var o framework.Options
	flag.StringVar(&o.Dir, "dir", "", "folder for data, certificates, logs and the kubeconfig (empty: a temporary folder, removed on exit)")
	flag.StringVar(&o.BinDir, "bin-dir", "", "folder with the control-plane binaries (empty: $"+framework.BinDirEnv+" or hack/control-plane-tools.sh)")
	flag.BoolVar(&o.ControllerManager, "controller-manager", true, "run kube-controller-manager")
	flag.BoolVar(&o.Kwok, "kwok", true, "run kwok for nodes annotated kwok.x-k8s.io/node=fake")
	// A real cluster always has its default scheduler: without it, pods
	// outside workspace namespaces (anything a Helm chart installs) would stay
	// Pending with no event. carve-scheduler runs beside it, as in a cluster.
	flag.BoolVar(&o.Scheduler, "scheduler", true, "run the stock kube-scheduler (profile default-scheduler; carve-scheduler is run separately)")
	flag.Parse()

	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

func run(o framework.Options) error {
	// A signal during start-up cancels it; afterwards it starts the shutdown.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	start := time.Now()
	c, err := framework.Start(ctx, o)
	if err != nil {
		return err
	}
	pidFile := filepath.Join(c.Dir, "localcluster.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w (stopping: %v)", pidFile, err, c.Stop())
	}
	fmt.Fprintf(os.Stderr, "localcluster: control plane ready in %s; logs in %s\n", time.Since(start).Round(time.Millisecond), filepath.Join(c.Dir, "logs"))
	fmt.Printf("export KUBECONFIG=%s\n", c.Kubeconfig)

	// A crashed component ends the launcher too, so that a running launcher
	// (what hack/local-cluster.sh status checks) means a working cluster.
	waitErr := c.Wait(ctx)
	fmt.Fprintln(os.Stderr, "localcluster: stopping")
	err = errors.Join(waitErr, c.Stop())
	if rmErr := os.Remove(pidFile); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
		err = errors.Join(err, rmErr)
	}
	return err
}
