package traces

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// Day is the horizon of a day trace.
const Day = 24 * time.Hour

// warmUp is how far before midnight a day trace starts generating sessions
// and jobs, so that the day opens with the evening's work still running
// rather than with an empty cluster.
const warmUp = 12 * time.Hour

// The shape of a day trace: hourly arrival rates are base + peak ×
// activity(hour of day), where activity is about 1 at 10:30 and 15:00 and
// near 0 at night (two working-hours humps with a lunch dip between them).
var (
	sessionRate    = rate{base: 1.5, peak: 36}
	jobRate        = rate{base: 1, peak: 20}
	gpuJobRate     = rate{base: 0.15, peak: 1.8}
	modelDeploys   = rate{base: 0, peak: 0.3}
	cronJobsPerHr  = 2.0 // scheduled jobs started at each full hour, on average
	nightCronJobs  = 6.0 // ... between 01:00 and 05:00, the nightly batch
	startEndpoints = 6   // model endpoints already serving at midnight: 6 to 10
)

// DayTrace returns a day of CML-like work for seed; the same seed always gives
// the same trace.
//
//   - Sessions (notebooks, IDEs): 1/2/4/8 CPU (35/35/20/10 %) with 4 GiB per
//     CPU (80 %; else 2 or 8), log-normal durations with a median of 90 min,
//     from 5 min to 12 h.
//   - Jobs: 1/2/4/8 CPU (30/40/20/10 %), 4 GiB per CPU (70 %; else 2 or 8),
//     log-normal durations with a median of 6 min, from 30 s to 3 h; plus
//     scheduled jobs at each full hour, more of them and longer (median
//     15 min) in the nightly batch window.
//   - GPU jobs, in the GPU pool: 1/2/4 GPUs (70/20/10 %), each GPU with 8
//     CPU and 32 GiB or 4 CPU and 16 GiB, median 75 min, 10 min to 8 h.
//   - Model endpoints: 1–3 replicas of 1–2 CPU and 2–8 GiB. Those serving at
//     midnight arrive at 0; a few more are deployed during working hours.
//     They live for days, so every one outlives the trace.
//
// Arrivals are Poisson with the day's rate; sessions and jobs started in the
// 12 hours before midnight and still running arrive at 0.
func DayTrace(seed uint64) Trace {
	g := &gen{r: rand.New(rand.NewPCG(seed, 0x6361727665))} // "carve"
	g.models()
	for _, at := range g.arrivals(-warmUp, Day, sessionRate) {
		cpu := pick(g.r, []int64{1, 2, 4, 8}, []int{35, 35, 20, 10})
		mem := cpu * pick(g.r, []int64{4, 2, 8}, []int{80, 10, 10}) * Gi
		g.add(carvev1.WorkloadSession, CPUPool, Resources{MilliCPU: cpu * 1000, Memory: mem},
			at, g.lognormal(90*time.Minute, 0.9, 5*time.Minute, 12*time.Hour))
	}
	for _, at := range g.arrivals(-warmUp, Day, jobRate) {
		g.job(at, 6*time.Minute)
	}
	for hour := -warmUp; hour < Day; hour += time.Hour {
		mean, median := cronJobsPerHr, 6*time.Minute
		if h := hourOfDay(hour); h >= 1 && h < 5 {
			mean, median = nightCronJobs, 15*time.Minute
		}
		for range g.poisson(mean) {
			// Cron jobs start on the hour; their pods follow within seconds.
			g.job(hour+time.Duration(g.r.Int64N(int64(20*time.Second))), median)
		}
	}
	for _, at := range g.arrivals(-warmUp, Day, gpuJobRate) {
		gpus := pick(g.r, []int64{1, 2, 4}, []int{70, 20, 10})
		per := pick(g.r, []Resources{{MilliCPU: 8000, Memory: 32 * Gi, GPU: 1}, {MilliCPU: 4000, Memory: 16 * Gi, GPU: 1}}, []int{60, 40})
		req := Resources{MilliCPU: gpus * per.MilliCPU, Memory: gpus * per.Memory, GPU: gpus}
		g.add(carvev1.WorkloadJob, GPUPool, req, at, g.lognormal(75*time.Minute, 0.8, 10*time.Minute, 8*time.Hour))
	}
	return g.trace("day", seed, Day)
}

// StaticTrace returns the pods of DayTrace(seed) that arrive within the day, all
// arriving at once at 0 (in the day's arrival order) and none departing, over
// a one-hour horizon: node-hours are then nodes used, and the lower bound
// is that of the whole day's demand packed at once.
func StaticTrace(seed uint64) Trace {
	day := DayTrace(seed)
	t := Trace{Name: "static", Seed: seed, Horizon: time.Hour}
	for _, p := range day.Pods {
		if p.Arrive < day.Horizon {
			p.Arrive, p.Depart = 0, Forever
			t.Pods = append(t.Pods, p)
		}
	}
	return t
}

// gen accumulates the pods of one trace.
type gen struct {
	r    *rand.Rand
	pods []genPod
}

type genPod struct {
	Pod
	// born is when the pod was really started, before warm-up pods are
	// moved to 0; it orders pods that arrive together.
	born time.Duration
}

