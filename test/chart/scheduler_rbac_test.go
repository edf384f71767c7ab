package chart

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	rbacregistryvalidation "k8s.io/kubernetes/pkg/registry/rbac/validation"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"
)

// schedulerNeed is one request carve-scheduler makes, and why.
type schedulerNeed struct {
	why   string
	attrs authorizer.AttributesRecord
}

func need(why, verb, group, resource, subresource, namespace, name string) schedulerNeed {
	return schedulerNeed{why, authorizer.AttributesRecord{
		Verb: verb, APIGroup: group, Resource: resource, Subresource: subresource,
		Namespace: namespace, Name: name, ResourceRequest: true,
	}}
}

// schedulerNeeds lists what carve-scheduler does beyond what every
// kube-scheduler does, and the few kube-scheduler requests the chart's
// bindings to the built-in roles must keep working. leaseNamespace and
// leaseName are the configuration's leader election lock.
func schedulerNeeds(leaseNamespace, leaseName string) []schedulerNeed {
	ns := "ml-alice" // any workspace namespace
	return []schedulerNeed{
		// WorkspaceQueue's informer, and kube-scheduler's own for
		// Workspace events (held pods wake when a quota is raised).
		need("Workspace informers", "list", "carve.dev", "workspaces", "", "", ""),
		need("Workspace informers", "watch", "carve.dev", "workspaces", "", "", ""),
		// Metering reads NodePools for their prices.
		need("NodePool informer", "list", "carve.dev", "nodepools", "", "", ""),
		need("NodePool informer", "watch", "carve.dev", "nodepools", "", "", ""),
		// Workspace status (accounting, spend, budgets), by server-side
		// apply, and the budget warnings on Workspaces (cluster-scoped:
		// their Events go to namespace default).
		need("Workspace status", "patch", "carve.dev", "workspaces", "status", "", "ml-team"),
		need("budget Events", "create", "events.k8s.io", "events", "", "default", ""),
		// WorkspaceQueue's own filtered pod informer.
		need("WorkspaceQueue's pod informer", "list", "", "pods", "", "", ""),
		need("WorkspaceQueue's pod informer", "watch", "", "pods", "", "", ""),
		// The carve.dev/Admitted condition, by strategic merge patch.
		need("carve.dev/Admitted condition", "patch", "", "pods", "status", ns, "nb"),
		// WaitingForQuota and Admitted Events (events.k8s.io, series
		// patched on repeats).
		need("WaitingForQuota events", "create", "events.k8s.io", "events", "", ns, ""),
		need("WaitingForQuota events", "patch", "events.k8s.io", "events", "", ns, "nb.1"),
		// Leader election on its own lock.
		need("leader election", "create", "coordination.k8s.io", "leases", "", leaseNamespace, ""),
		need("leader election", "get", "coordination.k8s.io", "leases", "", leaseNamespace, leaseName),
		need("leader election", "update", "coordination.k8s.io", "leases", "", leaseNamespace, leaseName),
		// Delegated authentication and authorization of the HTTPS port.
		need("HTTPS port authentication", "get", "", "configmaps", "", "kube-system", "extension-apiserver-authentication"),
		need("HTTPS port authentication", "list", "", "configmaps", "", "kube-system", "extension-apiserver-authentication"),
		need("HTTPS port authentication", "watch", "", "configmaps", "", "kube-system", "extension-apiserver-authentication"),
		need("HTTPS port authentication", "create", "authentication.k8s.io", "tokenreviews", "", "", ""),
		need("HTTPS port authorization", "create", "authorization.k8s.io", "subjectaccessreviews", "", "", ""),
		// Scheduling itself.
		need("binding pods", "create", "", "pods", "binding", ns, "nb"),
		need("node informer", "watch", "", "nodes", "", "", ""),
		need("volume binding", "update", "", "persistentvolumes", "", "", "pv-1"),
	}
}

