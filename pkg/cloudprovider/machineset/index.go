package machineset

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// key names a namespaced object.
type key struct{ namespace, name string }

func (k key) String() string { return k.namespace + "/" + k.name }

// setInfo is what the platform reads of a set.
type setInfo struct {
	key
	uid             types.UID
	resourceVersion string
	replicas        int32
	// selector selects the set's Machines; labels.Nothing() when the set
	// has none (an empty selector would select every Machine of the
	// namespace).
	selector       labels.Selector
	selectorString string
	annotations    map[string]string
}

// machineInfo is what the platform reads of a Machine.
type machineInfo struct {
	key
	uid        types.UID
	labels     labels.Set
	owner      types.UID // the controller ownerReference's, "" without one
	providerID string
	deleting   bool
	// annotated says the Machine carries the delete-machine annotation.
	annotated bool
	failure   *cloudprovider.InstanceError
}

// nodeInfo is what the platform reads of a Node.
type nodeInfo struct {
	name, providerID string
	// machine is the Machine the Node's annotations name, if any.
	machine    key
	hasMachine bool
}

// index keeps summaries of the sets, Machines and Nodes the informers hold,
// updated by their event handlers, so that a pool's instances are found
// without copying or converting cached objects. Readers take mu for reading.
type index struct {
	kind *Kind

	mu           sync.RWMutex
	sets         map[key]*setInfo
	machines     map[string]map[string]*machineInfo // namespace → name
	byProviderID map[string]key                     // a Machine's spec.providerID → the Machine
	nodes        map[string]nodeInfo                // a Node's spec.providerID → the Node
	nodeOf       map[key]nodeInfo                   // a Machine → the Node that names it
	// members are each cached set's Machines (set → name → Machine), kept
	// as Machines and sets change, so that listing a set's instances does
	// not test every Machine of its namespace against its selector.
	members map[key]map[string]*machineInfo
}

func newIndex(k *Kind) *index {
	return &index{
		kind: k, sets: map[key]*setInfo{}, machines: map[string]map[string]*machineInfo{},
		byProviderID: map[string]key{}, nodes: map[string]nodeInfo{}, nodeOf: map[key]nodeInfo{},
		members: map[key]map[string]*machineInfo{},
	}
}

// unwrap returns the object of an informer event, also of a tombstone.
func unwrap(obj any) any {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

func handlers(move func(old, obj any)) toolscache.ResourceEventHandlerFuncs {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { move(nil, obj) },
		UpdateFunc: func(old, obj any) { move(old, obj) },
		DeleteFunc: func(obj any) { move(unwrap(obj), nil) },
	}
}

func (ix *index) moveSet(old, obj any) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var prev *setInfo
	var kept map[string]*machineInfo
	if u, ok := old.(*unstructured.Unstructured); ok {
		k := key{u.GetNamespace(), u.GetName()}
		prev, kept = ix.sets[k], ix.members[k]
		delete(ix.sets, k)
		delete(ix.members, k)
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	s := setInfoOf(u)
	ix.sets[s.key] = s
	if prev != nil && kept != nil && prev.key == s.key && prev.uid == s.uid && prev.selectorString == s.selectorString {
		// Most updates change the status or the replicas, not which
		// Machines belong; only a new selector or a new set means testing
		// the namespace's Machines again.
		ix.members[s.key] = kept
		return
	}
	mm := map[string]*machineInfo{}
	for _, m := range ix.machines[s.namespace] {
		if ix.member(s, m) {
			mm[m.name] = m
		}
	}
	ix.members[s.key] = mm
}

func (ix *index) moveMachine(old, obj any) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	// An add may replace an entry too (a relist), so the new object's key is
	// forgotten first as well as the old one's.
	for _, o := range []any{old, obj} {
		if u, ok := o.(*unstructured.Unstructured); ok {
			ix.forgetMachine(key{u.GetNamespace(), u.GetName()})
		}
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	m := machineInfoOf(ix.kind, u)
	ns := ix.machines[m.namespace]
	if ns == nil {
		ns = map[string]*machineInfo{}
		ix.machines[m.namespace] = ns
	}
	ns[m.name] = m
	if m.providerID != "" {
		ix.byProviderID[m.providerID] = m.key
	}
	for sk, mm := range ix.members {
		if sk.namespace == m.namespace && ix.member(ix.sets[sk], m) {
			mm[m.name] = m
		}
	}
}

// forgetMachine removes Machine k from the index. Callers hold mu.
func (ix *index) forgetMachine(k key) {
	m := ix.machines[k.namespace][k.name]
	if m == nil {
		return
	}
	if m.providerID != "" && ix.byProviderID[m.providerID] == k {
		delete(ix.byProviderID, m.providerID)
	}
	delete(ix.machines[k.namespace], k.name)
	if len(ix.machines[k.namespace]) == 0 {
		delete(ix.machines, k.namespace)
	}
	for sk, mm := range ix.members {
		if sk.namespace == k.namespace {
			delete(mm, k.name)
		}
	}
}

func (ix *index) moveNode(old, obj any) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if n, ok := old.(*corev1.Node); ok {
		prev := ix.nodeInfoOf(n)
		if cur, ok := ix.nodes[prev.providerID]; ok && cur.name == prev.name {
			delete(ix.nodes, prev.providerID)
		}
		if cur, ok := ix.nodeOf[prev.machine]; prev.hasMachine && ok && cur.name == prev.name {
			delete(ix.nodeOf, prev.machine)
		}
	}
	if n, ok := obj.(*corev1.Node); ok {
		ni := ix.nodeInfoOf(n)
		if ni.providerID != "" {
			ix.nodes[ni.providerID] = ni
		}
		if ni.hasMachine {
			ix.nodeOf[ni.machine] = ni
		}
	}
}

