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
)

// NodePool validates NodePools.
type NodePool struct {
	// Reader serves lookups from a cache; Live reads the apiserver, for
	// the in-use check of a deletion.
	Reader, Live client.Reader
}

var _ admission.Validator[*carvev1.NodePool] = &NodePool{}

var nodePoolKind = carvev1.GroupVersion.WithKind("NodePool").GroupKind()

func (w *NodePool) ValidateCreate(_ context.Context, np *carvev1.NodePool) (admission.Warnings, error) {
	if errs := validation.ValidateNodePool(np); len(errs) > 0 {
		return nil, apierrors.NewInvalid(nodePoolKind, np.Name, errs)
	}
	return nil, nil
}

func (w *NodePool) ValidateUpdate(_ context.Context, oldPool, np *carvev1.NodePool) (admission.Warnings, error) {
	if errs := validation.ValidateNodePoolUpdate(oldPool, np); len(errs) > 0 {
		return nil, apierrors.NewInvalid(nodePoolKind, np.Name, errs)
	}
	return nil, nil
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
