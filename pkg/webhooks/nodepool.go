package webhooks

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/apis/carve/validation"
	"github.com/carve-dev/carve/pkg/podcontract"
)

// NodePool validates NodePools.
type NodePool struct {
	// Reader serves lookups from a cache; Live reads the apiserver, for
	// the in-use check of a deletion.
	Reader, Live client.Reader
}

var _ admission.Validator[*carvev1.NodePool] = &NodePool{}

var nodePoolKind = carvev1.GroupVersion.WithKind("NodePool").GroupKind()

func (w *NodePool) ValidateCreate(ctx context.Context, np *carvev1.NodePool) (admission.Warnings, error) {
	if errs := validation.ValidateNodePool(np); len(errs) > 0 {
		return nil, apierrors.NewInvalid(nodePoolKind, np.Name, errs)
	}
	return w.unfitProfiles(ctx, np), nil
}

func (w *NodePool) ValidateUpdate(ctx context.Context, oldPool, np *carvev1.NodePool) (admission.Warnings, error) {
	if errs := validation.ValidateNodePoolUpdate(oldPool, np); len(errs) > 0 {
		return nil, apierrors.NewInvalid(nodePoolKind, np.Name, errs)
	}
	return w.unfitProfiles(ctx, np), nil
}

// unfitProfiles warns about the profiles that run on the pool and that its
// nodes, as the template describes them, cannot hold: their pods would wait
// forever. A warning, not a denial: the admin may be resizing the pool and
// its profiles one after the other.
func (w *NodePool) unfitProfiles(ctx context.Context, np *carvev1.NodePool) admission.Warnings {
	var list carvev1.ResourceProfileList
	if w.Reader == nil || w.Reader.List(ctx, &list) != nil {
		return nil
	}
	var warnings admission.Warnings
	for i := range list.Items {
		if p := &list.Items[i]; slices.Contains(p.Spec.NodePools, np.Name) {
			warnings = append(warnings, podcontract.UnfitPools(p, []*carvev1.NodePool{np})...)
		}
	}
	return warnings
}

// ValidateDelete refuses to delete a pool that a profile still runs on.
func (w *NodePool) ValidateDelete(ctx context.Context, np *carvev1.NodePool) (admission.Warnings, error) {
	var list carvev1.ResourceProfileList
	if err := w.Live.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing profiles that may run on node pool %q: %w", np.Name, err)
	}
	var users []string
	for i := range list.Items {
		if slices.Contains(list.Items[i].Spec.NodePools, np.Name) {
			users = append(users, list.Items[i].Name)
		}
	}
	if len(users) > 0 {
		return nil, fmt.Errorf("carve: NodePoolInUse: NodePool %q is used by ResourceProfile %s; remove it from their nodePools first",
			np.Name, strings.Join(users, ", "))
	}
	return nil, nil
}
