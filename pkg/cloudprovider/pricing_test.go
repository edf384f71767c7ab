package cloudprovider

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/grpc/codes"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

var errPlain = errors.New("plain")

func mustQ(s string) resource.Quantity { return resource.MustParse(s) }

func wrap(err error) error { return fmt.Errorf("doing something: %w", err) }

func TestHoursAndNodePrice(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pool := ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 10, "16", "64Gi").Price("0.68").Obj()
	noPrice := ut.MakeNodePool("free", carvev1.NodePoolRoleCPU, 0, 10, "16", "64Gi").Obj()
	tests := map[string]struct {
		pool    *carvev1.NodePool
		end     time.Time
		want    float64
		wantErr outcome
	}{
		"one hour":    {pool: pool, end: start.Add(time.Hour), want: 0.68, wantErr: outcome{Code: codes.OK}},
		"ninety min":  {pool: pool, end: start.Add(90 * time.Minute), want: 1.02, wantErr: outcome{Code: codes.OK}},
		"empty":       {pool: pool, end: start, want: 0, wantErr: outcome{Code: codes.OK}},
		"no price":    {pool: noPrice, end: start.Add(time.Hour), wantErr: outcome{codes.NotFound, "pricing node group free: it has no pricePerHour"}},
		"end < start": {pool: pool, end: start.Add(-time.Hour), wantErr: outcome{codes.InvalidArgument, "pricing: window ends (2025-12-31T23:00:00Z) before it starts (2026-01-01T00:00:00Z)"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			hours, err := Hours(start, tc.end)
			var got float64
			if err == nil {
				got, err = NodePrice(tc.pool, hours)
			}
			if diff := cmp.Diff(tc.wantErr, outcomeOf(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("price (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDominantShare(t *testing.T) {
	alloc := corev1.ResourceList{corev1.ResourceCPU: mustQ("16"), corev1.ResourceMemory: mustQ("64Gi")}
	tests := map[string]struct {
		req  corev1.ResourceList
		want float64
	}{
		"cpu dominates":    {corev1.ResourceList{corev1.ResourceCPU: mustQ("4"), corev1.ResourceMemory: mustQ("8Gi")}, 0.25},
		"memory dominates": {corev1.ResourceList{corev1.ResourceCPU: mustQ("1"), corev1.ResourceMemory: mustQ("32Gi")}, 0.5},
		"nothing":          {corev1.ResourceList{}, 0},
		"missing resource": {corev1.ResourceList{"nvidia.com/gpu": mustQ("1")}, math.Inf(1)},
		"too big":          {corev1.ResourceList{corev1.ResourceCPU: mustQ("32")}, 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, DominantShare(tc.req, alloc), cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("DominantShare (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodPrice(t *testing.T) {
	cpu := ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 10, "16", "64Gi").Price("0.8").Obj()
	big := ut.MakeNodePool("big", carvev1.NodePoolRoleCPU, 0, 10, "64", "256Gi").Price("2.4").Obj()
	gpu := ut.MakeNodePool("gpu", carvev1.NodePoolRoleGPU, 0, 10, "8", "64Gi").Capacity("nvidia.com/gpu", "1").Price("3").Obj()
	unpriced := ut.MakeNodePool("unpriced", carvev1.NodePoolRoleCPU, 0, 10, "16", "64Gi").Obj()
	pools := []*carvev1.NodePool{big, cpu, gpu, unpriced}
	tests := map[string]struct {
		pod     *corev1.Pod
		on      *carvev1.NodePool
		want    float64
		wantErr outcome
	}{
		"cheapest fitting pool": {pod: ut.MakePod("p", "ns").Container("c", "4", "8Gi").Obj(), want: 0.15, wantErr: outcome{Code: codes.OK}},
		"only big fits":         {pod: ut.MakePod("p", "ns").Container("c", "32", "8Gi").Obj(), want: 1.2, wantErr: outcome{Code: codes.OK}},
		"bound to cpu":          {pod: ut.MakePod("p", "ns").Container("c", "4", "8Gi").Obj(), on: cpu, want: 0.2, wantErr: outcome{Code: codes.OK}},
		"selector":              {pod: ut.MakePod("p", "ns").Container("c", "4", "8Gi").NodeSelector(carvev1.LabelNodePool, "cpu").Obj(), want: 0.2, wantErr: outcome{Code: codes.OK}},
		"gpu pod":               {pod: ut.MakePod("p", "ns").Container("c", "1", "8Gi").GPU("nvidia.com/gpu", "1").Obj(), want: 3, wantErr: outcome{Code: codes.OK}},
		"fits nowhere":          {pod: ut.MakePod("p", "ns").Container("c", "100", "8Gi").Obj(), wantErr: outcome{codes.NotFound, "pricing pod ns/p: no node group with a price fits it"}},
		"selector unknown":      {pod: ut.MakePod("p", "ns").Container("c", "1", "1Gi").NodeSelector(carvev1.LabelNodePool, "nope").Obj(), wantErr: outcome{codes.NotFound, "pricing pod ns/p: its node selector names node group nope, which does not exist"}},
		"bound to unpriced":     {pod: ut.MakePod("p", "ns").Container("c", "1", "1Gi").Obj(), on: unpriced, wantErr: outcome{codes.NotFound, "pricing node group unpriced: it has no pricePerHour"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := PodPrice(tc.pod, tc.on, pools, 1)
			if diff := cmp.Diff(tc.wantErr, outcomeOf(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("price (-want +got):\n%s", diff)
			}
		})
	}
}
