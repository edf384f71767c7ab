package webhooks

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// ConfigurationName names both of carve's webhook configurations.
const ConfigurationName = "carve"

// Paths the webhooks are served at.
const (
	PathPodMutate         = "/mutate-pod"
	PathPodValidate       = "/validate-pod"
	PathProfileValidate   = "/validate-resourceprofile"
	PathWorkspaceValidate = "/validate-workspace"
	PathNodePoolValidate  = "/validate-nodepool"
)

// Endpoint says how the apiserver reaches the webhook server: through a
// Service in the cluster, or a URL (local runs and tests).
type Endpoint struct {
	// Service is namespace/name of the webhook Service, port 443.
	ServiceNamespace, ServiceName string
	// URL is the base URL, e.g. https://127.0.0.1:9443, used when set.
	URL string
	// CABundle is the PEM CA the apiserver trusts the server's cert with.
	CABundle []byte
}

func (e Endpoint) client(path string) admissionregistrationv1.WebhookClientConfig {
	c := admissionregistrationv1.WebhookClientConfig{CABundle: e.CABundle}
	if e.URL != "" {
		c.URL = ptr.To(e.URL + path)
	} else {
		c.Service = &admissionregistrationv1.ServiceReference{
			Namespace: e.ServiceNamespace, Name: e.ServiceName, Path: ptr.To(path), Port: ptr.To[int32](443),
		}
	}
	return c
}

// Configurations builds carve's webhook configurations. The pod webhooks see
// only namespaces labelled carve.dev/workspace, and never kube-system, the
// other kube-* namespaces or carve's own namespace (releaseNamespace): a
// broken carve can then never lock the control plane out.
func Configurations(e Endpoint, releaseNamespace string) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	workspaces := namespaces(metav1.LabelSelectorOpExists, releaseNamespace)
	none := ptr.To(admissionregistrationv1.SideEffectClassNone)
	fail := ptr.To(admissionregistrationv1.Fail)
	equivalent := ptr.To(admissionregistrationv1.Equivalent)
	v1 := []string{"v1"}
	rule := func(group, resource string, ops ...admissionregistrationv1.OperationType) admissionregistrationv1.RuleWithOperations {
		version := "v1"
		if group == carvev1.GroupVersion.Group {
			version = carvev1.GroupVersion.Version
		}
		return admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{group}, APIVersions: []string{version}, Resources: []string{resource},
			Scope: ptr.To(admissionregistrationv1.AllScopes),
		}}
	}
	create, update, del := admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete

	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: ConfigurationName, Labels: map[string]string{"app.kubernetes.io/name": "carve"}},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pods.carve.dev",
			ClientConfig:            e.client(PathPodMutate),
			Rules:                   []admissionregistrationv1.RuleWithOperations{rule("", "pods", create)},
			NamespaceSelector:       workspaces,
			FailurePolicy:           fail,
			MatchPolicy:             equivalent,
			SideEffects:             none,
			AdmissionReviewVersions: v1,
			TimeoutSeconds:          ptr.To[int32](5),
			// Webhooks that run after carve (sidecar injectors) may add
			// containers: carve runs again so their resources count too.
			ReinvocationPolicy: ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
		}},
	}
	validatingWebhook := func(name, path string, selector *metav1.LabelSelector, rules ...admissionregistrationv1.RuleWithOperations) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{
			Name:                    name,
			ClientConfig:            e.client(path),
			Rules:                   rules,
			NamespaceSelector:       selector,
			FailurePolicy:           fail,
			MatchPolicy:             equivalent,
			SideEffects:             none,
			AdmissionReviewVersions: v1,
			TimeoutSeconds:          ptr.To[int32](5),
		}
	}
	group := carvev1.GroupVersion.Group
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: ConfigurationName, Labels: map[string]string{"app.kubernetes.io/name": "carve"}},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			validatingWebhook("pods.carve.dev", PathPodValidate, workspaces,
				rule("", "pods", create, update),
				rule("", "pods/ephemeralcontainers", update),
				rule("", "pods/resize", update)),
			podStatusWebhook(validatingWebhook("pod-status.carve.dev", PathPodValidate, workspaces,
				rule("", "pods/status", update))),
			// carve's own kinds are cluster-scoped: no namespace selector.
			validatingWebhook("resourceprofiles.carve.dev", PathProfileValidate, nil, rule(group, "resourceprofiles", create, update, del)),
			validatingWebhook("workspaces.carve.dev", PathWorkspaceValidate, nil, rule(group, "workspaces", create, update, del)),
			validatingWebhook("nodepools.carve.dev", PathNodePoolValidate, nil, rule(group, "nodepools", create, update, del)),
		},
	}
	return mutating, validating
}

// namespaces selects the namespaces with (op Exists) or without (op
// DoesNotExist) the carve.dev/workspace label, never kube-system, the other
// kube-* namespaces or carve's own (releaseNamespace).
func namespaces(op metav1.LabelSelectorOperator, releaseNamespace string) *metav1.LabelSelector {
	excluded := []string{metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}
	if releaseNamespace != "" {
		excluded = append(excluded, releaseNamespace)
	}
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: carvev1.LabelWorkspace, Operator: op},
		{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: excluded},
	}}
}

// podStatusWebhook narrows a webhook on pods/status to the updates that
// change labels or annotations, which the status subresource lets through
// (a session's safe-to-evict, carve's labels). Kubelets write pod status
// all the time and never change those, so they never wait on carve.
func podStatusWebhook(w admissionregistrationv1.ValidatingWebhook) admissionregistrationv1.ValidatingWebhook {
	w.MatchConditions = []admissionregistrationv1.MatchCondition{{
		Name: "labels-or-annotations-change",
		Expression: "(has(object.metadata.labels) ? object.metadata.labels : {}) != (has(oldObject.metadata.labels) ? oldObject.metadata.labels : {}) || " +
			"(has(object.metadata.annotations) ? object.metadata.annotations : {}) != (has(oldObject.metadata.annotations) ? oldObject.metadata.annotations : {})",
	}}
	return w
}

type (
	mutatingConfig   = admissionregistrationv1.MutatingWebhookConfiguration
	validatingConfig = admissionregistrationv1.ValidatingWebhookConfiguration
)
