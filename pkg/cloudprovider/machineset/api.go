package machineset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/cloudcall"
)

// scale changes set s's spec.replicas through its scale subresource: it
// reads the scale and writes change(replicas) with the resourceVersion it
// read, so a write made in between (by the set's controller, an admin, an
// update of the set) makes the apiserver answer Conflict and the whole
// read-and-write is tried again. It returns the replicas written and the
// set's resourceVersion after the write.
func (p *Platform) scale(ctx context.Context, s *setInfo, change func(int32) int32, what string) (int32, string, error) {
	var replicas int32
	var rv string
	op := fmt.Sprintf("scale %s %s %s", p.kind.Set.Kind, s.key, what)
	err := p.caller.Do(ctx, op, func(ctx context.Context) error {
		set := p.newSet(s.key)
		sc := &unstructured.Unstructured{}
		sc.SetAPIVersion("autoscaling/v1")
		sc.SetKind("Scale")
		if err := p.client.SubResource("scale").Get(ctx, set, sc); err != nil {
			return err
		}
		cur, _, err := unstructured.NestedInt64(sc.Object, "spec", "replicas")
		if err != nil {
			return err
		}
		replicas = change(int32(cur))
		// The body is written out in full: autoscaling/v1 Scale's typed
		// spec.replicas is omitempty, and a scale to 0 must say 0.
		body := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "autoscaling/v1",
			"kind":       "Scale",
			"metadata": map[string]any{
				"name": s.name, "namespace": s.namespace, "resourceVersion": sc.GetResourceVersion(),
			},
			"spec": map[string]any{"replicas": int64(replicas)},
		}}
		if err := p.client.SubResource("scale").Update(ctx, set, client.WithSubResourceBody(body)); err != nil {
			return err
		}
		rv = body.GetResourceVersion()
		return nil
	})
	return replicas, rv, err
}

// mark annotates machines for deletion, one merge patch each carrying the
// Machine's uid as a precondition (a Machine recreated under the same name
// is not marked). It returns the Machines it annotated (added) and those
// to count out of replicas (counted: added, and those annotated already);
// a Machine that is gone is neither.
func (p *Platform) mark(ctx context.Context, machines []*machineInfo) (added, counted []key, err error) {
	value := p.now().UTC().Format(time.RFC3339)
	for _, m := range machines {
		if m.annotated {
			counted = append(counted, m.key)
			continue
		}
		err := p.patchMachine(ctx, m.key, m.uid, "annotate", value)
		if apierrors.IsNotFound(err) || errors.Is(err, cloudprovider.ErrNotFound) {
			continue
		}
		if err != nil {
			return added, counted, err
		}
		added = append(added, m.key)
		counted = append(counted, m.key)
	}
	return added, counted, nil
}

// unmark removes the delete-machine annotation from machines again. It runs
// after a failure, so it has a deadline of its own.
func (p *Platform) unmark(ctx context.Context, machines []key) error {
	if len(machines) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	var errs []error
	for _, k := range machines {
		if err := p.patchMachine(ctx, k, "", "unannotate", nil); err != nil && !errors.Is(err, cloudprovider.ErrNotFound) {
			errs = append(errs, fmt.Errorf("undoing the delete-machine annotation: %w", err))
		}
	}
	return errors.Join(errs...)
}

// patchMachine sets the delete annotation to value, or removes it when value
// is nil.
func (p *Platform) patchMachine(ctx context.Context, k key, uid types.UID, what string, value any) error {
	md := map[string]any{"annotations": map[string]any{p.kind.DeleteAnnotation: value}}
	if uid != "" {
		md["uid"] = string(uid)
	}
	data, err := json.Marshal(map[string]any{"metadata": md})
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(p.kind.Machine)
	u.SetNamespace(k.namespace)
	u.SetName(k.name)
	return p.caller.Do(ctx, fmt.Sprintf("%s Machine %s", what, k), func(ctx context.Context) error {
		return p.client.Patch(ctx, u, client.RawPatch(types.MergePatchType, data))
	})
}

// Classify reads an API server error for cloudcall: a Conflict (a stale
// resourceVersion), throttling, timeouts, 5xx and broken connections may
// succeed if tried again; NotFound (also of a kind the cluster does not
// serve) is ErrNotFound; Invalid and BadRequest (an admission policy's
// denial among them) are ErrInvalid; Forbidden for an exceeded quota is
// ErrQuotaExceeded. Any other Forbidden is a permission an admin must grant,
// reported as internal.
func Classify(err error) cloudcall.Verdict {
	var status apierrors.APIStatus
	switch {
	case apierrors.IsConflict(err):
		return cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true}
	case apierrors.IsTooManyRequests(err):
		secs, _ := apierrors.SuggestsClientDelay(err)
		return cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true, RetryAfter: time.Duration(secs) * time.Second}
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsServiceUnavailable(err),
		apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err):
		return cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true}
	case errors.As(err, &status) && status.Status().Code >= 500:
		return cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true}
	case apierrors.IsNotFound(err), meta.IsNoMatchError(err):
		return cloudcall.Verdict{Kind: cloudprovider.ErrNotFound}
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return cloudcall.Verdict{Kind: cloudprovider.ErrInvalid}
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota"):
		return cloudcall.Verdict{Kind: cloudprovider.ErrQuotaExceeded}
	case utilnet.IsConnectionRefused(err), utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err):
		return cloudcall.Verdict{Kind: cloudprovider.ErrTransient, Retry: true}
	}
	return cloudcall.Verdict{}
}
