package webhooks_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carve-dev/carve/pkg/webhooks"
)

// The pod webhooks must never see system namespaces or carve's own: with
// failurePolicy Fail, a broken carve would otherwise lock the cluster out.
func TestPodWebhooksSeeOnlyWorkspaceNamespaces(t *testing.T) {
	m, v := webhooks.Configurations(webhooks.Endpoint{URL: "https://127.0.0.1:9443"}, "carve-system")
	want := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "carve.dev/workspace", Operator: metav1.LabelSelectorOpExists},
		{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn,
			Values: []string{"kube-system", "kube-public", "kube-node-lease", "carve-system"}},
	}}
	if diff := cmp.Diff(want, m.Webhooks[0].NamespaceSelector); diff != "" {
		t.Errorf("mutating namespaceSelector (-want +got):\n%s", diff)
	}
	if got := *m.Webhooks[0].ReinvocationPolicy; got != admissionregistrationv1.IfNeededReinvocationPolicy {
		t.Errorf("reinvocationPolicy = %s, want IfNeeded (sidecar injectors run after carve)", got)
	}
	for _, w := range v.Webhooks {
		if *w.FailurePolicy != admissionregistrationv1.Fail {
			t.Errorf("%s: failurePolicy %s, want Fail (enforcement must not be skipped)", w.Name, *w.FailurePolicy)
		}
		if w.Name == "pods.carve.dev" {
			if diff := cmp.Diff(want, w.NamespaceSelector); diff != "" {
				t.Errorf("validating pod namespaceSelector (-want +got):\n%s", diff)
			}
			var resources []string
			for _, r := range w.Rules {
				resources = append(resources, r.Resources...)
			}
			if diff := cmp.Diff([]string{"pods", "pods/ephemeralcontainers", "pods/resize"}, resources); diff != "" {
				t.Errorf("validating pod resources (-want +got):\n%s", diff)
			}
		}
		if w.Name == "pod-status.carve.dev" {
			if diff := cmp.Diff(want, w.NamespaceSelector); diff != "" {
				t.Errorf("pod status namespaceSelector (-want +got):\n%s", diff)
			}
			if len(w.Rules) != 1 || w.Rules[0].Resources[0] != "pods/status" || len(w.MatchConditions) != 1 {
				t.Errorf("pod status webhook: rules %+v, match conditions %+v; want pods/status, narrowed to label and annotation changes", w.Rules, w.MatchConditions)
			}
		}
	}
	if got := *m.Webhooks[0].ClientConfig.URL; got != "https://127.0.0.1:9443/mutate-pod" {
		t.Errorf("mutating URL = %s", got)
	}
}

func TestServiceEndpoint(t *testing.T) {
	m, _ := webhooks.Configurations(webhooks.Endpoint{ServiceNamespace: "carve-system", ServiceName: "carve-webhook", CABundle: []byte("ca")}, "carve-system")
	svc := m.Webhooks[0].ClientConfig.Service
	if svc == nil || svc.Namespace != "carve-system" || svc.Name != "carve-webhook" || *svc.Port != 443 || *svc.Path != webhooks.PathPodMutate {
		t.Errorf("service reference = %+v", svc)
	}
	if string(m.Webhooks[0].ClientConfig.CABundle) != "ca" {
		t.Errorf("CA bundle not carried")
	}
}

// The admission policies cover exactly the namespaces the webhooks do not
// see, minus the control plane's and carve's own, and the label policy
// denies while the scheduler one only warns.
func TestPoliciesCoverNamespacesOutsideWorkspaces(t *testing.T) {
	policies, bindings := webhooks.Policies("carve-system")
	want := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "carve.dev/workspace", Operator: metav1.LabelSelectorOpDoesNotExist},
		{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn,
			Values: []string{"kube-system", "kube-public", "kube-node-lease", "carve-system"}},
	}}
	if len(policies) != 2 || len(bindings) != 2 {
		t.Fatalf("%d policies and %d bindings, want 2 and 2", len(policies), len(bindings))
	}
	actions := map[string]admissionregistrationv1.ValidationAction{}
	for i, p := range policies {
		if diff := cmp.Diff(want, p.Spec.MatchConstraints.NamespaceSelector); diff != "" {
			t.Errorf("%s namespaceSelector (-want +got):\n%s", p.Name, diff)
		}
		if b := bindings[i]; b.Name != p.Name || b.Spec.PolicyName != p.Name || len(b.Spec.ValidationActions) != 1 {
			t.Errorf("binding %s for policy %s: %+v", b.Name, p.Name, b.Spec)
		} else {
			actions[p.Name] = b.Spec.ValidationActions[0]
		}
	}
	if diff := cmp.Diff(map[string]admissionregistrationv1.ValidationAction{
		webhooks.PolicyLabels: admissionregistrationv1.Deny, webhooks.PolicySchedulerOutsideWorkspaces: admissionregistrationv1.Warn,
	}, actions); diff != "" {
		t.Errorf("validation actions (-want +got):\n%s", diff)
	}
}
