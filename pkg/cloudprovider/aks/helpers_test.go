package aks_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider/aks"
	"github.com/carve-dev/carve/pkg/cloudprovider/cloudcall"
)

const (
	sub = "11111111-2222-3333-4444-555555555555"
	rg  = "rg-carve"
)

// fastPolicy keeps retries quick in tests; the deadlines are the callers'.
var fastPolicy = cloudcall.Policy{Base: 5 * time.Millisecond, Max: 50 * time.Millisecond, Timeout: 5 * time.Second}

func newPlatform(t *testing.T, opts arm.ClientOptions, mod ...func(*aks.Options)) *aks.Platform {
	t.Helper()
	o := aks.Options{Credential: &azfake.TokenCredential{}, ClientOptions: opts, Policy: fastPolicy}
	for _, m := range mod {
		m(&o)
	}
	p, err := aks.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func nodePool(name, subscription, resourceGroup, cluster, agentPool string) *carvev1.NodePool {
	return &carvev1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: carvev1.NodePoolSpec{
			Role: carvev1.NodePoolRoleCPU, MinSize: 0, MaxSize: 10,
			Platform: carvev1.Platform{Type: carvev1.PlatformAKS, AKS: &carvev1.AKSPlatform{
				SubscriptionID: subscription, ResourceGroup: resourceGroup, Cluster: cluster, AgentPool: agentPool,
			}},
			Template: carvev1.NodeTemplate{Capacity: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"),
			}},
		},
	}
}

var poolSeq atomic.Int64

// poolName is a new agent pool name (lower case letters and digits, at most 12).
func poolName() string { return fmt.Sprintf("p%d", poolSeq.Add(1)) }
