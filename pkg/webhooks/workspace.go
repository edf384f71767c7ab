package webhooks

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/apis/carve/validation"
)

// Workspace validates Workspaces.
type Workspace struct {
	// Reader serves lookups from a cache; Live reads the apiserver, for
	// the in-use check of a deletion.
	Reader, Live client.Reader
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

// ValidateDelete refuses to delete a workspace that namespaces still belong
// to: every new pod there would be refused (WorkspaceMissing).
func (w *Workspace) ValidateDelete(ctx context.Context, ws *carvev1.Workspace) (admission.Warnings, error) {
	var list corev1.NamespaceList
	if err := w.Live.List(ctx, &list, client.MatchingLabels{carvev1.LabelWorkspace: ws.Name}); err != nil {
		return nil, fmt.Errorf("listing the namespaces of workspace %q: %w", ws.Name, err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	names := make([]string, len(list.Items))
	for i := range list.Items {
		names[i] = list.Items[i].Name
	}
	return nil, fmt.Errorf("carve: WorkspaceInUse: namespaces %s still belong to workspace %q, and every new pod in them would be refused; remove their %s label (or delete them) first",
		strings.Join(names, ", "), ws.Name, carvev1.LabelWorkspace)
}
