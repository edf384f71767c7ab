package webhooks

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// Install creates or updates carve's webhook configurations so that they
// point at e and trust its CA bundle.
func Install(ctx context.Context, c client.Client, e Endpoint, releaseNamespace string) error {
	wantM, wantV := Configurations(e, releaseNamespace)

	m := wantM.DeepCopy()
	m.Webhooks = nil
	if _, err := controllerutil.CreateOrUpdate(ctx, c, m, func() error {
		m.Labels = wantM.Labels
		m.Webhooks = wantM.Webhooks
		return nil
	}); err != nil {
		return fmt.Errorf("installing MutatingWebhookConfiguration %s: %w", wantM.Name, err)
	}

	v := wantV.DeepCopy()
	v.Webhooks = nil
	if _, err := controllerutil.CreateOrUpdate(ctx, c, v, func() error {
		v.Labels = wantV.Labels
		v.Webhooks = wantV.Webhooks
		return nil
	}); err != nil {
		return fmt.Errorf("installing ValidatingWebhookConfiguration %s: %w", wantV.Name, err)
	}
	return nil
}
