package cloudprovider

import (
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// Hours is the length of the window [start, end] in hours.
func Hours(start, end time.Time) (float64, error) {
	if end.Before(start) {
		return 0, Errorf(ErrInvalid, "pricing: window ends (%s) before it starts (%s)", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	return end.Sub(start).Hours(), nil
}

// NodePrice is what a node of pool costs over hours: pricePerHour × hours.
func NodePrice(pool *carvev1.NodePool, hours float64) (float64, error) {
	if pool.Spec.PricePerHour == nil {
		return 0, Errorf(ErrNotFound, "pricing node group %s: it has no pricePerHour", pool.Name)
	}
	return pool.Spec.PricePerHour.AsApproximateFloat64() * hours, nil
}

// DominantShare is the largest fraction of allocatable that requests take,
// over the resources requested (zero requests are ignored). It is +Inf when
// a requested resource is not allocatable at all, and above 1 when the
// requests do not fit.
func DominantShare(requests, allocatable corev1.ResourceList) float64 {
	share := 0.0
	for name, q := range requests {
		req := q.AsApproximateFloat64()
		if req <= 0 {
			continue
		}
		a, ok := allocatable[name]
		alloc := a.AsApproximateFloat64()
		if !ok || alloc <= 0 {
			return math.Inf(1)
		}
		share = max(share, req/alloc)
	}
	return share
}

// PodPrice is what pod costs over hours: its dominant share of one node of
// the pool it runs on, times that node's price. The pool is, in order: onPool
// (the pool of the node the pod is bound to) when not nil; the pool its
// node selector carve.dev/node-pool names; else, among pools with a price
// whose nodes fit the pod, the one where the pod costs least. A pod never
// costs more than the whole node.
func PodPrice(pod *corev1.Pod, onPool *carvev1.NodePool, pools []*carvev1.NodePool, hours float64) (float64, error) {
	requests := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	priceOn := func(pool *carvev1.NodePool) (float64, error) {
		nodePrice, err := NodePrice(pool, hours)
		if err != nil {
			return 0, err
		}
		share := DominantShare(requests, Allocatable(pool))
		if share > 1 {
			return 0, Errorf(ErrInvalid, "pricing pod %s/%s: it does not fit a node of node group %s", pod.Namespace, pod.Name, pool.Name)
		}
		return nodePrice * share, nil
	}
	if onPool != nil {
		return priceOn(onPool)
	}
	if name := pod.Spec.NodeSelector[carvev1.LabelNodePool]; name != "" {
		for _, p := range pools {
			if p.Name == name {
				return priceOn(p)
			}
		}
		return 0, Errorf(ErrNotFound, "pricing pod %s/%s: its node selector names node group %s, which does not exist", pod.Namespace, pod.Name, name)
	}
	best, found := 0.0, false
	for _, p := range pools {
		price, err := priceOn(p)
		if err != nil {
			continue
		}
		if !found || price < best {
			best, found = price, true
		}
	}
	if !found {
		return 0, Errorf(ErrNotFound, "pricing pod %s/%s: no node group with a price fits it", pod.Namespace, pod.Name)
	}
	return best, nil
}
