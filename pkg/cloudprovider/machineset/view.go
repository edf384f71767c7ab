package machineset

import (
	"slices"
	"strings"
	"time"

	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// entry is one of a set's Machines as the platform lists it.
type entry struct {
	machine *machineInfo
	cloudprovider.Instance
	// going says the Machine no longer counts among the set's replicas: it
	// is being deleted, was marked and counted out by this process, or
	// carries the delete-machine annotation while the set has more Machines
	// than replicas (its controller deletes those first).
	going bool
}

// view is a set as the platform sees it at one moment.
type view struct {
	set *setInfo
	// target is the set's spec.replicas, or what this process last wrote
	// when the cache does not show it yet.
	target  int32
	entries []entry
	// backed is how many of the target's replicas a Machine backs: the
	// Machines that are not going.
	backed int32
}

// placeholders is the number of replicas no Machine backs yet; they are
// replicas backed+1 … target.
func (v *view) placeholders() int32 { return max(0, v.target-v.backed) }

// instances lists the entries, then a placeholder for each replica no
// Machine backs.
func (v *view) instances() []cloudprovider.Instance {
	out := make([]cloudprovider.Instance, 0, len(v.entries)+int(v.placeholders()))
	for i := range v.entries {
		out = append(out, v.entries[i].Instance)
	}
	for n := v.backed + 1; n <= v.target; n++ {
		out = append(out, cloudprovider.Instance{ID: PlaceholderID(v.set.namespace, v.set.name, n), State: cloudprovider.StateCreating})
	}
	return out
}

// see builds the view of set s with the given target, from the index and
// the Machines this process marked (name → when), which count as going.
func (ix *index) see(s *setInfo, target int32, marked map[string]time.Time) *view {
	v := &view{set: s, target: target, entries: make([]entry, 0, ix.memberCount(s))}
	var annotated []int
	ix.eachMember(s, func(m *machineInfo, node nodeInfo, hasNode bool) {
		e := entry{machine: m}
		switch {
		case hasNode && node.providerID != "":
			e.ID = node.providerID
		case m.providerID != "":
			e.ID = m.providerID
		default:
			e.ID = MachineID(m.namespace, m.name)
		}
		_, mine := marked[m.name]
		switch {
		case m.deleting || mine:
			e.State, e.going = cloudprovider.StateDeleting, true
		case m.failure != nil:
			// As the autoscaler's own Cluster API provider does: a failed
			// Machine never becomes a working node, so it is a failed
			// creation, which the autoscaler deletes and replaces.
			e.State, e.Error = cloudprovider.StateCreating, m.failure
		case hasNode && (node.providerID != "" || m.providerID != ""):
			e.State = cloudprovider.StateRunning
		default:
			e.State = cloudprovider.StateCreating
		}
		if !e.going && m.annotated {
			annotated = append(annotated, len(v.entries))
		}
		v.entries = append(v.entries, e)
	})
	live := int32(0)
	for i := range v.entries {
		if !v.entries[i].going {
			live++
		}
	}
	if excess := live - target; excess > 0 && len(annotated) > 0 {
		// Which annotated Machines go first is the controller's choice;
		// the name order only keeps the listing stable.
		slices.SortFunc(annotated, func(a, b int) int {
			return strings.Compare(v.entries[a].machine.name, v.entries[b].machine.name)
		})
		for _, i := range annotated[:min(int(excess), len(annotated))] {
			v.entries[i].State, v.entries[i].going, v.entries[i].Error = cloudprovider.StateDeleting, true, nil
			live--
		}
	}
	v.backed = live
	return v
}
