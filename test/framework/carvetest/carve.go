package carvetest

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/carve-dev/carve/pkg/controller"
	"github.com/carve-dev/carve/test/framework"
)

// StartCarve installs carve's CRDs on the cluster, creates namespace (carve's
// own) and runs carve-controller (StartController, its options changed by
// editController) and carve-scheduler with the shipped configuration
// (StartScheduler, changed by editScheduler; either edit may be nil), both
// until ctx ends. It returns a client with carve's kinds.
func StartCarve(ctx context.Context, c *framework.Cluster, namespace string, editController func(*controller.Options), editScheduler func(map[string]any)) (client.Client, error) {
	cl, err := client.New(c.Config, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		return nil, err
	}
	if err := InstallCRDs(ctx, c.Config); err != nil {
		return nil, err
	}
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", namespace, err)
	}
	var edits []func(*controller.Options)
	if editController != nil {
		edits = append(edits, editController)
	}
	if _, err := StartController(ctx, c.Config, namespace, controller.PodLevelAuto, edits...); err != nil {
		return nil, err
	}
	config, err := ShippedSchedulerConfig()
	if err != nil {
		return nil, err
	}
	stop, err := StartScheduler(ctx, c.Dir, c.Kubeconfig, config, editScheduler)
	if err != nil {
		return nil, err
	}
	go func() { <-ctx.Done(); stop() }()
	return cl, nil
}
