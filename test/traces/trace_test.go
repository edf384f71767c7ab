package traces

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSteps(t *testing.T) {
	h := time.Hour
	tr := Trace{Horizon: 3 * h, Pods: []Pod{
		cpuPod("a", 1, 4, 0, 2*h),
		cpuPod("b", 1, 4, h, 2*h),
		cpuPod("c", 1, 4, h, Forever),
		cpuPod("d", 1, 4, 2*h, 4*h),
		cpuPod("e", 1, 4, 3*h, 4*h), // at the horizon: left out
	}}
	want := []Step{
		{At: 0, Arrive: []int{0}},
		{At: h, Arrive: []int{1, 2}},
		{At: 2 * h, Depart: []int{0, 1}, Arrive: []int{3}},
	}
	if diff := cmp.Diff(want, tr.Steps()); diff != "" {
		t.Errorf("Steps (-want +got):\n%s", diff)
	}
	if got := (Trace{Horizon: h}).Steps(); len(got) != 1 || got[0].At != 0 {
		t.Errorf("Steps of an empty trace = %v, want one step at 0", got)
	}
}

func TestQuantize(t *testing.T) {
	m := time.Minute
	tr := Trace{Horizon: time.Hour, Pods: []Pod{
		cpuPod("a", 1, 4, 20*time.Second, 5*m+40*time.Second),
		cpuPod("c", 1, 4, 29*time.Second, Forever),
		cpuPod("b", 1, 4, 50*time.Second, 70*time.Second), // shorter than a step
	}}
	want := []Pod{
		cpuPod("a", 1, 4, 0, 6*m),
		cpuPod("c", 1, 4, 0, Forever),
		cpuPod("b", 1, 4, m, 2*m),
	}
	got := tr.Quantize(m)
	if diff := cmp.Diff(want, got.Pods); diff != "" {
		t.Errorf("Quantize (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
	if tr.Pods[0].Arrive != 20*time.Second {
		t.Error("Quantize changed the original trace")
	}
}

func TestValidate(t *testing.T) {
	h := time.Hour
	big := cpuPod("big", 17, 4, 0, h)
	gpuInCPU := cpuPod("g", 1, 4, 0, h)
	gpuInCPU.Requests.GPU = 1
	for _, tc := range []struct {
		name string
		pods []Pod
		want string
	}{
		{"duplicate name", []Pod{cpuPod("a", 1, 4, 0, h), cpuPod("a", 1, 4, 0, h)}, "name used twice"},
		{"too big for a node", []Pod{big}, "exceed a cpu node"},
		{"GPU in the CPU pool", []Pod{gpuInCPU}, "exceed a cpu node"},
		{"departs before arriving", []Pod{cpuPod("a", 1, 4, h, h)}, "not after its arrival"},
		{"out of order", []Pod{cpuPod("a", 1, 4, h, 2*h), cpuPod("b", 1, 4, 0, h)}, "before pod a"},
		{"unknown pool", []Pod{{Name: "x", Pool: "tpu", Depart: h}}, "unknown pool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Trace{Horizon: 2 * h, Pods: tc.pods}.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
