package webhooks

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/podcontract"
)

// cacheLookup finds carve objects in an informer-backed reader. Admission
// reads never go to the apiserver: the pod webhook runs for every pod.
type cacheLookup struct {
	ctx context.Context
	r   client.Reader
}

var _ podcontract.Lookup = cacheLookup{}

func (l cacheLookup) Workspace(name string) (*carvev1.Workspace, bool) {
	w := &carvev1.Workspace{}
	return w, name != "" && l.r.Get(l.ctx, client.ObjectKey{Name: name}, w) == nil
}

func (l cacheLookup) Profile(name string) (*carvev1.ResourceProfile, bool) {
	p := &carvev1.ResourceProfile{}
	return p, name != "" && l.r.Get(l.ctx, client.ObjectKey{Name: name}, p) == nil
}

func (l cacheLookup) NodePool(name string) (*carvev1.NodePool, bool) {
	p := &carvev1.NodePool{}
	return p, name != "" && l.r.Get(l.ctx, client.ObjectKey{Name: name}, p) == nil
}

func (l cacheLookup) Namespace(name string) (*corev1.Namespace, bool) {
	ns := &corev1.Namespace{}
	return ns, name != "" && l.r.Get(l.ctx, client.ObjectKey{Name: name}, ns) == nil
}

func (l cacheLookup) PriorityClass(name string) (*schedulingv1.PriorityClass, bool) {
	pc := &schedulingv1.PriorityClass{}
	return pc, name != "" && l.r.Get(l.ctx, client.ObjectKey{Name: name}, pc) == nil
}

// GlobalDefaultPriorityClass scans the cached classes; clusters have a
// handful. Like the Priority admission plugin, it takes the one with the
// lowest value when several claim to be the default.
func (l cacheLookup) GlobalDefaultPriorityClass() (*schedulingv1.PriorityClass, bool) {
	var list schedulingv1.PriorityClassList
	// Read only: the cached objects need no copies.
	if err := l.r.List(l.ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, false
	}
	var found *schedulingv1.PriorityClass
	for i := range list.Items {
		if pc := &list.Items[i]; pc.GlobalDefault && (found == nil || pc.Value < found.Value) {
			found = pc
		}
	}
	return found, found != nil
}
