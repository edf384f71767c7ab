package webhooks

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/apis/carve/validation"
)

// Workspace validates Workspaces.
type Workspace struct {
	Reader client.Reader
}

var _ admission.Validator[*carvev1.Workspace] = &Workspace{}

func (w *Workspace) ValidateCreate(ctx context.Context, ws *carvev1.Workspace) (admission.Warnings, error) {
	return w.validate(ctx, ws)
}

func (w *Workspace) ValidateUpdate(ctx context.Context, _, ws *carvev1.Workspace) (admission.Warnings, error) {
	return w.validate(ctx, ws)
}

func (w *Workspace) validate(ctx context.Context, ws *carvev1.Workspace) (admission.Warnings, error) {
	if errs := validation.ValidateWorkspace(ws); len(errs) > 0 {
		return nil, apierrors.NewInvalid(carvev1.GroupVersion.WithKind("Workspace").GroupKind(), ws.Name, errs)
	}
	// Profiles may be applied after the workspace (kubectl apply -f dir):
	// warn, don't deny.
	var warnings admission.Warnings
	l := cacheLookup{ctx, w.Reader}
	for _, p := range ws.Spec.AllowedProfiles {
		if _, ok := l.Profile(p); !ok {
			warnings = append(warnings, fmt.Sprintf(
				"ResourceProfile %q does not exist yet: pods that pick it are refused until it does", p))
		}
	}
	return warnings, nil
}

func (w *Workspace) ValidateDelete(context.Context, *carvev1.Workspace) (admission.Warnings, error) {
	return nil, nil
}
