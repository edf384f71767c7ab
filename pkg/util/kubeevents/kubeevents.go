// Package kubeevents starts the events.k8s.io recorder carve's components
// write their Events with.
package kubeevents

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
)

// Start writes Events through the events.k8s.io API until ctx ends and
// returns a recorder whose events name controller as their reporting
// controller. Events of cluster-scoped objects land in the namespace
// "default".
func Start(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, controller string) (events.EventRecorder, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the events client: %w", err)
	}
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: kube.EventsV1()})
	if err := b.StartRecordingToSinkWithContext(ctx); err != nil {
		return nil, fmt.Errorf("starting the event broadcaster: %w", err)
	}
	go func() {
		<-ctx.Done()
		b.Shutdown()
	}()
	return b.NewRecorder(scheme, controller), nil
}