// TestSchedulerRBAC compares carve-scheduler's own ClusterRole and Role
// with what its plugins add to kube-scheduler, rule by rule, and then
// evaluates every request carve-scheduler makes with the apiserver's RBAC
// authorizer, against the chart's bindings and the built-in roles of
// Kubernetes 1.37 (bootstrappolicy): each must be allowed. It also pins why
// the chart needs its own rules: system:kube-scheduler alone grants neither
// carve's Workspaces nor a lease that is not named kube-scheduler.
func TestSchedulerRBAC(t *testing.T) {
	cfg := loadSchedulerConfig(t, shippedSchedulerConfig(t))
	leaseNS, leaseName := cfg.LeaderElection.ResourceNamespace, cfg.LeaderElection.ResourceName

	wantCluster := []rbacv1.PolicyRule{
		{APIGroups: []string{"carve.dev"}, Resources: []string{"workspaces"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"carve.dev"}, Resources: []string{"nodepools"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"carve.dev"}, Resources: []string{"workspaces/status"}, Verbs: []string{"patch"}},
	}
	wantLease := []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{leaseName}, Verbs: []string{"get", "update"}},
	}
	objs := render(t, "carve", "carve-system", "")
	if diff := cmp.Diff(wantCluster, named[*rbacv1.ClusterRole](t, objs, "", "carve-scheduler").Rules); diff != "" {
		t.Errorf("ClusterRole carve-scheduler rules (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantLease, named[*rbacv1.Role](t, objs, leaseNS, "carve-scheduler-leader-election").Rules); diff != "" {
		t.Errorf("Role %s/carve-scheduler-leader-election rules (-want +got):\n%s", leaseNS, diff)
	}

	sa := serviceaccount.UserInfo("carve-system", "carve-scheduler", "")
	authz := chartAuthorizer(objs)
	for _, n := range schedulerNeeds(leaseNS, leaseName) {
		n.attrs.User = sa
		if d, reason, err := authz.Authorize(context.Background(), n.attrs); d != authorizer.DecisionAllow {
			t.Errorf("%s: %s %s denied to %s (%s, %v)", n.why, n.attrs.Verb, resourceString(n.attrs), sa.GetName(), reason, err)
		}
	}

	// The built-in role alone: what the chart's own rules are for.
	builtin := bootstrapClusterRole(t, "system:kube-scheduler")
	for _, n := range []schedulerNeed{
		need("Workspace informers", "list", "carve.dev", "workspaces", "", "", ""),
		need("leader election", "get", "coordination.k8s.io", "leases", "", leaseNS, leaseName),
		need("leader election", "update", "coordination.k8s.io", "leases", "", leaseNS, leaseName),
	} {
		if rbac.RulesAllow(n.attrs, builtin.Rules...) {
			t.Errorf("system:kube-scheduler allows %s %s by itself: the chart's rule for it is redundant", n.attrs.Verb, resourceString(n.attrs))
		}
	}
	if !rbac.RulesAllow(authorizer.AttributesRecord{Verb: "get", APIGroup: "coordination.k8s.io", Resource: "leases",
		Namespace: leaseNS, Name: "kube-scheduler", ResourceRequest: true}, builtin.Rules...) {
		t.Errorf("system:kube-scheduler no longer grants its own lease: the bootstrap policy changed, check the chart's Role")
	}
}

// chartAuthorizer is the apiserver's RBAC authorizer over the chart's
// rendered roles and bindings and the built-in roles they refer to.
func chartAuthorizer(objs []runtime.Object) *rbac.RBACAuthorizer {
	var (
		roles        []*rbacv1.Role
		roleBindings []*rbacv1.RoleBinding
		clusterRoles []*rbacv1.ClusterRole
		crbs         []*rbacv1.ClusterRoleBinding
	)
	for _, r := range bootstrappolicy.ClusterRoles() {
		clusterRoles = append(clusterRoles, &r)
	}
	for ns, rs := range bootstrappolicy.NamespaceRoles() {
		for _, r := range rs {
			r.Namespace = ns
			roles = append(roles, &r)
		}
	}
	clusterRoles = append(clusterRoles, all[*rbacv1.ClusterRole](objs)...)
	roles = append(roles, all[*rbacv1.Role](objs)...)
	roleBindings = append(roleBindings, all[*rbacv1.RoleBinding](objs)...)
	crbs = append(crbs, all[*rbacv1.ClusterRoleBinding](objs)...)
	_, static := rbacregistryvalidation.NewTestRuleResolver(roles, roleBindings, clusterRoles, crbs)
	return rbac.New(static, static, static, static)
}

func bootstrapClusterRole(t *testing.T, name string) rbacv1.ClusterRole {
	t.Helper()
	for _, r := range bootstrappolicy.ClusterRoles() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no built-in ClusterRole %s", name)
	return rbacv1.ClusterRole{}
}

func resourceString(a authorizer.AttributesRecord) string {
	s := a.Resource
	if a.APIGroup != "" {
		s += "." + a.APIGroup
	}
	if a.Subresource != "" {
		s += "/" + a.Subresource
	}
	if a.Namespace != "" {
		s = a.Namespace + "/" + s
	}
	if a.Name != "" {
		s += " " + a.Name
	}
	return s
}
