package packing

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/carve-dev/carve/test/framework"
)

// Scheduler is one scheduler under test: a kube-scheduler binary (stock or
// carve's) and the KubeSchedulerConfiguration it runs with.
type Scheduler struct {
	// Name names the configuration in benchmark names, e.g. "most-allocated".
	Name string
	// Binary is the path of the scheduler binary.
	Binary string
	// Config is a KubeSchedulerConfiguration in YAML or JSON. The replayed
	// pods go to its first profile. The harness owns clientConnection and
	// leaderElection, and sets percentageOfNodesToScore to 100 unless Config
	// sets it, so that every configuration scores every node.
	Config []byte
}

// The stock configurations: kube-scheduler's default profile (NodeResourcesFit
// scores with LeastAllocated), and the same with MostAllocated.
const (
	defaultConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
`
	mostAllocatedConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: most-allocated
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources:
        - {name: cpu, weight: 1}
        - {name: memory, weight: 1}
`
	// carveDefaultConfig is used for carve-scheduler when no configuration
	// is given: its profile with the plugins the binary enables by default.
	carveDefaultConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: carve-scheduler
`
)

// StockSchedulers returns the stock configurations, run by the kube-scheduler
// binary in binDir.
func StockSchedulers(binDir string) []Scheduler {
	bin := filepath.Join(binDir, "kube-scheduler")
	return []Scheduler{
		{Name: "default", Binary: bin, Config: []byte(defaultConfig)},
		{Name: "most-allocated", Binary: bin, Config: []byte(mostAllocatedConfig)},
	}
}

// renderConfig returns cfg as JSON with the fields the harness owns set
// (see Scheduler.Config), and the schedulerName of its first profile.
func renderConfig(cfg []byte, kubeconfig string) ([]byte, string, error) {
	js, err := utilyaml.ToJSON(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("reading scheduler configuration: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, "", fmt.Errorf("reading scheduler configuration: %w", err)
	}
	if m == nil || m["kind"] != "KubeSchedulerConfiguration" {
		return nil, "", errors.New("scheduler configuration: kind is not KubeSchedulerConfiguration")
	}
	cc, _ := m["clientConnection"].(map[string]any)
	if cc == nil {
		cc = map[string]any{}
	}
	// The default 50 QPS would make the scheduler's binding rate, not its
	// choices, the limit when hundreds of pods arrive at once.
	cc["kubeconfig"], cc["qps"], cc["burst"] = kubeconfig, 500, 1000
	m["clientConnection"] = cc
	m["leaderElection"] = map[string]any{"leaderElect": false}
	if _, ok := m["percentageOfNodesToScore"]; !ok {
		m["percentageOfNodesToScore"] = 100
	}
	name := "default-scheduler"
	if profiles, _ := m["profiles"].([]any); len(profiles) > 0 {
		p, _ := profiles[0].(map[string]any)
		if n, _ := p["schedulerName"].(string); n != "" {
			name = n
		}
	}
	out, err := json.Marshal(m)
	return out, name, err
}

// schedulerProcess is a running scheduler.
type schedulerProcess struct {
	// SchedulerName is the profile the replayed pods must name.
	SchedulerName string
	cmd           *exec.Cmd
	done          chan struct{}
	logPath       string
}

// startScheduler runs s against the cluster behind kubeconfig, its files
// (configuration, log) in dir, and returns once it serves /healthz.
func startScheduler(ctx context.Context, s Scheduler, dir, kubeconfig string) (*schedulerProcess, error) {
	cfg, name, err := renderConfig(s.Config, kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("scheduler %s: %w", s.Name, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "scheduler-"+s.Name+".json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, err
	}
	port, err := framework.FreePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "scheduler-"+s.Name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.Binary, "--config="+cfgPath, "--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting scheduler %s (%s): %w", s.Name, s.Binary, err)
	}
	p := &schedulerProcess{SchedulerName: name, cmd: cmd, done: make(chan struct{}), logPath: logPath}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()

	// Its /healthz serves a certificate it made itself; only liveness is
	// at stake, so it is not verified.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", port)
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		select {
		case <-p.done:
			return false, fmt.Errorf("scheduler %s exited; see %s", s.Name, logPath)
		default:
		}
		resp, err := client.Get(url)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("waiting for scheduler %s to serve /healthz (log: %s): %w", s.Name, logPath, err)
	}
	return p, nil
}

// Stop ends the scheduler: SIGTERM, then SIGKILL after 5 s.
func (p *schedulerProcess) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// healthy returns an error once the scheduler has exited, which it should
// not do during a replay.
func (p *schedulerProcess) healthy() error {
	select {
	case <-p.done:
		return fmt.Errorf("the scheduler exited; see %s", p.logPath)
	default:
		return nil
	}
}
