package podcontract_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	"sigs.k8s.io/yaml"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

func TestUnfitPools(t *testing.T) {
	small := ut.MakeNodePool("cpu", carvev1.NodePoolRoleCPU, 0, 10, "8", "32Gi").Obj()
	roomy := ut.MakeNodePool("roomy", carvev1.NodePoolRoleCPU, 0, 10, "8", "32Gi").Capacity("ephemeral-storage", "100Gi").Obj()
	for _, tc := range []struct {
		name    string
		profile *carvev1.ResourceProfile
		pools   []*carvev1.NodePool
		says    []string // one warning per entry, containing it
	}{
		{"fits", ut.MakeProfile("small", "1", "2Gi").Obj(), []*carvev1.NodePool{small}, nil},
		{"scratch space the pool lacks", ut.MakeProfile("large", "4", "16Gi").EphemeralStorage("20Gi").Obj(),
			[]*carvev1.NodePool{small, roomy}, []string{`20Gi ephemeral-storage, but nodes of NodePool "cpu" have none`}},
		{"bigger than a node", ut.MakeProfile("huge", "64", "512Gi").Obj(), []*carvev1.NodePool{small},
			[]string{`64 cpu, but nodes of NodePool "cpu" have only 8`, `512Gi memory, but nodes of NodePool "cpu" have only 32Gi`}},
		{"GPUs on a CPU pool", ut.MakeProfile("gpu-1", "1", "2Gi").GPU(1, "").Obj(), []*carvev1.NodePool{small},
			[]string{"1 nvidia.com/gpu"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := podcontract.UnfitPools(tc.profile, tc.pools)
			if len(got) != len(tc.says) {
				t.Fatalf("warnings %q, want %d", got, len(tc.says))
			}
			for i, s := range tc.says {
				if !strings.Contains(got[i], s) {
					t.Errorf("warning %q does not say %q", got[i], s)
				}
			}
		})
	}
}

// The shipped samples must be consistent: every sample profile fits a node
// of each of its sample pools.
func TestSampleProfilesFitTheirPools(t *testing.T) {
	pools := map[string]*carvev1.NodePool{}
	var profiles []*carvev1.ResourceProfile
	for _, file := range []string{"nodepools.yaml", "resourceprofiles.yaml"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "manifests", "samples", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(raw), "\n---\n") {
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			switch meta.Kind {
			case "NodePool":
				np := &carvev1.NodePool{}
				if err := yaml.UnmarshalStrict([]byte(doc), np); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				pools[np.Name] = np
			case "ResourceProfile":
				p := &carvev1.ResourceProfile{}
				if err := yaml.UnmarshalStrict([]byte(doc), p); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				profiles = append(profiles, p)
			}
		}
	}
	if len(profiles) == 0 || len(pools) == 0 {
		t.Fatalf("read %d profiles and %d pools from the samples", len(profiles), len(pools))
	}
	for _, p := range profiles {
		var ps []*carvev1.NodePool
		for _, name := range p.Spec.NodePools {
			np, ok := pools[name]
			if !ok {
				t.Errorf("profile %q runs on NodePool %q, which the samples do not define", p.Name, name)
				continue
			}
			ps = append(ps, np)
		}
		for _, w := range podcontract.UnfitPools(p, ps) {
			t.Error(w)
		}
	}
}

// Without pod-level resources every container is capped and the pod's
// effective requests and limits stay within the profile: a sidecar is
// limited to its request, the main container gets the rest, and a container
// with no request at all is refused rather than left unbounded.
func TestContainerModeCapsEveryContainer(t *testing.T) {
	pod := ut.MakePod("p", "alice").Profile("large").Container("main", "", "").
		Container("helper", "500m", "1Gi").Sidecar("proxy", "250m", "256Mi").InitContainer("setup", "1", "1Gi").Obj()
	got, err := podcontract.Admit(pod, mlNS, world(), ctrLvl)
	if err != nil {
		t.Fatal(err)
	}
	lim := func(c corev1.Container, n corev1.ResourceName) string { q := c.Resources.Limits[n]; return q.String() }
	for _, tc := range []struct {
		c        corev1.Container
		cpu, mem string
	}{
		{got.Spec.Containers[0], "5250m", "15104Mi"}, // large: limits 6 CPUs, 16Gi; minus helper and proxy
		{got.Spec.Containers[1], "500m", "1Gi"},
		{got.Spec.InitContainers[0], "250m", "256Mi"},
		{got.Spec.InitContainers[1], "5750m", "16128Mi"}, // runs beside the proxy only
	} {
		if lim(tc.c, corev1.ResourceCPU) != tc.cpu || lim(tc.c, corev1.ResourceMemory) != tc.mem {
			t.Errorf("container %s limited to %s CPU, %s memory; want %s, %s", tc.c.Name,
				lim(tc.c, corev1.ResourceCPU), lim(tc.c, corev1.ResourceMemory), tc.cpu, tc.mem)
		}
	}
	lims := resourcehelper.PodLimits(got, resourcehelper.PodResourcesOptions{})
	if cpu, mem := lims[corev1.ResourceCPU], lims[corev1.ResourceMemory]; cpu.Cmp(q("6")) != 0 || mem.Cmp(q("16Gi")) != 0 {
		t.Errorf("effective pod limits %s CPU, %s memory; want exactly the profile's 6 and 16Gi", cpu.String(), mem.String())
	}

	bare := ut.MakePod("p", "alice").Profile("large").Container("main", "", "").Container("unbounded", "", "").Obj()
	if _, err := podcontract.Admit(bare, mlNS, world(), ctrLvl); err == nil || !strings.Contains(err.Error(), `container "unbounded" runs beside the main container`) {
		t.Errorf("a container with no request in container mode: %v, want refused naming it", err)
	}
}
