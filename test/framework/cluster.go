package framework

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options says which components to start and where.
type Options struct {
	// BinDir is the folder with the binaries; empty means BinDir().
	BinDir string
	// Dir holds etcd's data, certificates, logs and the kubeconfig. Empty
	// means a fresh temporary folder that Stop removes. An existing Dir is
	// reused: etcd data and certificates from an earlier run are kept.
	Dir string
	// ControllerManager starts kube-controller-manager. Without it nothing
	// creates pods for Deployments or Jobs, no namespace gets its "default"
	// ServiceAccount (so pods are refused unless the ServiceAccount admission
	// plugin is disabled), and nothing removes the not-ready taint from Nodes.
	ControllerManager bool
	// Scheduler starts the stock kube-scheduler. carve's own scheduler is
	// usually run by the test itself instead.
	Scheduler bool
	// Kwok starts kwok, simulating only Nodes annotated
	// kwok.x-k8s.io/node=fake (see AddNode) and the pods bound to them.
	Kwok bool
	// APIServerArgs are extra kube-apiserver flags in --name=value form; a
	// flag named here replaces the default of the same name.
	APIServerArgs []string
	// Logs receives every process's output, each line prefixed with the
	// process name, in addition to Dir/logs/<name>.log. May be nil.
	Logs io.Writer
}

// Cluster is a running local control plane.
type Cluster struct {
	// Dir is the working folder (see Options.Dir).
	Dir string
	// Kubeconfig is the path of an admin (system:masters) kubeconfig.
	Kubeconfig string
	// Config is the admin rest.Config read from Kubeconfig.
	Config *rest.Config
	// Client is a clientset for Config.
	Client kubernetes.Interface

	opts      Options
	binDir    string
	pki       pki
	removeDir bool
	// procs are in start order; Stop ends them in reverse, so clients go
	// before the apiserver and the apiserver before etcd.
	procs []*process

	stopping atomic.Bool
	stopOnce sync.Once
	stopErr  error
}

const (
	// stopGrace bounds how long Stop waits after SIGTERM before SIGKILL.
	stopGrace = 5 * time.Second

	kwokNodeAnnotation = "kwok.x-k8s.io/node"
	kwokNodeValue      = "fake"
)

