package machineset

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
)

const (
	ns         = "machines"
	annDelete  = "example.io/delete-machine"
	annMachine = "example.io/machine"
)

var testKind = Kind{
	API:              "Test API",
	Set:              schema.GroupVersionKind{Group: "example.io", Version: "v1", Kind: "MachineSet"},
	Machine:          schema.GroupVersionKind{Group: "example.io", Version: "v1", Kind: "Machine"},
	DirectOwner:      true,
	DeleteAnnotation: annDelete,
	Ref:              func(p *carvev1.NodePool) *carvev1.MachineSetRef { return p.Spec.Platform.OpenShift },
	NodeMachine: func(a map[string]string) (string, string, bool) {
		n, m, ok := strings.Cut(a[annMachine], "/")
		return n, m, ok
	},
	Failure: func(obj map[string]any) *cloudprovider.InstanceError {
		if msg, _, _ := unstructured.NestedString(obj, "status", "errorMessage"); msg != "" {
			return &cloudprovider.InstanceError{Code: "Failed", Message: msg}
		}
		return nil
	},
}

func TestIDs(t *testing.T) {
	if got := MachineID("ns", "m-1"); got != "carve-machine://ns/m-1" {
		t.Errorf("MachineID = %q", got)
	}
	if got := PlaceholderID("ns", "set", 3); got != "carve-placeholder://ns/set/3" {
		t.Errorf("PlaceholderID = %q", got)
	}
	type machine struct {
		NS, Name string
		OK       bool
	}
	for id, want := range map[string]machine{
		"carve-machine://ns/m":   {"ns", "m", true},
		"carve-machine://ns/":    {},
		"carve-machine:///m":     {},
		"carve-machine://ns/m/x": {},
		"aws:///zone/i-1":        {},
	} {
		n, m, ok := ParseMachineID(id)
		if diff := cmp.Diff(want, machine{n, m, ok}); diff != "" {
			t.Errorf("ParseMachineID(%q) (-want +got):\n%s", id, diff)
		}
	}
	type placeholder struct {
		NS, Set string
		N       int32
		OK      bool
	}
	for id, want := range map[string]placeholder{
		"carve-placeholder://ns/set/1":   {"ns", "set", 1, true},
		"carve-placeholder://ns/set/0":   {},
		"carve-placeholder://ns/set/01":  {},
		"carve-placeholder://ns/set/-1":  {},
		"carve-placeholder://ns/set/x":   {},
		"carve-placeholder://ns/set":     {},
		"carve-placeholder://ns//1":      {},
		"carve-placeholder://ns/set/1/2": {},
	} {
		n, s, i, ok := ParsePlaceholderID(id)
		if diff := cmp.Diff(want, placeholder{n, s, i, ok}); diff != "" {
			t.Errorf("ParsePlaceholderID(%q) (-want +got):\n%s", id, diff)
		}
	}
	for id, want := range map[string]bool{
		"aws:///us-east-1a/i-1": true, "fake://ns/m": true, "openstack:///uuid": true,
		"i-0abc": false, "": false, "://x": false, "a/b://c": false, "kwok://": false,
	} {
		if got := looksLikeProviderID(id); got != want {
			t.Errorf("looksLikeProviderID(%q) = %v, want %v", id, got, want)
		}
	}
}

// fixture feeds an index as the informers would.
type fixture struct {
	ix  *index
	set *unstructured.Unstructured
}

func newFixture(replicas int64) *fixture {
	f := &fixture{ix: newIndex(&testKind)}
	f.set = &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.io/v1", "kind": "MachineSet",
		"metadata": map[string]any{"name": "set", "namespace": ns, "uid": "set-uid", "resourceVersion": "10"},
		"spec": map[string]any{
			"replicas": replicas,
			"selector": map[string]any{"matchLabels": map[string]any{"set": "set"}},
		},
	}}
	f.ix.moveSet(nil, f.set)
	return f
}

type machineOpt func(u *unstructured.Unstructured)