func (ix *index) nodeInfoOf(n *corev1.Node) nodeInfo {
	ni := nodeInfo{name: n.Name, providerID: n.Spec.ProviderID}
	if ns, name, ok := ix.kind.NodeMachine(n.Annotations); ok {
		ni.machine, ni.hasMachine = key{ns, name}, true
	}
	return ni
}

func setInfoOf(u *unstructured.Unstructured) *setInfo {
	s := &setInfo{
		key: key{u.GetNamespace(), u.GetName()}, uid: u.GetUID(), resourceVersion: u.GetResourceVersion(),
		annotations: u.GetAnnotations(), selector: labels.Nothing(),
	}
	if r, found, err := unstructured.NestedInt64(u.Object, "spec", "replicas"); found && err == nil {
		s.replicas = int32(r)
	}
	if raw, found, err := unstructured.NestedMap(u.Object, "spec", "selector"); found && err == nil && len(raw) > 0 {
		ls := &metav1.LabelSelector{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, ls); err == nil &&
			(len(ls.MatchLabels) > 0 || len(ls.MatchExpressions) > 0) {
			if sel, err := metav1.LabelSelectorAsSelector(ls); err == nil {
				s.selector, s.selectorString = sel, sel.String()
			}
		}
	}
	return s
}

func machineInfoOf(k *Kind, u *unstructured.Unstructured) *machineInfo {
	m := &machineInfo{
		key: key{u.GetNamespace(), u.GetName()}, uid: u.GetUID(), labels: u.GetLabels(),
		deleting: u.GetDeletionTimestamp() != nil,
	}
	_, m.annotated = u.GetAnnotations()[k.DeleteAnnotation]
	if ref := metav1.GetControllerOfNoCopy(u); ref != nil {
		m.owner = ref.UID
	}
	m.providerID, _, _ = unstructured.NestedString(u.Object, "spec", "providerID")
	if k.Failure != nil {
		m.failure = k.Failure(u.Object)
	}
	return m
}

// set returns the cached set k, nil if there is none.
func (ix *index) set(k key) *setInfo {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.sets[k]
}

// member says whether Machine m belongs to set s: same namespace, labels
// matching the set's selector and, for a Kind whose sets own their Machines,
// no controller other than the set (an orphan that matches is adopted by
// the set's controller, so it counts).
func (ix *index) member(s *setInfo, m *machineInfo) bool {
	if m.namespace != s.namespace || !s.selector.Matches(m.labels) {
		return false
	}
	return !ix.kind.DirectOwner || m.owner == "" || m.owner == s.uid
}

// eachMember calls fn for each cached Machine of s, with the Node it has, if
// any, under the read lock. A set read from the API server (not cached
// yet) has its namespace's Machines tested one by one.
func (ix *index) eachMember(s *setInfo, fn func(m *machineInfo, node nodeInfo, hasNode bool)) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	visit := func(m *machineInfo) {
		node, ok := ix.nodeFor(m)
		fn(m, node, ok)
	}
	if cached := ix.sets[s.key]; cached != nil && cached.uid == s.uid && ix.members[s.key] != nil {
		for _, m := range ix.members[s.key] {
			visit(m)
		}
		return
	}
	for _, m := range ix.machines[s.namespace] {
		if ix.member(s, m) {
			visit(m)
		}
	}
}

// memberCount is how many Machines s has, as far as the index keeps count
// (0 for a set not cached), to size the caller's slices.
func (ix *index) memberCount(s *setInfo) int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.members[s.key])
}

// nodeFor is the Node of Machine m: the Node with m's providerID, else the
// Node whose annotation names m. Callers hold mu.
func (ix *index) nodeFor(m *machineInfo) (nodeInfo, bool) {
	if m.providerID != "" {
		if n, ok := ix.nodes[m.providerID]; ok {
			return n, true
		}
	}
	n, ok := ix.nodeOf[m.key]
	return n, ok
}

// lookup finds what an instance id names: the Machine with that providerID,
// or the Machine the annotations of the Node with that providerID name.
// node says a Node has the id even when no Machine was found for it.
func (ix *index) lookup(id string) (m *machineInfo, machine key, node *nodeInfo) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if k, ok := ix.byProviderID[id]; ok {
		return ix.machines[k.namespace][k.name], k, nil
	}
	n, ok := ix.nodes[id]
	if !ok {
		return nil, key{}, nil
	}
	if !n.hasMachine {
		return nil, key{}, &n
	}
	return ix.machines[n.machine.namespace][n.machine.name], n.machine, &n
}

// machine returns cached Machine k, nil if there is none.
func (ix *index) machine(k key) *machineInfo {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.machines[k.namespace][k.name]
}

// setOf is the set whose Machine an instance id names (a providerID of a
// Machine or of a Node whose annotation names one, or a MachineID), ok
// false when no cached set has it.
func (ix *index) setOf(id string) (key, bool) {
	var k key
	if ns, name, ok := ParseMachineID(id); ok {
		k = key{ns, name}
	} else {
		_, mk, _ := ix.lookup(id)
		k = mk
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for sk, mm := range ix.members {
		if sk.namespace == k.namespace && mm[k.name] != nil {
			return sk, true
		}
	}
	return key{}, false
}