// Start starts etcd and kube-apiserver and the components o asks for, and
// returns once each of them is usable. ctx bounds only the start-up: the
// processes run until Stop. On error everything started is stopped again, and
// the error carries the end of the log of a process that died.
func Start(ctx context.Context, o Options) (_ *Cluster, err error) {
	c := &Cluster{opts: o, binDir: o.BinDir, Dir: o.Dir}
	if c.binDir == "" {
		if c.binDir, err = BinDir(); err != nil {
			return nil, err
		}
	}
	if err := c.checkBinaries(); err != nil {
		return nil, err
	}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "carve-cluster-"); err != nil {
			return nil, fmt.Errorf("creating cluster folder: %w", err)
		}
		c.removeDir = true
	}
	if c.Dir, err = filepath.Abs(c.Dir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()
	for _, d := range []string{c.logDir(), c.path("pki"), c.path("etcd")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}

	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	etcdPort, peerPort, apiPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4]

	c.pki = newPKI(c.path("pki"))
	if err := c.pki.ensure(); err != nil {
		return nil, fmt.Errorf("creating certificates in %s: %w", c.path("pki"), err)
	}
	c.Kubeconfig = c.path("kubeconfig")
	if err := c.pki.writeKubeconfig(c.Kubeconfig, "https://"+hostPort(apiPort)); err != nil {
		return nil, err
	}
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return nil, fmt.Errorf("loading %s: %w", c.Kubeconfig, err)
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return nil, fmt.Errorf("creating clientset: %w", err)
	}

	etcd, err := c.start("etcd", c.etcdArgs(etcdPort, peerPort), nil)
	if err != nil {
		return nil, err
	}
	if err := c.waitFor(ctx, etcd, 30*time.Second, "etcd healthy", httpOK("http://"+hostPort(etcdPort)+"/health")); err != nil {
		return nil, err
	}
	apiserver, err := c.start("kube-apiserver", c.apiserverArgs(etcdPort, apiPort), nil)
	if err != nil {
		return nil, err
	}
	if err := c.waitFor(ctx, apiserver, 90*time.Second, "kube-apiserver /readyz", c.readyz); err != nil {
		return nil, err
	}

	// The clients start together and are then waited for in turn: they do not
	// depend on one another, and two cores start them faster in parallel.
	type waiter struct {
		p    *process
		what string
		cond func(context.Context) (bool, error)
	}
	var waits []waiter
	if o.ControllerManager {
		p, err := c.start("kube-controller-manager", c.controllerManagerArgs(), nil)
		if err != nil {
			return nil, err
		}
		// kube-controller-manager serves no health port here (--secure-port=0);
		// the "default" ServiceAccount appearing shows its controllers run,
		// and pods cannot be created before it exists anyway.
		waits = append(waits, waiter{p, "ServiceAccount default/default", c.defaultServiceAccount})
	}
	if o.Scheduler {
		p, err := c.start("kube-scheduler", c.schedulerArgs(schedPort), nil)
		if err != nil {
			return nil, err
		}
		waits = append(waits, waiter{p, "kube-scheduler /healthz", httpsOK("https://" + hostPort(schedPort) + "/healthz")})
	}
	if o.Kwok {
		args, err := c.kwokArgs(kwokPort)
		if err != nil {
			return nil, err
		}
		p, err := c.start("kwok", args, c.kwokEnv())
		if err != nil {
			return nil, err
		}
		waits = append(waits, waiter{p, "kwok /healthz", httpOK("http://" + hostPort(kwokPort) + "/healthz")})
	}
	for _, w := range waits {
		if err := c.waitFor(ctx, w.p, 60*time.Second, w.what, w.cond); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Stop ends the processes — kwok, the scheduler and the controller manager
// first, then kube-apiserver, then etcd — each with SIGTERM and, after a few
// seconds, SIGKILL. It removes Dir if Start created it. Calling it again
// returns the first result.
func (c *Cluster) Stop() error {
	c.stopping.Store(true)
	c.stopOnce.Do(func() {
		var errs []error
		for _, p := range slices.Backward(c.procs) {
			if err := p.stop(stopGrace); err != nil {
				errs = append(errs, err)
			}
		}
		if c.removeDir {
			if err := os.RemoveAll(c.Dir); err != nil {
				errs = append(errs, fmt.Errorf("removing %s: %w", c.Dir, err))
			}
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// Wait blocks until ctx is done or Stop is called, returning nil, or until a
// component exits on its own, returning how it ended and the end of its log.
// A long-running caller uses it to notice a crashed component.
func (c *Cluster) Wait(ctx context.Context) error {
	exited := make(chan *process, len(c.procs))
	for _, p := range c.procs {
		go func() {
			select {
			case <-p.done:
				exited <- p
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case p := <-exited:
		if c.stopping.Load() {
			return nil
		}
		return p.exitErr()
	}
}

// LogPath returns the path of a component's log, e.g. "kube-apiserver".
func (c *Cluster) LogPath(component string) string {
	return filepath.Join(c.logDir(), component+".log")
}

func (c *Cluster) path(name string) string { return filepath.Join(c.Dir, name) }
func (c *Cluster) logDir() string          { return c.path("logs") }

func (c *Cluster) bin(name string) string { return filepath.Join(c.binDir, name) }

func (c *Cluster) checkBinaries() error {
	need := []string{"etcd", "kube-apiserver"}
	if c.opts.ControllerManager {
		need = append(need, "kube-controller-manager")
	}
	if c.opts.Scheduler {
		need = append(need, "kube-scheduler")
	}
	if c.opts.Kwok {
		need = append(need, "kwok")
	}
	for _, b := range need {
		if _, err := os.Stat(c.bin(b)); err != nil {
			return fmt.Errorf("control-plane binary %s missing from %s (run hack/control-plane-tools.sh): %w", b, c.binDir, err)
		}
	}
	return nil
}

func (c *Cluster) start(name string, args, env []string) (*process, error) {
	p, err := startProcess(name, c.bin(name), args, env, c.logDir(), c.opts.Logs)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// freePorts returns n distinct loopback ports that were free a moment ago.
// All listeners stay open until every port is chosen so none repeats; another
// program can still take one before the component binds it, which on a test
// machine is rare enough to accept.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
