package webhooks

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/carve-dev/carve/pkg/podcontract"
)

// Pod is the mutating and validating webhook of pods in workspace
// namespaces. The webhook configuration's namespaceSelector keeps every
// other namespace away from it; a pod that reaches it in a namespace without
// the workspace label anyway is left untouched.
type Pod struct {
	// Reader reads namespaces and carve objects, from a cache.
	Reader client.Reader
	// Live reads a namespace from the apiserver when the cache cannot be
	// trusted: the apiserver sent the pod here because the namespace
	// matched the webhooks' selector, so a cache that does not know the
	// namespace, or shows it without the workspace label, lags behind.
	// Nil trusts the cache.
	Live client.Reader
	// Options are the cluster facts the contract depends on.
	Options podcontract.Options
}

var (
	_ admission.Defaulter[*corev1.Pod] = &Pod{}
	_ admission.Validator[*corev1.Pod] = &Pod{}
)

// namespaceOf returns the namespace of the pod under admission: reqNS, the
// request's, which names it even when the object does not (pods created
// with generateName through a namespaced URL), or else the pod's.
//
// A pod only reaches this webhook when the apiserver saw the namespace
// carry the workspace label, so a cached namespace that is missing or
// unlabelled is read again from the apiserver: a pod created just after its
// namespace was labelled must not pass unenforced. When even that read
// fails, the answer is a 429 that says to retry (clients and controllers
// retry it), never an admission.
func (w *Pod) namespaceOf(ctx context.Context, reqNS string, pod *corev1.Pod) (*corev1.Namespace, bool, error) {
	name := pod.Namespace
	if reqNS != "" {
		name = reqNS
	}
	ns, ok := cacheLookup{ctx, w.Reader}.Namespace(name)
	if (!ok || podcontract.WorkspaceOf(ns) == "") && w.Live != nil && name != "" {
		live := &corev1.Namespace{}
		switch err := w.Live.Get(ctx, client.ObjectKey{Name: name}, live); {
		case err == nil:
			ns, ok = live, true
		case apierrors.IsNotFound(err):
			ok = false
		default:
			return nil, false, retryLater(fmt.Sprintf("carve: reading namespace %q of the pod: %v; this is temporary, try again", name, err))
		}
	}
	if !ok {
		return nil, false, retryLater(fmt.Sprintf("carve: namespace %q of the pod is not known yet; this is temporary, try again", name))
	}
	if podcontract.WorkspaceOf(ns) == "" {
		return ns, false, nil
	}
	return ns, true, nil
}

// retryLater is an error the apiserver passes on as 429 Too Many Requests
// with a Retry-After, which client-go and controllers retry by themselves.
func retryLater(msg string) error {
	return apierrors.NewTooManyRequests(msg, 1)
}

// requestOf is the admission request in ctx, which controller-runtime's
// typed webhooks put there; podReviews passes what it needs of the request
// directly instead.
func requestOf(ctx context.Context) admission.Request {
	req, _ := admission.RequestFromContext(ctx)
	return req
}

// Default applies the pod's profile, or denies the pod.
func (w *Pod) Default(ctx context.Context, pod *corev1.Pod) error {
	out, err := w.admit(ctx, requestOf(ctx).Namespace, pod)
	if err != nil || out == nil {
		return err
	}
	*pod = *out
	return nil
}

// admit returns the pod as carve would have it without changing pod, nil
// for a pod outside workspace namespaces, or a denial; reqNS is the
// request's namespace.
func (w *Pod) admit(ctx context.Context, reqNS string, pod *corev1.Pod) (*corev1.Pod, error) {
	ns, inWorkspace, err := w.namespaceOf(ctx, reqNS, pod)
	if err != nil || !inWorkspace {
		return nil, err
	}
	return podcontract.Admit(pod, ns, cacheLookup{ctx, w.Reader}, w.Options)
}

// ValidateCreate refuses a pod that breaks the contract or was not admitted
// by Default.
func (w *Pod) ValidateCreate(ctx context.Context, pod *corev1.Pod) (admission.Warnings, error) {
	return nil, w.checkCreate(ctx, requestOf(ctx).Namespace, pod)
}

func (w *Pod) checkCreate(ctx context.Context, reqNS string, pod *corev1.Pod) error {
	ns, inWorkspace, err := w.namespaceOf(ctx, reqNS, pod)
	if err != nil || !inWorkspace {
		return err
	}
	return podcontract.Check(pod, ns, cacheLookup{ctx, w.Reader}, w.Options)
}

// ValidateUpdate refuses pod edits that would escape the contract.
func (w *Pod) ValidateUpdate(ctx context.Context, oldPod, newPod *corev1.Pod) (admission.Warnings, error) {
	return nil, w.checkUpdate(ctx, requestOf(ctx).SubResource, oldPod, newPod)
}

func (w *Pod) checkUpdate(ctx context.Context, subresource string, oldPod, newPod *corev1.Pod) error {
	return podcontract.CheckUpdate(oldPod, newPod, subresource, cacheLookup{ctx, w.Reader})
}

// ValidateDelete allows every deletion.
func (w *Pod) ValidateDelete(context.Context, *corev1.Pod) (admission.Warnings, error) {
	return nil, nil
}