func providerID(id string) machineOpt {
	return func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, id, "spec", "providerID")
	}
}
func owner(uid string) machineOpt {
	return func(u *unstructured.Unstructured) {
		u.SetOwnerReferences([]metav1.OwnerReference{{Kind: "MachineSet", Name: "x", UID: types.UID(uid), Controller: new(true)}})
	}
}
func labelled(set string) machineOpt {
	return func(u *unstructured.Unstructured) { u.SetLabels(map[string]string{"set": set}) }
}
func annotated(u *unstructured.Unstructured) { u.SetAnnotations(map[string]string{annDelete: "now"}) }
func deleting(u *unstructured.Unstructured) {
	now := metav1.Now()
	u.SetDeletionTimestamp(&now)
}
func failed(msg string) machineOpt {
	return func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, msg, "status", "errorMessage")
	}
}

func (f *fixture) machine(name string, opts ...machineOpt) {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.io/v1", "kind": "Machine"}}
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetUID(types.UID(name + "-uid"))
	labelled("set")(u)
	owner("set-uid")(u)
	for _, o := range opts {
		o(u)
	}
	f.ix.moveMachine(nil, u)
}

func (f *fixture) node(name, providerID, machine string) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{ProviderID: providerID}}
	if machine != "" {
		n.Annotations = map[string]string{annMachine: machine}
	}
	f.ix.moveNode(nil, n)
}

type inst struct {
	ID    string
	State string
	Err   string
}

func (f *fixture) see(target int32, marked ...string) ([]inst, *view) {
	m := map[string]time.Time{}
	for _, name := range marked {
		m[name] = time.Now()
	}
	v := f.ix.see(f.ix.set(key{ns, "set"}), target, m)
	var out []inst
	for _, in := range v.instances() {
		i := inst{ID: in.ID, State: in.State.String()}
		if in.Error != nil {
			i.Err = in.Error.Message
		}
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b inst) int { return strings.Compare(a.ID, b.ID) })
	return out, v
}

