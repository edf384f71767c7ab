package consolidation

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var (
	now  = time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	node = Resources{MilliCPU: 16000, Memory: 64 << 30}
)

func cpu(c int64) Resources { return Resources{MilliCPU: c * 1000, Memory: c * 4 << 30} }

func session(name string, c int64, ends time.Duration) Pod {
	return Pod{Name: name, Requests: cpu(c), Disruption: Stays, Ends: now.Add(ends)}
}

func model(name string, c int64) Pod {
	return Pod{Name: name, Requests: cpu(c), Disruption: Movable}
}

func mk(name string, pods ...Pod) Node {
	return Node{Name: name, Allocatable: node, Pods: pods}
}

func drainingNode(n Node) Node { n.Draining = true; return n }
func requested(n Node) Node    { n.Requested = true; return n }
func protected(n Node) Node    { n.Protected = true; return n }

func TestPlanPool(t *testing.T) {
	for _, tc := range []struct {
		name string
		pool Pool
		want Plan
	}{{
		name: "the node that empties soonest is retired and its model moves",
		pool: Pool{Budget: 1, Nodes: []Node{
			mk("a", session("s1", 8, 3*time.Hour)),
			mk("b", session("s2", 2, 30*time.Minute), model("m1", 2)),
			mk("c", session("s3", 4, 2*time.Hour)),
		}},
		want: Plan{Retire: []Retirement{{"b", ReasonUnderused}}, Move: []Move{{"m1", "b"}}},
	}, {
		name: "a node holding only models goes first",
		pool: Pool{Budget: 1, Nodes: []Node{
			mk("a", session("s1", 2, 10*time.Minute)),
			mk("b", model("m1", 2), model("m2", 1)),
			mk("c", session("s3", 4, 2*time.Hour)),
		}},
		want: Plan{Retire: []Retirement{{"b", ReasonUnderused}}, Move: []Move{{"m1", "b"}, {"m2", "b"}}},
	}, {
		name: "nothing when the work needs every node",
		pool: Pool{Budget: 1, Nodes: []Node{
			mk("a", session("s1", 12, time.Hour)),
			mk("b", session("s2", 10, time.Hour)),
		}},
		want: Plan{},
	}, {
		name: "nothing when the others cannot keep the headroom",
		pool: Pool{Budget: 1, Headroom: cpu(8), Nodes: []Node{
			mk("a", session("s1", 10, time.Hour)),
			mk("b", session("s2", 1, time.Hour)),
		}},
		want: Plan{},
	}, {
		name: "a model that fits nowhere else keeps its node",
		pool: Pool{Budget: 1, Nodes: []Node{
			mk("a", session("s1", 9, time.Hour)),
			mk("b", model("m1", 8)),
		}},
		want: Plan{},
	}, {
		name: "the budget holds",
		pool: Pool{Budget: 1, Nodes: []Node{
			drainingNode(mk("a", session("s1", 2, 90*time.Minute))),
			mk("b", session("s2", 2, time.Hour)),
			mk("c", session("s3", 2, 2*time.Hour)),
		}},
		want: Plan{},
	}, {
		name: "at the budget, a node emptying an hour sooner takes a draining node's place",
		pool: Pool{Budget: 1, Nodes: []Node{
			drainingNode(mk("a", session("s1", 2, 5*time.Hour))),
			mk("b", model("m1", 2)),
			mk("c", session("s3", 8, 6*time.Hour)),
		}},
		want: Plan{Unretire: []Unretirement{{"a", ReasonSwapped}}, Retire: []Retirement{{"b", ReasonUnderused}}, Move: []Move{{"m1", "b"}}},
	}, {
		name: "keep: the last node is never retired, even empty",
		pool: Pool{Budget: 1, Keep: 1, Nodes: []Node{
			mk("a"),
		}},
		want: Plan{},
	}, {
		name: "a protected node is never chosen, and stops draining",
		pool: Pool{Budget: 1, Nodes: []Node{
			drainingNode(protected(mk("a", session("s1", 1, time.Minute)))),
			mk("b", session("s2", 2, 5*time.Hour)),
		}},
		want: Plan{Unretire: []Unretirement{{"a", ReasonProtected}}, Retire: []Retirement{{"b", ReasonUnderused}}},
	}, {
		name: "a requested node goes before an emptier one",
		pool: Pool{Budget: 1, Nodes: []Node{
			mk("a", session("s1", 1, time.Minute)),
			requested(mk("b", session("s2", 2, 5*time.Hour))),
		}},
		want: Plan{Retire: []Retirement{{"b", ReasonRequested}}},
	}, {
		name: "a requested node drains even when the work needs every node",
		pool: Pool{Budget: 1, Nodes: []Node{
			mk("a", session("s1", 12, time.Hour)),
			requested(mk("b", session("s2", 10, time.Hour))),
		}},
		want: Plan{Retire: []Retirement{{"b", ReasonRequested}}},
	}, {
		name: "consolidation off: only requested nodes",
		pool: Pool{Budget: 2, RequestedOnly: true, Nodes: []Node{
			mk("a", session("s1", 1, time.Minute)),
			requested(mk("b", session("s2", 2, 5*time.Hour))),
			mk("c", model("m1", 1)),
		}},
		want: Plan{Retire: []Retirement{{"b", ReasonRequested}}},
	}, {
		name: "a pending pod that fits nowhere un-retires the fullest draining node that takes it, and nothing is retired",
		pool: Pool{Budget: 3, Pending: []Pod{session("new", 6, 4*time.Hour)}, Nodes: []Node{
			mk("a", session("s1", 12, time.Hour)),
			drainingNode(mk("b", session("s2", 2, time.Hour))),
			drainingNode(mk("c", session("s3", 8, time.Hour))),
			drainingNode(mk("d", session("s4", 11, time.Hour))),
		}},
		want: Plan{Unretire: []Unretirement{{"c", ReasonNeeded}}},
	}, {
		name: "a pending pod with room on an undrained node un-retires nothing, and stops retirement",
		pool: Pool{Budget: 3, Pending: []Pod{session("new", 2, 4*time.Hour)}, Nodes: []Node{
			mk("a", session("s1", 2, time.Hour)),
			mk("b", session("s2", 2, time.Hour)),
			drainingNode(mk("c", session("s3", 2, time.Hour))),
		}},
		want: Plan{},
	}, {
		name: "models on a draining node move once there is room, keeping the headroom",
		pool: Pool{Budget: 1, Headroom: cpu(2), Nodes: []Node{
			mk("a", session("s1", 10, 6*time.Hour)),
			drainingNode(mk("b", session("s2", 1, time.Hour), model("m1", 3), model("m2", 3))),
		}},
		want: Plan{Move: []Move{{"m1", "b"}}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := PlanPool(tc.pool, now)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("PlanPool (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExpectedEnd(t *testing.T) {
	start := now.Add(-time.Hour)
	if got, want := ExpectedEnd(start, 4*time.Hour, now), now.Add(3*time.Hour); !got.Equal(want) {
		t.Errorf("within its lifetime: %v, want %v", got, want)
	}
	if got, want := ExpectedEnd(now.Add(-10*time.Hour), 4*time.Hour, now), now.Add(5*time.Hour); !got.Equal(want) {
		t.Errorf("past its lifetime: %v, want %v", got, want)
	}
}
