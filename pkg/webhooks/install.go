package webhooks

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/carve-dev/carve/pkg/certs"
)

// Install creates or updates carve's webhook configurations so that they
// point at e and trust its CA bundle, and carve's ValidatingAdmissionPolicies
// (see Policies) with their bindings. c should read from the apiserver, not
// a cache: carve needs its two configurations only, and RBAC can then grant
// get and update by name instead of list and watch on all of them.
//
// When ownerClusterRole is not empty, all of them are made dependents
// of that ClusterRole (the one `helm uninstall` deletes with carve), so the
// garbage collector removes them once carve is gone: left behind, their
// failurePolicy Fail would refuse every pod in workspace namespaces.
func Install(ctx context.Context, c client.Client, e Endpoint, releaseNamespace, ownerClusterRole string) error {
	wantM, wantV := Configurations(e, releaseNamespace)
	owners, err := ClusterRoleOwner(ctx, c, ownerClusterRole)
	if err != nil {
		return err
	}
	wantM.OwnerReferences, wantV.OwnerReferences = owners, owners
	if err := apply(ctx, c, wantM, func(have client.Object) { have.(*mutatingConfig).Webhooks = wantM.Webhooks }); err != nil {
		return err
	}
	if err := apply(ctx, c, wantV, func(have client.Object) { have.(*validatingConfig).Webhooks = wantV.Webhooks }); err != nil {
		return err
	}
	policies, bindings := Policies(releaseNamespace)
	for _, p := range policies {
		p.OwnerReferences = owners
		if err := apply(ctx, c, p, func(have client.Object) { have.(*policy).Spec = p.Spec }); err != nil {
			return err
		}
	}
	for _, b := range bindings {
		b.OwnerReferences = owners
		if err := apply(ctx, c, b, func(have client.Object) { have.(*policyBinding).Spec = b.Spec }); err != nil {
			return err
		}
	}
	return nil
}

// ClusterRoleOwner is the owner reference to the ClusterRole of that name
// (none for ""), for what carve-controller creates and `helm uninstall`
// should remove: deleting the ClusterRole lets the garbage collector take
// its dependents.
func ClusterRoleOwner(ctx context.Context, c client.Client, name string) ([]metav1.OwnerReference, error) {
	if name == "" {
		return nil, nil
	}
	role := &rbacv1.ClusterRole{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, role); err != nil {
		return nil, fmt.Errorf("reading ClusterRole %s, the owner of carve's webhook configurations: %w", name, err)
	}
	// The UID changes on every install, so the reference is rewritten at
	// every start. BlockOwnerDeletion stays unset: it would need permission
	// on clusterroles/finalizers and buys nothing here.
	return []metav1.OwnerReference{{
		APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole", Name: role.Name, UID: role.UID,
	}}, nil
}

type (
	policy        = admissionregistrationv1.ValidatingAdmissionPolicy
	policyBinding = admissionregistrationv1.ValidatingAdmissionPolicyBinding
)

// apply creates want, or updates the object of its name to want's labels,
// owners and spec (copied by setSpec), keeping other metadata such as
// labels that a package manager added. Replicas starting together race to
// create and update: losing a race means reading again.
func apply(ctx context.Context, c client.Client, want client.Object, setSpec func(client.Object)) error {
	var err error
	for range 5 {
		err = applyOnce(ctx, c, want.DeepCopyObject().(client.Object), setSpec)
		if !apierrors.IsAlreadyExists(err) && !apierrors.IsConflict(err) {
			return err
		}
	}
	return err
}

func applyOnce(ctx context.Context, c client.Client, want client.Object, setSpec func(client.Object)) error {
	kind := fmt.Sprintf("%T", want)
	have := want.DeepCopyObject().(client.Object)
	err := c.Get(ctx, client.ObjectKeyFromObject(want), have)
	switch {
	case apierrors.IsNotFound(err):
		if err := c.Create(ctx, want); err != nil {
			return fmt.Errorf("creating %s %s: %w", kind, want.GetName(), err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading %s %s: %w", kind, want.GetName(), err)
	}
	before := have.DeepCopyObject()
	labels := have.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	for k, v := range want.GetLabels() {
		labels[k] = v
	}
	have.SetLabels(labels)
	have.SetOwnerReferences(want.GetOwnerReferences())
	setSpec(have)
	if equality.Semantic.DeepEqual(before, have) {
		return nil // carve-controller checks every minute: no write then
	}
	if err := c.Update(ctx, have); err != nil {
		return fmt.Errorf("updating %s %s: %w", kind, want.GetName(), err)
	}
	return nil
}

// TrustedCAs are the CAs carve's webhook configurations tell the apiserver
// to trust now (none when they do not exist yet).
func TrustedCAs(ctx context.Context, c kubernetes.Interface) ([]*x509.Certificate, error) {
	m, err := c.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, ConfigurationName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", ConfigurationName, err)
	}
	var out []*x509.Certificate
	for _, w := range m.Webhooks {
		cas, err := certs.ParseCertificates(w.ClientConfig.CABundle)
		if err != nil {
			continue
		}
		for _, ca := range cas {
			if !slices.ContainsFunc(out, ca.Equal) {
				out = append(out, ca)
			}
		}
	}
	return out, nil
}