func TestSee(t *testing.T) {
	tests := []struct {
		name   string
		build  func(f *fixture)
		target int32
		marked []string
		want   []inst
	}{{
		name:   "no Machines yet: placeholders for the replicas",
		build:  func(f *fixture) {},
		target: 2,
		want: []inst{
			{ID: "carve-placeholder://machines/set/1", State: "creating"},
			{ID: "carve-placeholder://machines/set/2", State: "creating"},
		},
	}, {
		name: "Node by providerID or by annotation is running; no Node or no providerID is creating",
		build: func(f *fixture) {
			f.machine("a", providerID("fake://a"))
			f.node("node-a", "fake://a", "")
			f.machine("b")                         // no providerID, Node named by annotation without one
			f.node("node-b", "", ns+"/b")          //
			f.machine("c", providerID("fake://c")) // no Node
			f.machine("d")                         // nothing yet
			f.machine("e")
			f.node("node-e", "fake://e-node", ns+"/e") // the Node's providerID wins
		},
		target: 5,
		want: []inst{
			{ID: "carve-machine://machines/b", State: "creating"},
			{ID: "carve-machine://machines/d", State: "creating"},
			{ID: "fake://a", State: "running"},
			{ID: "fake://c", State: "creating"},
			{ID: "fake://e-node", State: "running"},
		},
	}, {
		name: "not the set's: another selector, another controller, another namespace",
		build: func(f *fixture) {
			f.machine("mine", providerID("fake://mine"))
			f.machine("other-labels", labelled("other"))
			f.machine("other-owner", owner("someone-else"))
			f.machine("orphan", func(u *unstructured.Unstructured) { u.SetOwnerReferences(nil) })
			u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.io/v1", "kind": "Machine"}}
			u.SetNamespace("elsewhere")
			u.SetName("far")
			u.SetLabels(map[string]string{"set": "set"})
			f.ix.moveMachine(nil, u)
		},
		target: 2,
		want: []inst{
			{ID: "carve-machine://machines/orphan", State: "creating"},
			{ID: "fake://mine", State: "creating"},
		},
	}, {
		name: "deleting, marked, and failed Machines",
		build: func(f *fixture) {
			f.machine("gone", providerID("fake://gone"), deleting)
			f.machine("marked", providerID("fake://marked"))
			f.node("marked", "fake://marked", "")
			f.machine("broken", failed("no capacity"))
		},
		target: 2,
		marked: []string{"marked"},
		want: []inst{
			{ID: "carve-machine://machines/broken", State: "creating", Err: "no capacity"},
			{ID: "carve-placeholder://machines/set/2", State: "creating"},
			{ID: "fake://gone", State: "deleting"},
			{ID: "fake://marked", State: "deleting"},
		},
	}, {
		name: "annotated Machines above the replicas are deleting; no more than the excess",
		build: func(f *fixture) {
			for _, n := range []string{"a", "b", "c"} {
				f.machine(n, providerID("fake://"+n), annotated)
				f.node(n, "fake://"+n, "")
			}
			f.machine("d", providerID("fake://d"))
			f.node("d", "fake://d", "")
		},
		target: 2,
		want: []inst{
			{ID: "fake://a", State: "deleting"},
			{ID: "fake://b", State: "deleting"},
			{ID: "fake://c", State: "running"},
			{ID: "fake://d", State: "running"},
		},
	}, {
		name: "an annotated Machine within the replicas is not deleting",
		build: func(f *fixture) {
			f.machine("a", providerID("fake://a"), annotated)
			f.node("a", "fake://a", "")
		},
		target: 1,
		want:   []inst{{ID: "fake://a", State: "running"}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(int64(tc.target))
			tc.build(f)
			got, _ := f.see(tc.target, tc.marked...)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("instances (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPoolForProviderID(t *testing.T) {
	f := newFixture(2)
	f.machine("a", providerID("fake://a"))
	f.machine("b")
	f.node("node-b", "fake://node-b", ns+"/b")
	f.machine("stranger", providerID("fake://stranger"), labelled("other"))
	p := &Platform{kind: testKind, idx: f.ix, pools: map[key]string{{ns, "set"}: "pool"}}
	for id, want := range map[string]string{"fake://a": "pool", "fake://node-b": "pool", MachineID(ns, "b"): "pool", "fake://stranger": "", "fake://none": "", "x": ""} {
		got, ok := p.PoolForProviderID(id)
		if got != want || ok != (want != "") {
			t.Errorf("PoolForProviderID(%q) = %q, %v; want %q", id, got, ok, want)
		}
	}
}

func TestEmptySelectorSelectsNothing(t *testing.T) {
	f := newFixture(1)
	unstructured.RemoveNestedField(f.set.Object, "spec", "selector")
	f.ix.moveSet(nil, f.set)
	f.machine("a", providerID("fake://a"))
	got, _ := f.see(1)
	want := []inst{{ID: "carve-placeholder://machines/set/1", State: "creating"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("a set without a selector claimed Machines (-want +got):\n%s", diff)
	}
}

func TestIndexForgetsChangedAndDeletedObjects(t *testing.T) {
	f := newFixture(1)
	f.machine("a", providerID("fake://old"))
	old := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "a", "namespace": ns}}}
	u := old.DeepCopy()
	_ = unstructured.SetNestedField(u.Object, "fake://new", "spec", "providerID")
	u.SetLabels(map[string]string{"set": "set"})
	f.ix.moveMachine(old, u)
	if _, k, _ := f.ix.lookup("fake://old"); k != (key{}) {
		t.Errorf("the old providerID still names %v", k)
	}
	if _, k, _ := f.ix.lookup("fake://new"); k != (key{ns, "a"}) {
		t.Errorf("the new providerID names %v, want machines/a", k)
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Annotations: map[string]string{annMachine: ns + "/a"}}, Spec: corev1.NodeSpec{ProviderID: "fake://new"}}
	f.ix.moveNode(nil, n)
	f.ix.moveNode(n, nil)
	if len(f.ix.nodes) != 0 || len(f.ix.nodeOf) != 0 {
		t.Errorf("a deleted Node is still indexed: %v %v", f.ix.nodes, f.ix.nodeOf)
	}
	f.ix.moveMachine(u, nil)
	if len(f.ix.machines) != 0 || len(f.ix.byProviderID) != 0 {
		t.Errorf("a deleted Machine is still indexed: %v %v", f.ix.machines, f.ix.byProviderID)
	}
}

func TestMembersFollowSelectorsAndLabels(t *testing.T) {
	f := newFixture(2)
	f.machine("a", providerID("fake://a"))
	f.machine("b", providerID("fake://b"), labelled("blue"))
	ids := func() []string {
		got, _ := f.see(2)
		var out []string
		for _, in := range got {
			out = append(out, in.ID)
		}
		return out
	}
	if got, want := ids(), []string{"carve-placeholder://machines/set/2", "fake://a"}; !slices.Equal(got, want) {
		t.Errorf("members %v, want %v", got, want)
	}
	// A status update keeps the members; a new selector tests them again.
	old := f.set.DeepCopy()
	_ = unstructured.SetNestedField(f.set.Object, int64(3), "status", "replicas")
	f.ix.moveSet(old, f.set)
	old = f.set.DeepCopy()
	_ = unstructured.SetNestedStringMap(f.set.Object, map[string]string{"set": "blue"}, "spec", "selector", "matchLabels")
	f.ix.moveSet(old, f.set)
	if got, want := ids(), []string{"carve-placeholder://machines/set/2", "fake://b"}; !slices.Equal(got, want) {
		t.Errorf("members after the selector changed %v, want %v", got, want)
	}
	// A Machine relabelled joins (here by an add, as a relist gives it);
	// one deleted leaves.
	f.machine("a", providerID("fake://a"), labelled("blue"))
	if got, want := ids(), []string{"fake://a", "fake://b"}; !slices.Equal(got, want) {
		t.Errorf("members after relabelling %v, want %v", got, want)
	}
	f.ix.moveMachine(&unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "b", "namespace": ns}}}, nil)
	if got, want := ids(), []string{"carve-placeholder://machines/set/2", "fake://a"}; !slices.Equal(got, want) {
		t.Errorf("members after a deletion %v, want %v", got, want)
	}
	f.machine("a", providerID("fake://a"), labelled("red"))
	if got, want := ids(), []string{"carve-placeholder://machines/set/1", "carve-placeholder://machines/set/2"}; !slices.Equal(got, want) {
		t.Errorf("members after relabelling away %v, want %v", got, want)
	}
	// The set deleted: its Machines are nobody's.
	f.ix.moveSet(f.set, nil)
	if len(f.ix.members) != 0 {
		t.Errorf("a deleted set keeps members %v", f.ix.members)
	}
}

