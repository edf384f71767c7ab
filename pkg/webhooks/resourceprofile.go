package webhooks

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/apis/carve/validation"
	"github.com/carve-dev/carve/pkg/podcontract"
)

// ResourceProfile validates ResourceProfiles.
type ResourceProfile struct {
	// Reader serves lookups from a cache; Live reads the apiserver, for
	// the in-use check of a deletion.
	Reader, Live client.Reader
}

var _ admission.Validator[*carvev1.ResourceProfile] = &ResourceProfile{}

func (w *ResourceProfile) ValidateCreate(ctx context.Context, p *carvev1.ResourceProfile) (admission.Warnings, error) {
	return w.validate(ctx, p)
}

func (w *ResourceProfile) ValidateUpdate(ctx context.Context, _, p *carvev1.ResourceProfile) (admission.Warnings, error) {
	return w.validate(ctx, p)
}

func (w *ResourceProfile) validate(ctx context.Context, p *carvev1.ResourceProfile) (admission.Warnings, error) {
	if errs := validation.ValidateResourceProfile(p); len(errs) > 0 {
		return nil, apierrors.NewInvalid(carvev1.GroupVersion.WithKind("ResourceProfile").GroupKind(), p.Name, errs)
	}
	// A pool may be created after the profiles that use it: warn, don't deny.
	var warnings admission.Warnings
	l := cacheLookup{ctx, w.Reader}
	var pools []*carvev1.NodePool
	for _, pool := range p.Spec.NodePools {
		np, ok := l.NodePool(pool)
		if !ok {
			warnings = append(warnings, fmt.Sprintf(
				"NodePool %q does not exist yet: pods of profile %q are refused until it does", pool, p.Name))
			continue
		}
		pools = append(pools, np)
	}
	return append(warnings, podcontract.UnfitPools(p, pools)...), nil
}

// ValidateDelete refuses to delete a profile that a workspace still allows:
// its pods would be refused from then on.
func (w *ResourceProfile) ValidateDelete(ctx context.Context, p *carvev1.ResourceProfile) (admission.Warnings, error) {
	var list carvev1.WorkspaceList
	if err := w.Live.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing workspaces that may use profile %q: %w", p.Name, err)
	}
	var users []string
	for i := range list.Items {
		if list.Items[i].Allows(p.Name) {
			users = append(users, list.Items[i].Name)
		}
	}
	if len(users) > 0 {
		return nil, fmt.Errorf("carve: ProfileInUse: ResourceProfile %q is allowed by workspace %s; remove it from their allowedProfiles (and defaultProfile) first",
			p.Name, strings.Join(users, ", "))
	}
	return nil, nil
}
