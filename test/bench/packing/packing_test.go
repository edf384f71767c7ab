package packing

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/carve-dev/carve/test/framework"
	"github.com/carve-dev/carve/test/framework/carvetest"
	"github.com/carve-dev/carve/test/traces"
)

// What the benchmark replays: traces in one-minute steps, with one empty
// node of headroom per pool beyond what a step's arrivals need at least.
const (
	step     = time.Minute
	headroom = 1
	// carveConsolidated is carve-scheduler with carve's consolidation
	// planner run between steps (Consolidation).
	carveConsolidated = "carve-consolidation"
)

// Environment variables that change the run.
const (
	// seedsEnv lists the trace seeds, comma-separated; default "1,2,3".
	seedsEnv = "CARVE_BENCH_PACKING_SEEDS"
	// carveConfigEnv names a KubeSchedulerConfiguration file for
	// carve-scheduler; default: carveShippedConfig if it exists, else one
	// profile named carve-scheduler with the binary's default plugins.
	carveConfigEnv = "CARVE_BENCH_CARVE_CONFIG"
	// carveBinaryEnv names a carve-scheduler binary to use instead of
	// building ./cmd/carve-scheduler.
	carveBinaryEnv = "CARVE_BENCH_CARVE_SCHEDULER"
)

var env struct {
	once    sync.Once
	err     error
	cluster *framework.Cluster
	client  kubernetes.Interface
	runs    atomic.Int64

	carveOnce sync.Once
	carve     Scheduler
	carveSkip string
	carveErr  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if env.cluster != nil {
		_ = env.cluster.Stop()
	}
	os.Exit(code)
}

// cluster starts, once per test binary, the kube-apiserver and etcd that
// every replay shares (each replay in its own namespace, with its own nodes).
func cluster(tb testing.TB) *framework.Cluster {
	tb.Helper()
	env.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		c, err := framework.Start(ctx, framework.Options{
			// New Nodes are then not tainted not-ready, a taint that only a
			// node controller would lift.
			APIServerArgs: []string{"--disable-admission-plugins=TaintNodesByCondition"},
		})
		if err != nil {
			env.err = err
			return
		}
		env.cluster = c
		cfg := *c.Config
		cfg.QPS, cfg.Burst = 1000, 2000
		env.client, env.err = kubernetes.NewForConfig(&cfg)
	})
	if env.err != nil {
		tb.Fatal(env.err)
	}
	return env.cluster
}

// BenchmarkPacking replays day and static traces of each seed through each
// scheduler and reports node-hours against the lower bound: nodeh/lb for
// all pools, cpu-nodeh/lb and gpu-nodeh/lb per pool, and nodeh and lb-nodeh,
// the node-hours themselves. ns/op is the wall time of one replay.
//
//	go test ./test/bench/packing -run '^$' -bench BenchmarkPacking -benchtime 1x
func BenchmarkPacking(b *testing.B) {
	seeds, err := seeds()
	if err != nil {
		b.Fatal(err)
	}
	binDir, err := framework.BinDir()
	if err != nil {
		b.Fatal(err)
	}
	scheds := append(StockSchedulers(binDir), Scheduler{Name: "carve"}, Scheduler{Name: carveConsolidated})
	for _, gen := range []struct {
		name  string
		trace func(uint64) traces.Trace
	}{{"day", traces.DayTrace}, {"static", traces.StaticTrace}} {
		b.Run("trace="+gen.name, func(b *testing.B) {
			for _, seed := range seeds {
				t := gen.trace(seed).Quantize(step)
				b.Run(fmt.Sprintf("seed=%d", seed), func(b *testing.B) {
					for _, s := range scheds {
						b.Run("scheduler="+s.Name, func(b *testing.B) { benchReplay(b, t, s) })
					}
				})
			}
		})
	}
}