func TestPlan(t *testing.T) {
	f := newFixture(4)
	f.machine("a", providerID("fake://a"))
	f.node("a", "fake://a", "")
	f.machine("b") // no providerID yet
	f.machine("going", providerID("fake://going"), deleting)
	f.node("claimed", "fake://claimed", ns+"/b")
	f.node("stray", "fake://stray", "")
	other := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.io/v1", "kind": "Machine"}}
	other.SetNamespace(ns)
	other.SetName("theirs")
	other.SetLabels(map[string]string{"set": "other"})
	_ = unstructured.SetNestedField(other.Object, "fake://theirs", "spec", "providerID")
	f.ix.moveMachine(nil, other)
	p := &Platform{kind: testKind, idx: f.ix}
	pool := &carvev1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "pool"}}
	_, v := f.see(4) // Machines a and b back replicas 1 and 2; 3 and 4 are placeholders

	plan := func(ids ...string) ([]string, int32, error) {
		d, err := p.plan(pool, v, ids)
		if err != nil {
			return nil, 0, err
		}
		var names []string
		for _, m := range d.machines {
			names = append(names, m.name)
		}
		return names, d.placeholders, nil
	}
	for _, tc := range []struct {
		ids          []string
		machines     []string
		placeholders int32
	}{
		{ids: []string{"fake://a"}, machines: []string{"a"}},
		{ids: []string{"fake://claimed"}, machines: []string{"b"}}, // by the Node's annotation
		{ids: []string{MachineID(ns, "b"), "fake://claimed"}, machines: []string{"b"}},
		{ids: []string{"fake://going", "fake://long-gone", MachineID(ns, "vanished")}},
		{ids: []string{PlaceholderID(ns, "set", 3), PlaceholderID(ns, "set", 4), PlaceholderID(ns, "set", 4)}, placeholders: 2},
		// Replica 2 is backed by Machine b, replica 5 is above the target.
		{ids: []string{PlaceholderID(ns, "set", 2), PlaceholderID(ns, "set", 5)}},
	} {
		machines, placeholders, err := plan(tc.ids...)
		if err != nil || !slices.Equal(machines, tc.machines) || placeholders != tc.placeholders {
			t.Errorf("plan(%v) = %v, %d, %v; want %v, %d", tc.ids, machines, placeholders, err, tc.machines, tc.placeholders)
		}
	}
	for _, id := range []string{"fake://theirs", "fake://stray", "i-0abc", PlaceholderID(ns, "other", 1), PlaceholderID("elsewhere", "set", 3), MachineID(ns, "theirs"), MachineID("elsewhere", "a")} {
		// The valid first id must not be acted on: the call fails whole.
		if _, _, err := plan("fake://a", id); !errors.Is(err, cloudprovider.ErrInvalid) {
			t.Errorf("plan(%q) = %v, want ErrInvalid", id, err)
		}
	}
}

