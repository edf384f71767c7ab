package kubectlcarve_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/kubectlcarve"
	"github.com/carve-dev/carve/test/framework"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata with what the commands print")

var (
	// timestamps in -o json|yaml output change every run, and so do the
	// dates budgets reset at and the month of the spend.
	timestamps = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z`)
	dates      = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2} (\d{2}:\d{2} UTC)`)
	months     = regexp.MustCompile(`\b\d{4}-\d{2}\b`)
	// spend is every amount of spend, which grows while pods run: the
	// status's to the cent, cost's to 1e-6 (TestCost checks their values).
	spend     = regexp.MustCompile(`\b\d+\.(\d{2}|\d{6})\b`)
	spendJSON = regexp.MustCompile(`"spend": "\d+\.\d{2}"`)
)

// hashes masks the digits of each amount of spend, so that tables keep
// their widths: 0.012345 is #.######.
func hashes(s string) string {
	return spend.ReplaceAllStringFunc(s, func(n string) string {
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return '#'
			}
			return r
		}, n)
	})
}

// maskSpend masks the amounts of spend in the text before the node pools'
// table (whose prices are fixed).
func maskSpend(out string) string {
	head, pools, found := strings.Cut(out, "\nNODEPOOL ")
	head = hashes(head)
	if found {
		return head + "\nNODEPOOL " + pools
	}
	return head
}

// carve runs `kubectl carve args...` in-process against the test cluster,
// as kubectl would run the plugin, with ages printed as <age> and times,
// dates and months masked.
func carve(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := carveUnmasked(t, args...)
	masked := timestamps.ReplaceAllString(out, "<time>")
	masked = dates.ReplaceAllString(masked, "YYYY-MM-DD hh:mm UTC")
	return months.ReplaceAllString(masked, "YYYY-MM"), err
}

// carveUnmasked is carve without masking what it prints.
func carveUnmasked(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := kubectlcarve.NewCommand(kubectlcarve.Options{
		IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		FormatAge: func(time.Time) string { return "<age>" },
	})
	cmd.SetArgs(append([]string{"--kubeconfig", cluster.Kubeconfig}, args...))
	err := cmd.ExecuteContext(t.Context())
	if errOut.Len() > 0 {
		t.Logf("stderr of kubectl carve %s:\n%s", strings.Join(args, " "), errOut.String())
	}
	return out.String(), err
}

// golden compares what `kubectl carve args...` prints with
// testdata/<name>.golden, whose first line is the command.
func golden(t *testing.T, name string, args ...string) {
	t.Helper()
	goldenMasked(t, name, func(s string) string { return s }, args...)
}

// goldenMasked is golden with mask applied to what the command prints.
func goldenMasked(t *testing.T, name string, mask func(string) string, args ...string) {
	t.Helper()
	out, err := carve(t, args...)
	if err != nil {
		t.Fatalf("kubectl carve %s: %v", strings.Join(args, " "), err)
	}
	out = mask(out)
	got := "$ kubectl carve " + strings.Join(args, " ") + "\n" + out
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s (go test -update writes it): %v", path, err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("kubectl carve %s differs from %s (-want +got):\n%s", strings.Join(args, " "), path, diff)
	}
}

func TestStatus(t *testing.T) {
	goldenMasked(t, "status", maskSpend, "status")
	goldenMasked(t, "status-projects", maskSpend, "status", "-w", "ml-team", "--projects")
	goldenMasked(t, "status-json", func(s string) string { return spendJSON.ReplaceAllStringFunc(s, hashes) }, "status", "-o", "json")
}

func TestQueue(t *testing.T) {
	golden(t, "queue-workspace", "queue", "-w", "ml-team")
	golden(t, "queue-namespace", "queue", "-n", "ml-alice")
	golden(t, "queue-all", "queue", "-A")
	golden(t, "queue-empty", "queue", "-n", "ml-bob")
	golden(t, "queue-yaml", "queue", "-n", "ml-alice", "-o", "yaml")
	golden(t, "queue-over-budget", "queue", "-w", "capped")
}

