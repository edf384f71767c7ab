package leader

import (
	"testing"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// The whole life of a process's leadership, in order (the state is the
// process's, as client-go's provider is).
func TestLeading(t *testing.T) {
	if Leading() {
		t.Fatal("leading before the process said whether it elects a leader")
	}
	ch := Changed()
	Elect(true)
	if Leading() || !closed(ch) {
		t.Fatalf("with leader election on and no lease held: leading %v, change seen %v", Leading(), closed(ch))
	}
	m := provider{}.NewLeaderMetric()
	ch = Changed()
	m.On("carve-scheduler")
	if !Leading() || !closed(ch) {
		t.Fatalf("after the elector reported the lease held: leading %v, change seen %v", Leading(), closed(ch))
	}
	ch = Changed()
	m.On("carve-scheduler") // renewed: no change
	if closed(ch) {
		t.Error("a renewal was reported as a change")
	}
	m.Off("carve-scheduler")
	if Leading() || !closed(ch) {
		t.Fatalf("after the lease was lost: leading %v, change seen %v", Leading(), closed(ch))
	}
	Elect(false)
	if !Leading() {
		t.Error("without leader election the process always leads")
	}
}