func TestTemplateAnnotationDifferences(t *testing.T) {
	pool := &carvev1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "gpu"}, Spec: carvev1.NodePoolSpec{
		Role: carvev1.NodePoolRoleGPU,
		Template: carvev1.NodeTemplate{
			Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), "nvidia.com/gpu": resource.MustParse("1")},
			Labels:   map[string]string{"nvidia.com/gpu.product": "T4"},
			Taints:   []corev1.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}},
		},
	}}
	tests := []struct {
		name string
		ann  map[string]string
		want []string
	}{
		{name: "nothing said", ann: nil},
		{name: "all agree", ann: map[string]string{
			AnnotationCPU: "8", AnnotationMemory: "32Gi", AnnotationGPUType: "nvidia.com/gpu", AnnotationGPUCount: "1", AnnotationMaxPods: "110",
			AnnotationLabels: "nvidia.com/gpu.product=T4,carve.dev/node-pool=gpu,carve.dev/accelerator=T4",
			AnnotationTaints: "nvidia.com/gpu=present:NoSchedule",
		}},
		{name: "equal quantities written differently agree", ann: map[string]string{AnnotationMemory: "34359738368", AnnotationCPU: "8000m"}},
		{name: "every kind of difference", ann: map[string]string{
			AnnotationCPU: "4", AnnotationMemory: "32G", AnnotationGPUCount: "2", AnnotationMaxPods: "250",
			AnnotationLabels: "nvidia.com/gpu.product=A100,zone=a",
			AnnotationTaints: "nvidia.com/gpu=yes:NoSchedule,dedicated=ml:NoExecute",
		}, want: []string{
			"cpu: the MachineSet says 4, the template 8",
			"memory: the MachineSet says 32G, the template 32Gi",
			"GPUs (nvidia.com/gpu): the MachineSet says 2, the template 1",
			"maxPods: the MachineSet says 250, the template 110",
			`label nvidia.com/gpu.product: the MachineSet says "A100", the template "T4"`,
			`label zone: the MachineSet says "a", the template has none`,
			`taint nvidia.com/gpu:NoSchedule: the MachineSet's value is "yes", the template's "present"`,
			"taint dedicated=ml:NoExecute: the MachineSet has it, the template does not",
		}},
		{name: "a template taint the annotation lacks", ann: map[string]string{AnnotationTaints: ""},
			want: []string{"taint nvidia.com/gpu=present:NoSchedule: the template has it, the MachineSet does not"}},
		{name: "a GPU type the template lacks", ann: map[string]string{AnnotationGPUType: "amd.com/gpu", AnnotationGPUCount: "1"},
			want: []string{"GPUs (amd.com/gpu): the MachineSet says 1, the template 0"}},
		{name: "unparsable values", ann: map[string]string{AnnotationCPU: "lots", AnnotationLabels: "novalue", AnnotationTaints: "k=v:Sometimes,nvidia.com/gpu=present:NoSchedule"},
			want: []string{
				`annotation capacity.cluster-autoscaler.kubernetes.io/cpu: "lots" is not a quantity`,
				`annotation capacity.cluster-autoscaler.kubernetes.io/labels: "novalue" is not key=value`,
				`annotation capacity.cluster-autoscaler.kubernetes.io/taints: "k=v:Sometimes" is not key=value:Effect`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := TemplateAnnotationDifferences("MachineSet", tc.ann, pool)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	gr := schema.GroupResource{Group: "example.io", Resource: "machinesets"}
	tests := []struct {
		err   error
		kind  error
		retry bool
	}{
		{apierrors.NewConflict(gr, "x", errors.New("the object has been modified")), cloudprovider.ErrTransient, true},
		{apierrors.NewTooManyRequests("slow down", 2), cloudprovider.ErrTransient, true},
		{apierrors.NewInternalError(errors.New("etcd")), cloudprovider.ErrTransient, true},
		{apierrors.NewServiceUnavailable("later"), cloudprovider.ErrTransient, true},
		{apierrors.NewTimeoutError("slow", 1), cloudprovider.ErrTransient, true},
		{apierrors.NewNotFound(gr, "x"), cloudprovider.ErrNotFound, false},
		{&meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "example.io", Kind: "MachineSet"}}, cloudprovider.ErrNotFound, false},
		{apierrors.NewInvalid(schema.GroupKind{Group: "example.io", Kind: "MachineSet"}, "x", nil), cloudprovider.ErrInvalid, false},
		{apierrors.NewBadRequest("no"), cloudprovider.ErrInvalid, false},
		{apierrors.NewForbidden(gr, "x", errors.New("exceeded quota: compute")), cloudprovider.ErrQuotaExceeded, false},
		{apierrors.NewForbidden(gr, "x", errors.New("RBAC: no")), nil, false},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, cloudprovider.ErrTransient, true},
		{errors.New("odd"), nil, false},
	}
	for _, tc := range tests {
		v := Classify(tc.err)
		if v.Kind != tc.kind || v.Retry != tc.retry {
			t.Errorf("Classify(%v) = %+v, want kind %v retry %v", tc.err, v, tc.kind, tc.retry)
		}
	}
	if v := Classify(apierrors.NewTooManyRequests("slow down", 3)); v.RetryAfter != 3*time.Second {
		t.Errorf("Classify(429 with Retry-After 3) waits %v, want 3s", v.RetryAfter)
	}
}