// TestQueueEstimates: the two waiting notebooks are expected to start when
// the two running ones end: sessions are expected to run 4 h, and nothing in
// the scene has ended yet to teach the scheduler otherwise.
func TestQueueEstimates(t *testing.T) {
	var out bytes.Buffer
	cmd := kubectlcarve.NewCommand(kubectlcarve.Options{IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: io.Discard}})
	cmd.SetArgs([]string{"--kubeconfig", cluster.Kubeconfig, "queue", "-n", "ml-alice", "-o", "json"})
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	var r kubectlcarve.QueueReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Pods) != 2 {
		t.Fatalf("%d waiting pods, want 2", len(r.Pods))
	}
	for _, p := range r.Pods {
		e := p.Waiting.ExpectedStart
		if e == nil {
			t.Errorf("%s has no expected start", p.Name)
			continue
		}
		if in := time.Until(e.Time); in < 3*time.Hour || in > 4*time.Hour+10*time.Minute {
			t.Errorf("%s is expected to start in %v, want when the running sessions end, about 4 h after they started", p.Name, in.Round(time.Minute))
		}
	}
}

func TestWhy(t *testing.T) {
	// (a) The Deployment's pods are refused by carve's webhook: by kind and
	// name, and by its bare name (no pod starts with it).
	golden(t, "why-denied", "why", "deployment/web", "-n", "ml-bob")
	golden(t, "why-denied-name", "why", "web", "-n", "ml-bob")
	// (b) Waiting for quota, second in the queue.
	golden(t, "why-waiting", "why", "nb-4", "-n", "ml-alice")
	golden(t, "why-waiting-first", "why", "nb-3", "-n", "ml-alice")
	golden(t, "why-waiting-json", "why", "nb-4", "-n", "ml-alice", "-o", "json")
	// (b') Held by a spent budget.
	golden(t, "why-over-budget", "why", "nb", "-n", "ds-carol")
	golden(t, "why-over-budget-json", "why", "nb", "-n", "ds-carol", "-o", "json")
	// (c) Admitted, no node fits: the pool scales up, or is at its max.
	golden(t, "why-unschedulable-scaling", "why", "train", "-n", "ml-bob")
	golden(t, "why-unschedulable-max", "why", "pod/wide", "-n", "ml-bob")
	// (d) Running.
	golden(t, "why-running", "why", "nb-1", "-n", "ml-alice")
	// (d') Running on a node being retired.
	golden(t, "why-retiring", "why", "nb-2", "-n", "ml-alice")
	// (e) Not carve's.
	golden(t, "why-not-managed", "why", "hello", "-n", "plain")
	// A prefix names every pod that starts with it.
	golden(t, "why-prefix", "why", "nb-", "-n", "ml-alice")
}

func TestWhyErrors(t *testing.T) {
	for _, args := range [][]string{
		{"why", "nope", "-n", "ml-alice"},
		{"why", "pod/nope", "-n", "ml-alice"},
		{"why", "deployment/nope", "-n", "ml-alice"},
		{"why", "service/web", "-n", "ml-alice"},
	} {
		if out, err := carve(t, args...); err == nil {
			t.Errorf("kubectl carve %s: no error, printed\n%s", strings.Join(args, " "), out)
		}
	}
}

func TestProfiles(t *testing.T) {
	golden(t, "profiles", "profiles", "-n", "ml-alice")
	golden(t, "profiles-json", "profiles", "-n", "ml-bob", "-o", "json")
	golden(t, "profiles-no-workspace", "profiles", "-n", "plain")
}

// TestDocsShowGoldens: docs/kubectl-carve.md shows these outputs as the
// tests print them, so the docs change when the output does.
func TestDocsShowGoldens(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(framework.RepoRoot(), "docs", "kubectl-carve.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"status", "status-projects", "cost", "cost-team", "cost-since", "queue-workspace", "queue-over-budget", "why-denied", "why-waiting", "why-over-budget",
		"why-unschedulable-scaling", "why-unschedulable-max", "why-running", "why-retiring", "why-not-managed", "profiles"} {
		g, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), "```\n"+string(g)+"```\n") {
			t.Errorf("docs/kubectl-carve.md does not show testdata/%s.golden as it is", name)
		}
	}
}

