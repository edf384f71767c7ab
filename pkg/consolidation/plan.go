package consolidation

import (
	"cmp"
	"slices"
	"time"
)

// Resources is an amount of CPU (millicores), memory (bytes) and GPUs (all
// vendors summed): what a node offers and a pod requests.
type Resources struct {
	MilliCPU, Memory, GPU int64
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

// share is the largest fraction of c that r takes in any resource c has.
func (r Resources) share(c Resources) float64 {
	s := 0.0
	for _, x := range [][2]int64{{r.MilliCPU, c.MilliCPU}, {r.Memory, c.Memory}, {r.GPU, c.GPU}} {
		if x[1] > 0 {
			s = max(s, float64(x[0])/float64(x[1]))
		}
	}
	return s
}

// Disruption says what consolidation may do to a pod.
type Disruption int

const (
	// Stays: the pod runs on its node until it ends (a session, or any pod
	// consolidation may not move). A draining node waits for it.
	Stays Disruption = iota
	// Movable: the pod may be evicted once a replacement fits elsewhere (a
	// model endpoint replica, a job its workspace marks restartable).
	Movable
)

// Pod is a pod on a node, or one waiting for room in the pool.
type Pod struct {
	// Name identifies the pod (namespace/name).
	Name     string
	Requests Resources
	// Disruption says whether the pod may be moved.
	Disruption Disruption
	// Ends is when the pod is expected to end; the zero time when it is
	// not known, which ranks it as ending last.
	Ends time.Time
}

// Node is one node of the pool.
type Node struct {
	Name        string
	Allocatable Resources
	Pods        []Pod
	// Draining: the node is being retired (it carries the draining taint).
	Draining bool
	// Requested: the node is to be retired whatever the pool's load, because
	// an admin asked or it no longer matches its pool's template. Such nodes
	// are chosen before any other.
	Requested bool
	// Protected: the node may not be retired (opted out of scale-down, or
	// taken back this round; a pool's last nodes are kept by Pool.Keep). A
	// protected node that drains is un-retired.
	Protected bool
}

func (n *Node) requested() Resources {
	var r Resources
	for _, p := range n.Pods {
		r = r.Add(p.Requests)
	}
	return r
}

// Pool is what the planner knows of one NodePool at an instant.
type Pool struct {
	Nodes []Node
	// Pending are the pool's admitted pods that have no node yet.
	Pending []Pod
	// Headroom is room the nodes that stay must keep free after a
	// retirement, for the arrivals the pool expects soon.
	Headroom Resources
	// Budget is the most nodes that may drain at once.
	Budget int
	// Keep is the fewest nodes that must stay undrained.
	Keep int
	// RequestedOnly: retire only requested nodes (consolidation is off).
	RequestedOnly bool
}

// Move is a pod to evict from a draining node: its replacement fits on the
// nodes that stay.
type Move struct {
	Pod, Node string
}

// Reason says why a node was chosen.
type Reason string

const (
	// ReasonRequested: an admin asked, or the node drifted from its template.
	ReasonRequested Reason = "Requested"
	// ReasonUnderused: the pool's work fits on its other nodes.
	ReasonUnderused Reason = "Underused"
)

// Retirement is a node the plan starts draining, and why.
type Retirement struct {
	Node   string
	Reason Reason
}

// Why a draining node is taken back.
const (
	// ReasonNeeded: pods waiting for room fit on it and nowhere else.
	ReasonNeeded Reason = "Needed"
	// ReasonSwapped: another node, expected to empty much sooner, drains
	// in its place.
	ReasonSwapped Reason = "Swapped"
	// ReasonProtected: the node may not be retired.
	ReasonProtected Reason = "Protected"
)

// Unretirement is a draining node the plan takes back, and why.
type Unretirement struct {
	Node   string
	Reason Reason
}

// Plan is what to do to the pool now.
type Plan struct {
	// Unretire are draining nodes the pool needs again, because pending
	// pods fit nowhere else: un-retiring one is how retiring never causes a
	// scale-up.
	Unretire []Unretirement
	// Retire are nodes to start draining, best first.
	Retire []Retirement
	// Move are pods to evict from draining nodes, their replacements
	// having room on the nodes that stay.
	Move []Move
}

// space is the free room of the nodes that stay, on which the planner
// places what must go somewhere (pending pods, moved pods) first-fit.
type space struct {
	free []Resources
}

func (s *space) total() Resources {
	var t Resources
	for _, f := range s.free {
		t = t.Add(f)
	}
	return t
}

// place puts r on the fullest node it fits (best fit), reporting whether
// one had room.
func (s *space) place(r Resources, alloc Resources) bool {
	best := -1
	for i, f := range s.free {
		if !r.Fits(f) {
			continue
		}
		if best < 0 || f.share(alloc) < s.free[best].share(alloc) {
			best = i
		}
	}
	if best < 0 {
		return false
	}
	s.free[best] = s.free[best].Sub(r)
	return true
}

func (s *space) clone() *space {
	return &space{free: slices.Clone(s.free)}
}

// PlanPool decides, at now, which of the pool's nodes to retire, which
// draining nodes to take back and which pods to move. It is a pure
// function of its arguments.
//
//  1. Pending pods are placed on the undrained nodes' free room; those that
//     fit nowhere un-retire the draining node that takes them (the one
//     most full first). While any pod is pending, nothing else is done:
//     it may be on its way to the room the planner would count as free.
//  2. Movable pods of draining nodes move when they fit on the undrained
//     nodes with the headroom left free.
//  3. While fewer than Budget nodes drain and more than Keep stay, the
//     undrained node cheapest to empty is retired, if its movable pods fit
//     on the others and the pool's work with the headroom fits on fewer
//     nodes (requested nodes need only the first): requested nodes first,
//     then the one whose staying pods end soonest, then the one with the
//     least work that must stay, then by name. At the budget, a draining
//     node that was not requested gives its place to an undrained one that
//     empties an hour sooner.
func PlanPool(p Pool, now time.Time) Plan {
	var plan Plan
	nodes := slices.Clone(p.Nodes)
	slices.SortFunc(nodes, func(a, b Node) int { return cmp.Compare(a.Name, b.Name) })
	var alloc Resources
	if len(nodes) > 0 {
		alloc = nodes[0].Allocatable
	}

	// Protected nodes never drain.
	for i := range nodes {
		if nodes[i].Draining && nodes[i].Protected {
			nodes[i].Draining = false
			plan.Unretire = append(plan.Unretire, Unretirement{nodes[i].Name, ReasonProtected})
		}
	}

	stay := func() *space {
		s := &space{}
		for i := range nodes {
			if !nodes[i].Draining {
				s.free = append(s.free, nodes[i].Allocatable.Sub(nodes[i].requested()))
			}
		}
		return s
	}

	// 1. Pending pods: room on the undrained nodes, else un-retire.
	pending := slices.Clone(p.Pending)
	slices.SortStableFunc(pending, func(a, b Pod) int { return -cmp.Compare(a.Requests.share(alloc), b.Requests.share(alloc)) })
	room := stay()
	var homeless []Pod
	for _, pod := range pending {
		if !room.place(pod.Requests, alloc) {
			homeless = append(homeless, pod)
		}
	}
	if len(pending) > 0 {
		for _, pod := range homeless {
			best := -1
			for i := range nodes {
				n := &nodes[i]
				if !n.Draining || !pod.Requests.Add(n.requested()).Fits(n.Allocatable) {
					continue
				}
				if best < 0 || n.requested().share(alloc) > nodes[best].requested().share(alloc) {
					best = i
				}
			}
			if best < 0 {
				continue // a real scale-up: no draining node takes it
			}
			nodes[best].Draining = false
			nodes[best].Pods = append(nodes[best].Pods, pod)
			plan.Unretire = append(plan.Unretire, Unretirement{nodes[best].Name, ReasonNeeded})
		}
		return plan
	}

	// 2. Moves off draining nodes, keeping the headroom.
	room = stay()
	for i := range nodes {
		n := &nodes[i]
		if !n.Draining {
			continue
		}
		for _, pod := range movable(n.Pods) {
			try := room.clone()
			if try.place(pod.Requests, alloc) && p.Headroom.Fits(try.total()) {
				room = try
				plan.Move = append(plan.Move, Move{Pod: pod.Name, Node: n.Name})
			}
		}
	}

	// 3. Retirements, and swaps: at the budget, a draining node gives its
	// place to an undrained one that empties much sooner.
	for {
		draining, undrained := 0, 0
		for _, n := range nodes {
			if n.Draining {
				draining++
			} else {
				undrained++
			}
		}
		if undrained <= p.Keep {
			break
		}
		// Requested nodes drain whatever the load: the pool buys their
		// replacements if it must, once they are un-retired for pending pods.
		onlyRequested := p.RequestedOnly || !fitsOnFewer(nodes, p.Headroom, undrained)
		best, moves := cheapestToRetire(nodes, plan.Move, alloc, now, onlyRequested)
		if best < 0 {
			break
		}
		n := &nodes[best]
		if draining >= p.Budget {
			worst := -1
			for i := range nodes {
				if nodes[i].Draining && !nodes[i].Requested && (worst < 0 || cheaper(&nodes[worst], &nodes[i], now)) {
					worst = i
				}
			}
			if worst < 0 || !muchCheaper(n, &nodes[worst], now) {
				break
			}
			nodes[worst].Draining = false
			plan.Move = slices.DeleteFunc(plan.Move, func(m Move) bool { return m.Node == nodes[worst].Name })
			if i := slices.IndexFunc(plan.Retire, func(r Retirement) bool { return r.Node == nodes[worst].Name }); i >= 0 {
				plan.Retire = slices.Delete(plan.Retire, i, i+1)
			} else {
				plan.Unretire = append(plan.Unretire, Unretirement{nodes[worst].Name, ReasonSwapped})
			}
		}
		reason := ReasonUnderused
		if n.Requested {
			reason = ReasonRequested
		}
		plan.Retire = append(plan.Retire, Retirement{Node: n.Name, Reason: reason})
		plan.Move = append(plan.Move, moves...)
		n.Draining = true
	}
	return plan
}

// cheapestToRetire returns the undrained node cheapest to empty whose
// movable pods fit on the other undrained nodes (after the moves already
// planned), and the moves that empty it of them; -1 when none qualifies.
func cheapestToRetire(nodes []Node, planned []Move, alloc Resources, now time.Time, onlyRequested bool) (int, []Move) {
	best := -1
	var bestMoves []Move
	for i := range nodes {
		n := &nodes[i]
		if n.Draining || n.Protected || (onlyRequested && !n.Requested) {
			continue
		}
		others := &space{}
		for j := range nodes {
			if j != i && !nodes[j].Draining {
				others.free = append(others.free, nodes[j].Allocatable.Sub(nodes[j].requested()))
			}
		}
		for _, m := range planned {
			for _, pod := range podsOf(nodes, m) {
				others.place(pod.Requests, alloc)
			}
		}
		var moves []Move
		ok := true
		for _, pod := range movable(n.Pods) {
			if !others.place(pod.Requests, alloc) {
				ok = false
				break
			}
			moves = append(moves, Move{Pod: pod.Name, Node: n.Name})
		}
		if !ok {
			continue
		}
		if best < 0 || cheaper(n, &nodes[best], now) {
			best, bestMoves = i, moves
		}
	}
	return best, bestMoves
}

// swapMargin is how much sooner a node must empty than a draining one to
// take its place at the budget, so that estimates moving a little do not
// swap nodes back and forth.
const swapMargin = time.Hour

// muchCheaper reports whether a, undrained, should drain instead of b.
func muchCheaper(a, b *Node, now time.Time) bool {
	if a.Requested != b.Requested {
		return a.Requested
	}
	return emptyAt(a, now).Add(swapMargin).Before(emptyAt(b, now))
}

// fitsOnFewer reports whether the work on the undrained nodes and what is
// to move onto them from draining ones, with the headroom, would fit on
// fewer of them by the resource it fills most.
func fitsOnFewer(nodes []Node, headroom Resources, undrained int) bool {
	demand, alloc := headroom, Resources{}
	for i := range nodes {
		n := &nodes[i]
		if !n.Draining {
			demand = demand.Add(n.requested())
			alloc = n.Allocatable
			continue
		}
		for _, p := range movable(n.Pods) {
			demand = demand.Add(p.Requests)
		}
	}
	need := 0
	for _, x := range [][2]int64{{demand.MilliCPU, alloc.MilliCPU}, {demand.Memory, alloc.Memory}, {demand.GPU, alloc.GPU}} {
		if x[0] > 0 && x[1] > 0 {
			need = max(need, int((x[0]+x[1]-1)/x[1]))
		}
	}
	return need < undrained
}

func podsOf(nodes []Node, m Move) []Pod {
	for _, n := range nodes {
		if n.Name != m.Node {
			continue
		}
		for _, p := range n.Pods {
			if p.Name == m.Pod {
				return []Pod{p}
			}
		}
	}
	return nil
}

// movable returns the pods that may move, largest first.
func movable(pods []Pod) []Pod {
	var out []Pod
	for _, p := range pods {
		if p.Disruption == Movable {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b Pod) int {
		return -cmp.Compare(a.Requests.MilliCPU+a.Requests.Memory>>18, b.Requests.MilliCPU+b.Requests.Memory>>18)
	})
	return out
}

// ExpectedEnd is when a pod that started at start is expected to end, at
// now, given its kind's expected lifetime: start+lifetime while that lies
// ahead; past it, half its age again, since a pod that outlived its
// expected life is likely to run long (lifetimes are heavy-tailed).
func ExpectedEnd(start time.Time, lifetime time.Duration, now time.Time) time.Time {
	if end := start.Add(lifetime); end.After(now) {
		return end
	}
	return now.Add(now.Sub(start) / 2)
}

// emptyAt is when the node's staying pods are expected to have ended; the
// zero time for a node with none, and far in the future when one's end is
// unknown.
func emptyAt(n *Node, now time.Time) time.Time {
	var t time.Time
	for _, p := range n.Pods {
		if p.Disruption == Movable {
			continue
		}
		end := p.Ends
		if end.IsZero() {
			end = now.Add(100 * 365 * 24 * time.Hour)
		}
		if end.After(t) {
			t = end
		}
	}
	if t.Before(now) && !t.IsZero() {
		t = now
	}
	return t
}

func staying(n *Node) Resources {
	var r Resources
	for _, p := range n.Pods {
		if p.Disruption != Movable {
			r = r.Add(p.Requests)
		}
	}
	return r
}

// cheaper reports whether a is cheaper to empty than b.
func cheaper(a, b *Node, now time.Time) bool {
	if a.Requested != b.Requested {
		return a.Requested
	}
	if ea, eb := emptyAt(a, now), emptyAt(b, now); !ea.Equal(eb) {
		return ea.Before(eb)
	}
	if sa, sb := staying(a).share(a.Allocatable), staying(b).share(b.Allocatable); sa != sb {
		return sa < sb
	}
	return a.Name < b.Name
}
