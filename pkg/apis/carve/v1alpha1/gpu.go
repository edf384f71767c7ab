package v1alpha1

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// IsGPUResource reports whether an extended resource name is a GPU, of any
// vendor and any slice of one: nvidia.com/gpu, amd.com/gpu,
// gpu.intel.com/i915, nvidia.com/mig-1g.5gb. It is carve's one definition of
// a GPU: the pod contract refuses GPUs outside GPU profiles with it, a
// Workspace's quota.gpu counts it (one per device or MIG slice), NodePool
// validation finds GPU capacity with it, and BinPack tells GPU nodes by it
// (unless its gpuResources names others).
func IsGPUResource(name corev1.ResourceName) bool {
	s := strings.ToLower(string(name))
	domain, res, ok := strings.Cut(s, "/")
	if !ok || domain == "kubernetes.io" || strings.HasSuffix(domain, ".kubernetes.io") {
		return false
	}
	return strings.Contains(res, "gpu") || strings.HasPrefix(res, "mig-") || strings.HasPrefix(domain, "gpu.")
}
