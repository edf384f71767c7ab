package traces

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

func TestDayTraceIsDeterministic(t *testing.T) {
	a, b := DayTrace(7), DayTrace(7)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("DayTrace(7) twice (-first +second):\n%s", diff)
	}
	if cmp.Equal(a.Pods, DayTrace(8).Pods) {
		t.Error("DayTrace(7) and DayTrace(8) are the same")
	}
	if diff := cmp.Diff(StaticTrace(7), StaticTrace(7)); diff != "" {
		t.Errorf("StaticTrace(7) twice (-first +second):\n%s", diff)
	}
}

// stats summarises a day trace for the sanity checks.
type stats struct {
	count       map[string]int // by pool/workload
	lifetimes   map[string][]time.Duration
	sessionCPU  map[int64]int
	memPerCPU   map[int64]int // GiB per CPU, CPU pool
	working     int           // arrivals 09:00–17:00
	night       int           // arrivals 00:30–06:00 (after the warm start)
	modelsShort int           // models departing within the day
}

func summarise(tr Trace) stats {
	s := stats{count: map[string]int{}, lifetimes: map[string][]time.Duration{}, sessionCPU: map[int64]int{}, memPerCPU: map[int64]int{}}
	for _, p := range tr.Pods {
		key := p.Pool + "/" + string(p.Workload)
		s.count[key]++
		if p.Arrive > 0 {
			s.lifetimes[key] = append(s.lifetimes[key], p.Lifetime())
		}
		if p.Workload == carvev1.WorkloadSession {
			s.sessionCPU[p.Requests.MilliCPU/1000]++
		}
		if p.Pool == CPUPool.Name && p.Workload != carvev1.WorkloadModel {
			s.memPerCPU[p.Requests.Memory/Gi/(p.Requests.MilliCPU/1000)]++
		}
		switch h := p.Arrive.Hours(); {
		case h >= 9 && h < 17:
			s.working++
		case h >= 0.5 && h < 6:
			s.night++
		}
		if p.Workload == carvev1.WorkloadModel && p.Depart < tr.Horizon {
			s.modelsShort++
		}
	}
	return s
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func TestDayTraceIsSane(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			tr := DayTrace(seed)
			if err := tr.Validate(); err != nil {
				t.Fatal(err)
			}
			if tr.Horizon != Day || len(tr.Pods) < 300 || len(tr.Pods) > 2000 {
				t.Errorf("%d pods over %v, want 300–2000 over a day", len(tr.Pods), tr.Horizon)
			}
			s := summarise(tr)
			for key, want := range map[string][2]int{
				"cpu/session": {200, 450},
				"cpu/job":     {150, 400},
				"gpu/job":     {3, 40},
				"cpu/model":   {6, 40},
			} {
				if n := s.count[key]; n < want[0] || n > want[1] {
					t.Errorf("%d %s pods, want %d–%d", n, key, want[0], want[1])
				}
			}
			if len(s.count) != 4 {
				t.Errorf("pods of %d pool/workload kinds (%v), want 4", len(s.count), s.count)
			}
			for cpu := range s.sessionCPU {
				if !slices.Contains([]int64{1, 2, 4, 8}, cpu) {
					t.Errorf("a session of %d CPU, want 1, 2, 4 or 8", cpu)
				}
			}
			total := 0
			for _, n := range s.memPerCPU {
				total += n
			}
			if s.memPerCPU[4]*10 < total*6 {
				t.Errorf("memory per CPU %v: want 4 GiB for most pods", s.memPerCPU)
			}
			for key, want := range map[string][2]time.Duration{
				"cpu/session": {60 * time.Minute, 150 * time.Minute},
				"cpu/job":     {3 * time.Minute, 20 * time.Minute},
			} {
				if m := median(s.lifetimes[key]); m < want[0] || m > want[1] {
					t.Errorf("median lifetime of %s pods %v, want %v–%v", key, m, want[0], want[1])
				}
			}
			if s.modelsShort > 0 {
				t.Errorf("%d model pods depart within the day; models must outlive it", s.modelsShort)
			}
			// Eight working hours see several times the arrivals of five
			// and a half night hours (which have the nightly batch).
			if s.working < 3*s.night {
				t.Errorf("%d arrivals 09–17h, %d at night: want a working-hours peak", s.working, s.night)
			}
			for _, p := range tr.Pods {
				if (p.Requests.GPU > 0) != (p.Pool == GPUPool.Name) {
					t.Errorf("pod %s in pool %s asks for %d GPUs", p.Name, p.Pool, p.Requests.GPU)
				}
			}
			peak := int64(0)
			for _, b := range tr.Bounds(CPUPool) {
				peak = max(peak, b.Nodes)
			}
			if peak < 8 || peak > 40 {
				t.Errorf("the CPU pool needs at most %d nodes at once, want 8–40", peak)
			}
		})
	}
}

func TestStaticTrace(t *testing.T) {
	day, st := DayTrace(3), StaticTrace(3)
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(st.Pods) != len(day.Pods) || st.Horizon != time.Hour {
		t.Fatalf("static trace of %d pods over %v, want the day's %d over 1h", len(st.Pods), st.Horizon, len(day.Pods))
	}
	var demand Resources
	for i, p := range st.Pods {
		if p.Arrive != 0 || p.Depart != Forever || p.Name != day.Pods[i].Name {
			t.Fatalf("static pod %d is %s arriving %v departing %v; want %s from 0 on, never departing", i, p.Name, p.Arrive, p.Depart, day.Pods[i].Name)
		}
		if p.Pool == CPUPool.Name {
			demand = demand.Add(p.Requests)
		}
	}
	if got, want := st.LowerBound(CPUPool), float64(NodesFor(demand, CPUPool.Capacity)); got != want {
		t.Errorf("static lower bound %v node-hours, want %v (the whole demand packed for an hour)", got, want)
	}
}