func TestRefusedError(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &RefusedError{Reason: "Owned", Message: "owned by X"})
	if !errors.Is(err, cloudprovider.ErrRefused) || cloudprovider.Code(err).String() != "FailedPrecondition" {
		t.Errorf("RefusedError is not an ErrRefused: %v %v", err, cloudprovider.Code(err))
	}
	if r := AsRefused(err); r == nil || r.Reason != "Owned" {
		t.Errorf("AsRefused = %v", r)
	}
}

// BenchmarkInstances measures the autoscaler's per-loop call for a pool of
// 1 000 running Machines in a namespace of 5 000 (the other sets' Machines
// are tested against the selector and skipped).
func BenchmarkInstances(b *testing.B) {
	f := newFixture(1000)
	for i := range 5000 {
		name := fmt.Sprintf("m-%d", i)
		opts := []machineOpt{providerID("fake://" + name)}
		if i >= 1000 {
			opts = append(opts, labelled(fmt.Sprintf("other-%d", i%4)), owner("other"))
		}
		f.machine(name, opts...)
		f.node(name, "fake://"+name, "")
	}
	p := &Platform{kind: testKind, idx: f.ix, records: map[key]*record{}, now: time.Now}
	s := f.ix.set(key{ns, "set"})
	b.ReportAllocs()
	for b.Loop() {
		if ins := p.view(s).instances(); len(ins) != 1000 {
			b.Fatalf("%d instances", len(ins))
		}
	}
}
