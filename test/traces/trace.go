package traces

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// Forever is the departure time of a pod that never leaves.
const Forever = time.Duration(math.MaxInt64)

const (
	// Gi is a gibibyte, the unit of memory in the traces.
	Gi int64 = 1 << 30
)

// Resources is an amount of CPU (millicores), memory (bytes) and GPUs.
type Resources struct {
	MilliCPU int64
	Memory   int64
	GPU      int64
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{r.MilliCPU + o.MilliCPU, r.Memory + o.Memory, r.GPU + o.GPU}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{r.MilliCPU - o.MilliCPU, r.Memory - o.Memory, r.GPU - o.GPU}
}

// Fits reports whether r is no larger than c in every resource.
func (r Resources) Fits(c Resources) bool {
	return r.MilliCPU <= c.MilliCPU && r.Memory <= c.Memory && r.GPU <= c.GPU
}

func (r Resources) String() string {
	s := fmt.Sprintf("%dm CPU, %.1fGi", r.MilliCPU, float64(r.Memory)/float64(Gi))
	if r.GPU > 0 {
		s += fmt.Sprintf(", %d GPU", r.GPU)
	}
	return s
}

// Pool is a node pool of identical nodes.
type Pool struct {
	// Name is the value of the carve.dev/node-pool label of its nodes and
	// of its pods' node selector.
	Name string
	// Capacity is what one node offers to pods (its allocatable).
	Capacity Resources
}

// The two pools the traces use: general-purpose nodes, and GPU nodes (four
// GPUs, a quarter of the node's CPU and memory for each).
var (
	CPUPool = Pool{Name: "cpu", Capacity: Resources{MilliCPU: 16000, Memory: 64 * Gi}}
	GPUPool = Pool{Name: "gpu", Capacity: Resources{MilliCPU: 32000, Memory: 128 * Gi, GPU: 4}}
	// Pools lists every pool, CPU first.
	Pools = []Pool{CPUPool, GPUPool}
)

// Pod is one piece of work: it asks for Requests on a node of Pool from
// Arrive until Depart.
type Pod struct {
	// Name is unique within a trace: the workload kind and a sequence number.
	Name     string
	Workload carvev1.Workload
	Pool     string
	Requests Resources
	// Arrive and Depart are offsets from the start of the trace. Depart is
	// after Arrive; it may lie beyond the horizon, or be Forever.
	Arrive, Depart time.Duration
}

// Lifetime is how long the pod runs, Forever if it never departs.
func (p Pod) Lifetime() time.Duration {
	if p.Depart == Forever {
		return Forever
	}
	return p.Depart - p.Arrive
}

// Trace is a workload over [0, Horizon). Pods are ordered by arrival; pods
// arriving together keep the order in which they were made, which is the
// order a replay creates them in.
type Trace struct {
	// Name says which generator made it: "day" or "static".
	Name    string
	Seed    uint64
	Horizon time.Duration
	Pods    []Pod
}

// Validate checks that pods are ordered by arrival, have unique names,
// depart after they arrive, and each fits on one node of its pool.
func (t Trace) Validate() error {
	names := map[string]bool{}
	for i, p := range t.Pods {
		pool, ok := PoolNamed(p.Pool)
		switch {
		case names[p.Name]:
			return fmt.Errorf("pod %s: name used twice", p.Name)
		case !ok:
			return fmt.Errorf("pod %s: unknown pool %q", p.Name, p.Pool)
		case !p.Requests.Fits(pool.Capacity):
			return fmt.Errorf("pod %s: requests (%v) exceed a %s node (%v)", p.Name, p.Requests, pool.Name, pool.Capacity)
		case p.Depart <= p.Arrive:
			return fmt.Errorf("pod %s: departs at %v, not after its arrival at %v", p.Name, p.Depart, p.Arrive)
		case p.Arrive < 0:
			return fmt.Errorf("pod %s: arrives at %v, before the start", p.Name, p.Arrive)
		case i > 0 && p.Arrive < t.Pods[i-1].Arrive:
			return fmt.Errorf("pod %s: arrives at %v, before pod %s at %v", p.Name, p.Arrive, t.Pods[i-1].Name, t.Pods[i-1].Arrive)
		}
		names[p.Name] = true
	}
	return nil
}

// PoolNamed returns the pool called name.
func PoolNamed(name string) (Pool, bool) {
	i := slices.IndexFunc(Pools, func(p Pool) bool { return p.Name == name })
	if i < 0 {
		return Pool{}, false
	}
	return Pools[i], true
}

// Step is what happens at one instant: pods depart, then pods arrive.
type Step struct {
	At time.Duration
	// Depart and Arrive are indices into Trace.Pods, in increasing order.
	Depart, Arrive []int
}

// Steps returns the instants in [0, Horizon) at which pods arrive or depart,
// in time order, always starting with 0. Pods arriving at or after the
// horizon are left out, and so are departures after it.
func (t Trace) Steps() []Step {
	byTime := map[time.Duration]*Step{0: {At: 0}}
	step := func(at time.Duration) *Step {
		s, ok := byTime[at]
		if !ok {
			s = &Step{At: at}
			byTime[at] = s
		}
		return s
	}
	for i, p := range t.Pods {
		if p.Arrive >= t.Horizon {
			continue
		}
		s := step(p.Arrive)
		s.Arrive = append(s.Arrive, i)
		if p.Depart < t.Horizon {
			s := step(p.Depart)
			s.Depart = append(s.Depart, i)
		}
	}
	var out []Step
	for _, s := range byTime {
		slices.Sort(s.Depart)
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Step) int { return cmp.Compare(a.At, b.At) })
	return out
}

// Quantize returns a copy of t whose arrival and departure times are rounded
// to the nearest multiple of step, as a replay in steps of that size sees
// them; a pod lives at least one step. Pods keep their order.
func (t Trace) Quantize(step time.Duration) Trace {
	round := func(d time.Duration) time.Duration {
		if d == Forever {
			return d
		}
		return d.Round(step)
	}
	q := t
	q.Pods = slices.Clone(t.Pods)
	for i := range q.Pods {
		p := &q.Pods[i]
		p.Arrive, p.Depart = round(p.Arrive), round(p.Depart)
		if p.Depart != Forever && p.Depart < p.Arrive+step {
			p.Depart = p.Arrive + step
		}
	}
	// Rounding is monotone, so arrival order holds; a stable sort only
	// guards it.
	slices.SortStableFunc(q.Pods, func(a, b Pod) int { return cmp.Compare(a.Arrive, b.Arrive) })
	return q
}