type rate struct{ base, peak float64 }

// at returns the arrival rate per hour at hour of day h.
func (r rate) at(h float64) float64 { return r.base + r.peak*activity(h) }

// max bounds at over the day, for thinning.
func (r rate) max() float64 { return r.base + r.peak*2 }

// activity is the working-hours shape of arrivals: two Gaussian humps, at
// 10:30 and 15:00.
func activity(h float64) float64 {
	hump := func(mu, sigma float64) float64 { x := (h - mu) / sigma; return math.Exp(-x * x / 2) }
	return hump(10.5, 1.5) + 0.85*hump(15, 1.8)
}

func hourOfDay(t time.Duration) float64 {
	return math.Mod(math.Mod(t.Hours(), 24)+24, 24)
}

// arrivals draws the arrival times of a Poisson process of rate r over
// [from, to), by thinning a process of rate r.max().
func (g *gen) arrivals(from, to time.Duration, r rate) []time.Duration {
	var out []time.Duration
	top := r.max()
	if top <= 0 {
		return nil
	}
	for t := from; ; {
		t += time.Duration(g.r.ExpFloat64() / top * float64(time.Hour))
		if t >= to {
			return out
		}
		if g.r.Float64()*top < r.at(hourOfDay(t)) {
			out = append(out, t)
		}
	}
}

func (g *gen) job(at, median time.Duration) {
	cpu := pick(g.r, []int64{1, 2, 4, 8}, []int{30, 40, 20, 10})
	mem := cpu * pick(g.r, []int64{4, 2, 8}, []int{70, 10, 20}) * Gi
	g.add(carvev1.WorkloadJob, CPUPool, Resources{MilliCPU: cpu * 1000, Memory: mem},
		at, g.lognormal(median, 1.0, 30*time.Second, 3*time.Hour))
}

// models adds the endpoints serving at midnight and those deployed during
// the day. Replicas of an endpoint share its size and lifetime.
func (g *gen) models() {
	endpoint := func(at, depart time.Duration) {
		replicas := pick(g.r, []int{1, 2, 3}, []int{50, 35, 15})
		req := Resources{
			MilliCPU: pick(g.r, []int64{1000, 2000}, []int{50, 50}),
			Memory:   pick(g.r, []int64{2, 4, 8}, []int{30, 50, 20}) * Gi,
		}
		for range replicas {
			g.pods = append(g.pods, genPod{Pod{Workload: carvev1.WorkloadModel, Pool: CPUPool.Name, Requests: req, Arrive: at, Depart: depart}, at - 30*24*time.Hour})
		}
	}
	for range startEndpoints + g.r.IntN(5) {
		// Remaining lifetime: beyond the day, then about 5 days more.
		endpoint(0, Day+time.Duration(g.r.ExpFloat64()*5*24*float64(time.Hour)))
	}
	for _, at := range g.arrivals(0, Day, modelDeploys) {
		endpoint(at, at+g.lognormal(5*24*time.Hour, 0.7, 2*24*time.Hour, 60*24*time.Hour))
	}
}

// add records a pod started at at for d; one that ended before midnight is
// dropped, one still running at midnight arrives at 0.
func (g *gen) add(w carvev1.Workload, pool Pool, req Resources, at, d time.Duration) {
	if at+d <= 0 {
		return
	}
	g.pods = append(g.pods, genPod{Pod{Workload: w, Pool: pool.Name, Requests: req, Arrive: max(at, 0), Depart: at + d}, at})
}

func (g *gen) trace(name string, seed uint64, horizon time.Duration) Trace {
	slices.SortStableFunc(g.pods, func(a, b genPod) int {
		return cmp.Or(cmp.Compare(a.Arrive, b.Arrive), cmp.Compare(a.born, b.born))
	})
	t := Trace{Name: name, Seed: seed, Horizon: horizon}
	seq := map[string]int{}
	for _, p := range g.pods {
		prefix := string(p.Workload)
		if p.Pool != CPUPool.Name {
			prefix = p.Pool + "-" + prefix
		}
		seq[prefix]++
		p.Name = fmt.Sprintf("%s-%04d", prefix, seq[prefix])
		t.Pods = append(t.Pods, p.Pod)
	}
	return t
}

// lognormal draws a duration whose logarithm is normal around log(median)
// with deviation sigma, clamped to [lo, hi].
func (g *gen) lognormal(median time.Duration, sigma float64, lo, hi time.Duration) time.Duration {
	d := time.Duration(float64(median) * math.Exp(sigma*g.r.NormFloat64()))
	return min(max(d, lo), hi)
}

// poisson draws a Poisson count of the given mean (Knuth's method; the
// means here are small).
func (g *gen) poisson(mean float64) int {
	limit, p, n := math.Exp(-mean), 1.0, 0
	for {
		p *= g.r.Float64()
		if p <= limit {
			return n
		}
		n++
	}
}

// pick returns one of values, chosen with the given integer weights.
func pick[T any](r *rand.Rand, values []T, weights []int) T {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.IntN(total)
	for i, w := range weights {
		if n < w {
			return values[i]
		}
		n -= w
	}
	return values[len(values)-1]
}
