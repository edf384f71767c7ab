package scheduler

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestThroughput(t *testing.T) {
	// evenly returns n binds, one every step, the first after first.
	evenly := func(n int, first, step time.Duration) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = first + time.Duration(i)*step
		}
		return out
	}
	type rates struct{ Total, Steady float64 }
	for _, tc := range []struct {
		name    string
		binds   []time.Duration
		want    rates
		wantErr bool
	}{{
		// 100 pods, the last bound after 1 s; in steady state 80 intervals
		// of 10 ms.
		name:  "even",
		binds: evenly(100, 10*time.Millisecond, 10*time.Millisecond),
		want:  rates{Total: 100, Steady: 100},
	}, {
		// A slow start and a slow tail change the total, not the steady
		// state: pods 10..89 bind 10 ms apart.
		name: "ramp and tail",
		binds: append(append(evenly(10, 100*time.Millisecond, 100*time.Millisecond),
			evenly(80, 1100*time.Millisecond, 10*time.Millisecond)...),
			evenly(10, 2000*time.Millisecond, 200*time.Millisecond)...),
		want: rates{Total: 100 / 3.8, Steady: 79 / 0.79},
	}, {
		name:  "order does not matter",
		binds: []time.Duration{9, 3, 5, 1, 7, 2, 10, 4, 8, 6},
		want:  rates{Total: 10 / 10e-9, Steady: 7 / 7e-9},
	}, {
		name:    "too few",
		binds:   evenly(9, time.Millisecond, time.Millisecond),
		wantErr: true,
	}, {
		name:    "no time",
		binds:   make([]time.Duration, 20),
		wantErr: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			total, steady, err := throughput(tc.binds)
			if (err != nil) != tc.wantErr {
				t.Fatalf("throughput error = %v, want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, rates{total, steady}, cmpopts.EquateApprox(1e-9, 0)); diff != "" {
				t.Errorf("throughput (-want +got):\n%s", diff)
			}
		})
	}
}