func TestCost(t *testing.T) {
	goldenMasked(t, "cost", hashes, "cost")
	goldenMasked(t, "cost-team", hashes, "cost", "-w", "ml-team", "--by", "team")
	goldenMasked(t, "cost-json", hashes, "cost", "-w", "ml-team", "--by", "project", "-o", "json")
	goldenMasked(t, "cost-since", hashes, "cost", "--since", "7d")
	goldenMasked(t, "cost-since-json", hashes, "cost", "-w", "ml-team", "--since", "7d", "--by", "kind", "-o", "json")
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"cost", "--by", "namespace"}, "use one of"},
		{[]string{"cost", "--team", "vision", "--by", "kind"}, "use --by team or --by project"},
		{[]string{"cost", "--since", "30x"}, "give a number of days"},
		{[]string{"cost", "--since", "2999-01-01"}, "is after today"},
		{[]string{"cost", "--since", "60d"}, "35 days before it"},
		{[]string{"cost", "--since", "400d"}, "nothing older is kept"},
		{[]string{"cost", "-w", "nope"}, "reading workspace nope"},
	} {
		out, err := carve(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("kubectl carve %s: error %v, want one that says %q; printed\n%s", strings.Join(tc.args, " "), err, tc.says, out)
		}
	}
}

// TestCostNumbers checks the amounts the goldens mask: ml-alice's two
// notebooks (1 CPU and 2Gi each) run on cpu-0, a node of 16 CPUs and 64Gi
// at 0.68 an hour, and nothing else of ml-team runs.
func TestCostNumbers(t *testing.T) {
	const price, cpus, gib = 0.68, 16, 64
	cpuRate := price * 0.031611 / (cpus*0.031611 + gib*0.004237)
	memRate := price * 0.004237 / (cpus*0.031611 + gib*0.004237)
	num := func(s string) float64 {
		t.Helper()
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%q is not a number: %v", s, err)
		}
		return v
	}
	// check holds one row's amounts to the notebooks' requests and the
	// node's rates (each amount is rounded to 1e-6).
	check := func(what string, cpu, mem, gpu, cost float64) {
		t.Helper()
		if cpu <= 0 {
			t.Errorf("%s: %v core-hours, want some", what, cpu)
		}
		if math.Abs(mem-2*cpu) > 2e-6 || gpu != 0 {
			t.Errorf("%s: %v GiB-hours and %v GPU-hours for %v core-hours, want twice as many GiB-hours and none of GPUs", what, mem, gpu, cpu)
		}
		if want := cpu*cpuRate + mem*memRate; math.Abs(cost-want) > 2e-6 {
			t.Errorf("%s: cost %v for %v core-hours and %v GiB-hours, want %v", what, cost, cpu, mem, want)
		}
	}

	// Rows and total only: carve masks the times (meteredUntil).
	var r struct {
		Rows  []kubectlcarve.CostRow
		Total carvev1.SpendAmounts
	}
	// Enough use that rounding to 1e-6 is 1 % of the cost at most: 0.005
	// core-hours, 9 s of the two notebooks.
	for start := time.Now(); ; time.Sleep(time.Second) {
		out, err := carve(t, "cost", "--by", "project", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v in\n%s", err, out)
		}
		if num(r.Total.CPUHours) >= 0.005 {
			break
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("after a minute, still under 0.005 core-hours:\n%s", out)
		}
	}
	if len(r.Rows) != 1 || r.Rows[0].Workspace != "ml-team" || r.Rows[0].Name != "ml-alice" {
		t.Fatalf("rows %+v, want ml-team's ml-alice alone", r.Rows)
	}
	a := r.Rows[0].SpendAmounts
	check("ml-alice", num(a.CPUHours), num(a.MemoryGiBHours), num(a.GPUHours), num(a.Cost))
	if r.Total != a {
		t.Errorf("total %+v of the one row %+v", r.Total, a)
	}

	// The table: every row as above, and TOTAL their sum.
	out, err := carve(t, "cost", "--by", "kind")
	if err != nil {
		t.Fatal(err)
	}
	var sum [4]float64
	var total []string
	rows := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) != 6 || (f[0] != "ml-team" && f[0] != "TOTAL") {
			continue // the notes under the table
		}
		if f[0] == "TOTAL" {
			total = f[2:]
			continue
		}
		rows++
		check("kind "+f[1], num(f[2]), num(f[3]), num(f[4]), num(f[5]))
		for i := range sum {
			sum[i] += num(f[2+i])
		}
	}
	if rows == 0 || total == nil {
		t.Fatalf("no rows or no TOTAL in\n%s", out)
	}
	for i := range sum {
		if math.Abs(num(total[i])-sum[i]) > 1e-9 {
			t.Errorf("TOTAL column %d is %s, the rows sum to %v:\n%s", i, total[i], sum[i], out)
		}
	}
}

