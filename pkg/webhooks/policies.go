package webhooks

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// Names of carve's ValidatingAdmissionPolicies; each has a binding of the
// same name.
const (
	// PolicyLabels refuses carve's pod labels outside workspace namespaces.
	PolicyLabels = "carve-pod-labels"
	// PolicySchedulerOutsideWorkspaces warns about a pod that asks for
	// carve-scheduler outside every workspace.
	PolicySchedulerOutsideWorkspaces = "carve-scheduler-outside-workspaces"
)

// PodLabels are the labels carve's pod webhook sets on workspace pods and
// no one else may: carve-scheduler spends quota on pods with
// carve.dev/workspace, and carve-cloudprovider's guards read the workload.
var PodLabels = []string{carvev1.LabelWorkspace, carvev1.LabelTeam, carvev1.LabelProfile, carvev1.LabelWorkload}

// Policies builds the ValidatingAdmissionPolicies that cover the namespaces
// carve's webhooks do not see (every namespace without carve.dev/workspace,
// except the control plane's and carve's own). They run inside the API
// server, so they hold while carve is down, and they never call carve.
//
//   - PolicyLabels refuses a pod that gains one of PodLabels there, on
//     create and on update of the pod or its status: a pod outside every
//     workspace must not look like a workspace pod. A pod that already had
//     the label (its namespace left a workspace) may keep it.
//   - PolicySchedulerOutsideWorkspaces warns when such a pod asks for
//     carve-scheduler: it is placed, but no profile, quota or queue applies.
func Policies(releaseNamespace string) ([]*admissionregistrationv1.ValidatingAdmissionPolicy, []*admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	outside := namespaces(metav1.LabelSelectorOpDoesNotExist, releaseNamespace)
	pods := func(resources []string, ops ...admissionregistrationv1.OperationType) *admissionregistrationv1.MatchResources {
		return &admissionregistrationv1.MatchResources{
			NamespaceSelector: outside,
			MatchPolicy:       ptr.To(admissionregistrationv1.Equivalent),
			ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
				Operations: ops,
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: resources,
					Scope: ptr.To(admissionregistrationv1.NamespacedScope),
				},
			}}},
		}
	}
	quoted := make([]string, len(PodLabels))
	for i, l := range PodLabels {
		quoted[i] = "'" + l + "'"
	}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/name": "carve"}}
	}
	labels := &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: meta(PolicyLabels),
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: pods([]string{"pods", "pods/status"}, admissionregistrationv1.Create, admissionregistrationv1.Update),
			// Only pods that carry one of the labels are looked at further.
			MatchConditions: []admissionregistrationv1.MatchCondition{{
				Name:       "has-carve-labels",
				Expression: fmt.Sprintf("has(object.metadata.labels) && [%s].exists(k, k in object.metadata.labels)", strings.Join(quoted, ", ")),
			}},
			Variables: []admissionregistrationv1.Variable{
				{Name: "old", Expression: "oldObject != null && has(oldObject.metadata.labels) ? oldObject.metadata.labels : {}"},
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: fmt.Sprintf("[%s].all(k, !(k in object.metadata.labels) || (k in variables.old && variables.old[k] == object.metadata.labels[k]))", strings.Join(quoted, ", ")),
				Message: fmt.Sprintf("carve sets the labels %s itself, on pods in workspace namespaces only; this namespace is in no workspace: "+
					"remove the labels, or create the pod in a namespace labelled %s=<workspace>", strings.Join(PodLabels, ", "), carvev1.LabelWorkspace),
				Reason: ptr.To(metav1.StatusReasonForbidden),
			}},
		},
	}
	scheduler := &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: meta(PolicySchedulerOutsideWorkspaces),
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    ptr.To(admissionregistrationv1.Ignore),
			MatchConstraints: pods([]string{"pods"}, admissionregistrationv1.Create),
			Validations: []admissionregistrationv1.Validation{{
				Expression: fmt.Sprintf("!has(object.spec.schedulerName) || object.spec.schedulerName != '%s'", carvev1.SchedulerName),
				Message: fmt.Sprintf("this pod asks for %s but its namespace is in no workspace: it is placed like any other pod, "+
					"and no profile, quota or queue applies to it; label the namespace %s=<workspace> to make it part of one",
					carvev1.SchedulerName, carvev1.LabelWorkspace),
			}},
		},
	}
	binding := func(p *admissionregistrationv1.ValidatingAdmissionPolicy, action admissionregistrationv1.ValidationAction) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
		return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
			ObjectMeta: meta(p.Name),
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName:        p.Name,
				ValidationActions: []admissionregistrationv1.ValidationAction{action},
			},
		}
	}
	return []*admissionregistrationv1.ValidatingAdmissionPolicy{labels, scheduler},
		[]*admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			binding(labels, admissionregistrationv1.Deny),
			binding(scheduler, admissionregistrationv1.Warn),
		}
}