func benchReplay(b *testing.B, t traces.Trace, s Scheduler) {
	ctx := context.Background()
	c := cluster(b)
	consolidate := s.Name == carveConsolidated
	if s.Name == "carve" || consolidate {
		s = carveScheduler(b, c)
	}
	p, err := startScheduler(ctx, s, filepath.Join(c.Dir, "packing"), c.Kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Stop()
	r := &Replayer{Client: env.client, Headroom: headroom, Healthy: p.healthy}
	if consolidate {
		r.Consolidation = &Consolidation{Budget: 1, ArrivalWindow: 10 * time.Minute}
	}
	if testing.Verbose() {
		r.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	}
	var res Result
	for b.Loop() {
		res, err = r.Replay(ctx, t, p.SchedulerName, fmt.Sprintf("r%d", env.runs.Add(1)))
		if err != nil {
			b.Fatal(err)
		}
	}
	total, cpu, gpu := res.Total(), res.Pools[traces.CPUPool.Name], res.Pools[traces.GPUPool.Name]
	b.ReportMetric(total.Ratio(), "nodeh/lb")
	b.ReportMetric(cpu.Ratio(), "cpu-nodeh/lb")
	b.ReportMetric(gpu.Ratio(), "gpu-nodeh/lb")
	b.ReportMetric(total.NodeHours, "nodeh")
	b.ReportMetric(total.LowerBound, "lb-nodeh")
	if consolidate {
		cs := res.Consolidation
		b.ReportMetric(float64(cs.Moved), "moved")
		b.ReportMetric(float64(cs.ScaleUps), "retire-scaleups")
		b.Logf("consolidation: %d retired, %d taken back, %d replicas moved (%d found no room), %d scale-ups while a draining node had room",
			cs.Retired, cs.Unretired, cs.Moved, cs.MovedUnschedulable, cs.ScaleUps)
	}
	b.Logf("%d pods, %d steps, %.1fs: cpu %.1f node-h (bound %.1f, peak %d nodes, bound %d), gpu %.1f node-h (bound %.1f, peak %d, bound %d); %d nodes created, %d pods unschedulable, %d nodes revived",
		res.Pods, res.Steps, res.Elapsed.Seconds(), cpu.NodeHours, cpu.LowerBound, cpu.PeakNodes, cpu.PeakBound,
		gpu.NodeHours, gpu.LowerBound, gpu.PeakNodes, gpu.PeakBound, res.NodesCreated, res.Unschedulable, res.Revived)
}

// carveScheduler returns carve-scheduler's configuration, building the
// binary once, or skips the benchmark while cmd/carve-scheduler does not
// exist.
func carveScheduler(b *testing.B, c *framework.Cluster) Scheduler {
	env.carveOnce.Do(func() {
		bin := os.Getenv(carveBinaryEnv)
		if bin == "" {
			root := framework.RepoRoot()
			if !fileExists(filepath.Join(root, "cmd", "carve-scheduler")) {
				env.carveSkip = "cmd/carve-scheduler does not exist yet; set " + carveBinaryEnv + " to a binary to compare one"
				return
			}
			bin = filepath.Join(c.Dir, "packing", "bin", "carve-scheduler")
			build := exec.Command("go", "build", "-o", bin, "./cmd/carve-scheduler")
			build.Dir = root
			if out, err := build.CombinedOutput(); err != nil {
				env.carveErr = fmt.Errorf("building ./cmd/carve-scheduler: %v\n%s", err, out)
				return
			}
		}
		cfg := []byte(carveDefaultConfig)
		path := os.Getenv(carveConfigEnv)
		if path == "" {
			if p := filepath.Join(framework.RepoRoot(), carveShippedConfig); fileExists(p) {
				path = p
			}
		}
		if path != "" {
			var err error
			if cfg, err = os.ReadFile(path); err != nil {
				env.carveErr = fmt.Errorf("reading carve-scheduler's configuration: %w", err)
				return
			}
		}
		// carve's plugins watch carve's kinds; a scheduler whose informers
		// cannot sync schedules nothing.
		if err := carvetest.InstallCRDs(context.Background(), c.Config); err != nil {
			env.carveErr = err
			return
		}
		env.carve = Scheduler{Name: "carve", Binary: bin, Config: cfg}
	})
	switch {
	case env.carveErr != nil:
		b.Fatal(env.carveErr)
	case env.carveSkip != "":
		b.Skip(env.carveSkip)
	}
	return env.carve
}

// carveShippedConfig is the configuration carve ships for carve-scheduler,
// relative to the repository root.
const carveShippedConfig = "manifests/scheduler/config.yaml"

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func seeds() ([]uint64, error) {
	v := os.Getenv(seedsEnv)
	if v == "" {
		v = "1,2,3"
	}
	var out []uint64
	for f := range strings.SplitSeq(v, ",") {
		s, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %w", seedsEnv, v, err)
		}
		out = append(out, s)
	}
	return out, nil
}
