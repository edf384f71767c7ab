package scheduler

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Sizes of a run (scheduler_perf's SchedulingBasic 5000Nodes_10000Pods is
// the model); CARVE_BENCH_NODES and CARVE_BENCH_PODS change them, e.g. for
// a quick try. CARVE_BENCH_SCHEDULERS picks cases by name (stock, carve,
// carve-quota, stock-nospread; comma-separated; default all).
const (
	defaultNodes = 1000
	defaultPods  = 5000
)

// BenchmarkSchedulingThroughput reports, for each scheduler: pods/s bound
// from the first create to the last bind (pods/s) and over the middle 80%
// of binds (steady-pods/s); the rate at which the apiserver accepted the
// pods (create-pods/s); this process's CPU time per pod (cpu-µs/pod: the
// scheduler, plus the load generator, which is the same in every case); and
// the share of pods that opportunistic batching placed without filtering
// and scoring every node (batched-%). The other cases also report their
// pods/s as a ratio to the stock scheduler's in the same round (ratio,
// steady-ratio).
//
// go test repeats each sub-benchmark -count times in a row, which on a
// noisy machine would put one scheduler in a quiet minute and the other in
// a busy one. So the parent runs -count rounds itself, each measuring every
// case once, in an order that rotates from round to round, and the
// sub-benchmarks then report one round each. Run it with -benchtime 1x.
func BenchmarkSchedulingThroughput(b *testing.B) {
	if bt := flag.Lookup("test.benchtime").Value.String(); bt != "1x" {
		b.Fatalf("run with -benchtime 1x (each sub-benchmark reports one measured round), not %s", bt)
	}
	rounds, err := strconv.Atoi(flag.Lookup("test.count").Value.String())
	if err != nil || rounds < 1 {
		b.Fatalf("reading -count: %v", err)
	}
	nodes, pods := envInt(b, "CARVE_BENCH_NODES", defaultNodes), envInt(b, "CARVE_BENCH_PODS", defaultPods)
	heldPods = envInt(b, "CARVE_BENCH_HELD", 0)
	run := selectCases(b, cases(), os.Getenv("CARVE_BENCH_SCHEDULERS"))

	results := map[string][]result{}
	for r := range rounds {
		for i := range run {
			sc := run[(r+i)%len(run)]
			res, err := measure(context.Background(), sc, nodes, pods)
			if err != nil {
				b.Fatalf("round %d, %s: %v", r+1, sc.name, err)
			}
			// Progress goes to stderr at once; a run of all rounds takes
			// tens of minutes.
			fmt.Fprintf(os.Stderr, "round %d/%d %s: %s\n", r+1, rounds, sc.name, res)
			results[sc.name] = append(results[sc.name], res)
		}
	}

	for _, sc := range run {
		round := 0
		b.Run(fmt.Sprintf("nodes=%d/pods=%d/scheduler=%s", nodes, pods, sc.name), func(b *testing.B) {
			if round >= rounds {
				b.Fatalf("reported %d rounds already; run with -benchtime 1x", rounds)
			}
			res := results[sc.name][round]
			b.Logf("round %d: %s", round+1, res)
			b.ReportMetric(res.total, "pods/s")
			b.ReportMetric(res.steady, "steady-pods/s")
			b.ReportMetric(float64(res.pods)/res.created.Seconds(), "create-pods/s")
			b.ReportMetric(float64(res.cpu.Microseconds())/float64(res.pods), "cpu-µs/pod")
			b.ReportMetric(100*float64(res.batched)/float64(res.pods), "batched-%")
			if stock, ok := results["stock"]; ok && sc.name != "stock" {
				b.ReportMetric(res.total/stock[round].total, "ratio")
				b.ReportMetric(res.steady/stock[round].steady, "steady-ratio")
			}
			b.ReportMetric(0, "ns/op")
			round++
		})
	}
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// selectCases returns the cases named in list (comma-separated), in their
// usual order; all of them when list is empty.
func selectCases(b *testing.B, all []schedulerCase, list string) []schedulerCase {
	if list == "" {
		return all
	}
	names := strings.Split(list, ",")
	var out []schedulerCase
	for _, sc := range all {
		if slices.Contains(names, sc.name) {
			out = append(out, sc)
		}
	}
	if len(out) != len(names) {
		b.Fatalf("CARVE_BENCH_SCHEDULERS=%q: known schedulers are stock, carve, carve-quota and stock-nospread", list)
	}
	return out
}
