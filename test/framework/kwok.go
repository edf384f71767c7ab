package framework

import (
	"fmt"
	"os"
	"path/filepath"
)

// kwokStages are the stage files of kwok's "fast" set
// (node/fast, node/heartbeat-with-lease and pod/fast under kustomize/stage in
// the kwok module, copied by hack/control-plane-tools.sh): nodes become Ready at once and
// renew a Lease, pods become Running at once (a Job's pods then Succeeded),
// and deleted pods go away. Stages are all of kwok's behaviour: without them
// it refuses to start.
var kwokStages = []string{
	"node-initialize.yaml",
	"node-heartbeat-with-lease.yaml",
	"pod-ready.yaml",
	"pod-complete.yaml",
	"pod-delete.yaml",
}

// kwokPodCIDR is where kwok takes pod IPs from. Its default, 10.0.0.0/24,
// would overlap the Service range and hold only 254 pods.
const kwokPodCIDR = "10.244.0.0/16"

// kwokStageDir is where hack/control-plane-tools.sh puts the stage files:
// beside the bin folder.
func (c *Cluster) kwokStageDir() string {
	return filepath.Join(c.binDir, "..", "kwok-stages")
}

func (c *Cluster) kwokArgs(serverPort int) ([]string, error) {
	args := []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=" + kwokNodeValue,
		// Serves /healthz, which is how Start knows kwok is up.
		"--server-address=" + hostPort(serverPort),
		"--cidr=" + kwokPodCIDR,
		// The heartbeat stage writes node status every 10 minutes and
		// leaves health to a Lease; without this flag kwok renews none,
		// kube-controller-manager finds each node silent after its grace
		// period and marks its pods not Ready, which kwok never undoes
		// (and PodDisruptionBudgets then refuse every eviction).
		"--node-lease-duration-seconds=40",
	}
	for _, name := range kwokStages {
		path := filepath.Join(c.kwokStageDir(), name)
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("kwok stage file missing (run hack/control-plane-tools.sh): %w", err)
		}
		args = append(args, "--config="+path)
	}
	return args, nil
}

// kwokEnv points kwok's work folder (KWOK_WORKDIR, default ~/.kwok) into the
// cluster folder: kwok also loads ~/.kwok/kwok.yaml when it exists, and a
// developer's own stages there would change what the tests see.
func (c *Cluster) kwokEnv() []string {
	return append(os.Environ(), "KWOK_WORKDIR="+c.path("kwok"))
}