// TestCostSinceNumbers: cost --since 7d is the sum of the days the
// Workspace's status keeps from 7 days ago, row by row, and the days of
// the month add up to the month's totals. The status is read before and
// after the command, and compared only when no write came between.
func TestCostSinceNumbers(t *testing.T) {
	num := func(s string) float64 {
		t.Helper()
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%q is not a number: %v", s, err)
		}
		return v
	}
	read := func() *carvev1.Workspace {
		t.Helper()
		ws := &carvev1.Workspace{}
		if err := cl.Get(t.Context(), client.ObjectKey{Name: "ml-team"}, ws); err != nil {
			t.Fatal(err)
		}
		return ws
	}
	for try := 0; ; try++ {
		before := read()
		out, err := carveUnmasked(t, "cost", "-w", "ml-team", "--since", "7d", "--by", "project", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		after := read()
		if before.ResourceVersion != after.ResourceVersion {
			if try == 50 {
				t.Fatalf("the status of ml-team changed during each of 50 runs of cost")
			}
			continue
		}
		var r kubectlcarve.CostReport
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v in\n%s", err, out)
		}
		sp := before.Status.Spend
		if sp == nil || len(sp.Days) == 0 {
			t.Fatalf("ml-team's status has no days: %+v", sp)
		}
		now := time.Now().UTC()
		from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -7).Format(time.DateOnly)
		if r.Since == nil || r.Since.UTC().Format(time.DateOnly) != from || r.History != "days" {
			t.Errorf("since %v (%s), want %s of the days", r.Since, r.History, from)
		}
		// Each project's row and the total: the sum of its days.
		want := map[string][4]float64{}
		var total, month [4]float64
		for _, d := range sp.Days {
			if strings.HasPrefix(d.Period, sp.Period+"-") {
				for i, v := range []string{d.Total.CPUHours, d.Total.MemoryGiBHours, d.Total.GPUHours, d.Total.Cost} {
					month[i] += num(v)
				}
			}
			if d.Period < from {
				continue
			}
			for _, p := range d.Projects {
				w := want[p.Name]
				for i, v := range []string{p.CPUHours, p.MemoryGiBHours, p.GPUHours, p.Cost} {
					w[i] += num(v)
				}
				want[p.Name] = w
			}
			for i, v := range []string{d.Total.CPUHours, d.Total.MemoryGiBHours, d.Total.GPUHours, d.Total.Cost} {
				total[i] += num(v)
			}
		}
		if len(r.Rows) != len(want) {
			t.Errorf("%d rows, want one for each of the projects of the days: %v", len(r.Rows), want)
		}
		for _, row := range r.Rows {
			for i, v := range []string{row.CPUHours, row.MemoryGiBHours, row.GPUHours, row.Cost} {
				if math.Abs(num(v)-want[row.Name][i]) > 1e-9 {
					t.Errorf("project %s amount %d is %s, its days sum to %v", row.Name, i, v, want[row.Name][i])
				}
			}
		}
		for i, v := range []string{r.Total.CPUHours, r.Total.MemoryGiBHours, r.Total.GPUHours, r.Total.Cost} {
			if math.Abs(num(v)-total[i]) > 1e-9 {
				t.Errorf("total amount %d is %s, the days sum to %v", i, v, total[i])
			}
			if v := []string{sp.Total.CPUHours, sp.Total.MemoryGiBHours, sp.Total.GPUHours, sp.Total.Cost}[i]; math.Abs(num(v)-month[i]) > 1e-6*float64(len(sp.Days)) {
				t.Errorf("amount %d: the days of %s sum to %v, the month's total is %s", i, sp.Period, month[i], v)
			}
		}
		if num(r.Total.CPUHours) <= 0 {
			t.Errorf("no core-hours since 7 days ago:\n%s", out)
		}
		return
	}
}
