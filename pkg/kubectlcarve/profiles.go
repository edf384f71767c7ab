package kubectlcarve

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// ProfilesReport is `kubectl carve profiles -o json|yaml`: the profiles
// pods of a namespace may pick.
type ProfilesReport struct {
	Namespace string `json:"namespace"`
	// Workspace is the namespace's carve.dev/workspace label; empty when
	// the namespace is in none (then Profiles is empty: carve does not
	// manage its pods).
	Workspace string `json:"workspace,omitempty"`
	Team      string `json:"team,omitempty"`
	// Profiles are the workspace's allowedProfiles, in its order.
	Profiles []ProfileReport `json:"profiles"`
}

// ProfileReport is one allowed profile.
type ProfileReport struct {
	Name string `json:"name"`
	// Default is true for the workspace's defaultProfile: the one a pod
	// without a carve.dev/profile label gets.
	Default bool `json:"default"`
	// Exists is false when the workspace allows a profile that does not
	// exist (pods that pick it are refused with ProfileUnknown).
	Exists           bool   `json:"exists"`
	Description      string `json:"description,omitempty"`
	CPU              string `json:"cpu,omitempty"`
	CPULimit         string `json:"cpuLimit,omitempty"`
	Memory           string `json:"memory,omitempty"`
	EphemeralStorage string `json:"ephemeralStorage,omitempty"`
	GPU              int32  `json:"gpu,omitempty"`
	GPUProduct       string `json:"gpuProduct,omitempty"`
	// Pools are the profile's nodePools with one node's price.
	Pools []PoolPrice `json:"pools"`
}

// PoolPrice is a NodePool's price for one node an hour (spec.pricePerHour):
// the price of the whole node, not of a pod's share of it.
type PoolPrice struct {
	Name string `json:"name"`
	// Exists is false for a pool that does not exist (pods are refused with
	// NodePoolMissing).
	Exists       bool   `json:"exists"`
	PricePerHour string `json:"nodePricePerHour,omitempty"`
}

func newProfilesCommand(e *env) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "profiles [-n NAMESPACE]",
		Short: "The profiles pods of a namespace may pick, their sizes, pools and node prices",
		Example: `  kubectl carve profiles -n ml-alice
  kubectl carve profiles -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReport(cmd.Context(), e, &out, func(ctx context.Context, c client.Client) (*ProfilesReport, error) {
				ns, err := e.namespace()
				if err != nil {
					return nil, err
				}
				return gatherProfiles(ctx, c, ns)
			}, printProfiles)
		},
	}
	out.add(cmd)
	return cmd
}

func gatherProfiles(ctx context.Context, c client.Client, ns string) (*ProfilesReport, error) {
	var n corev1.Namespace
	if err := c.Get(ctx, client.ObjectKey{Name: ns}, &n); err != nil {
		return nil, fmt.Errorf("reading namespace %s: %w", ns, err)
	}
	r := &ProfilesReport{Namespace: ns, Workspace: n.Labels[carvev1.LabelWorkspace], Team: n.Labels[carvev1.LabelTeam], Profiles: []ProfileReport{}}
	if r.Workspace == "" {
		return r, nil
	}
	var ws carvev1.Workspace
	if err := c.Get(ctx, client.ObjectKey{Name: r.Workspace}, &ws); err != nil {
		return nil, fmt.Errorf("reading workspace %s of namespace %s: %w", r.Workspace, ns, err)
	}
	pools := map[string]*carvev1.NodePool{}
	for _, name := range ws.Spec.AllowedProfiles {
		p := ProfileReport{Name: name, Default: name == ws.Spec.DefaultProfile, Pools: []PoolPrice{}}
		var rp carvev1.ResourceProfile
		switch err := c.Get(ctx, client.ObjectKey{Name: name}, &rp); {
		case apierrors.IsNotFound(err):
			r.Profiles = append(r.Profiles, p)
			continue
		case err != nil:
			return nil, fmt.Errorf("reading ResourceProfile %s: %w", name, err)
		}
		p.Exists = true
		p.Description = rp.Spec.Description
		p.CPU, p.Memory = rp.Spec.CPU.String(), rp.Spec.Memory.String()
		p.CPULimit, p.EphemeralStorage = quantity(rp.Spec.CPULimit), quantity(rp.Spec.EphemeralStorage)
		if g := rp.Spec.GPU; g != nil {
			p.GPU, p.GPUProduct = g.Count, g.Product
		}
		for _, pool := range rp.Spec.NodePools {
			np, seen := pools[pool]
			if !seen {
				var got carvev1.NodePool
				switch err := c.Get(ctx, client.ObjectKey{Name: pool}, &got); {
				case err == nil:
					np = &got
				case !apierrors.IsNotFound(err):
					return nil, fmt.Errorf("reading NodePool %s: %w", pool, err)
				}
				pools[pool] = np
			}
			pp := PoolPrice{Name: pool, Exists: np != nil}
			if np != nil {
				pp.PricePerHour = price(np.Spec.PricePerHour)
			}
			p.Pools = append(p.Pools, pp)
		}
		r.Profiles = append(r.Profiles, p)
	}
	return r, nil
}

func printProfiles(w io.Writer, r *ProfilesReport) error {
	if r.Workspace == "" {
		_, err := fmt.Fprintf(w, "Namespace %s is in no workspace (no %s label): carve does not manage its pods, and no profile applies.\n", r.Namespace, carvev1.LabelWorkspace)
		return err
	}
	in := "workspace " + r.Workspace
	if r.Team != "" {
		in += ", team " + r.Team
	}
	fmt.Fprintf(w, "Namespace %s is in %s. Pick a profile with the pod label %s=<profile>; without it, the default applies.\n\n", r.Namespace, in, carvev1.LabelProfile)
	t := newTable(w, "PROFILE", "DEFAULT", "CPU", "MEMORY", "GPU", "POOLS", "NODE PRICE/H", "DESCRIPTION")
	for _, p := range r.Profiles {
		def := ""
		if p.Default {
			def = "yes"
		}
		if !p.Exists {
			t.row(p.Name, def, "", "", "", "", "", "does not exist: pods that pick it are refused")
			continue
		}
		cpu := p.CPU
		if p.CPULimit != "" && p.CPULimit != p.CPU {
			cpu += " (up to " + p.CPULimit + ")"
		}
		gpu := ""
		if p.GPU > 0 {
			gpu = fmt.Sprint(p.GPU)
			if p.GPUProduct != "" {
				gpu += " " + p.GPUProduct
			}
		}
		var names, prices []string
		for _, pp := range p.Pools {
			names = append(names, pp.Name)
			switch {
			case !pp.Exists:
				prices = append(prices, pp.Name+": missing")
			case pp.PricePerHour == "":
				prices = append(prices, none)
			default:
				prices = append(prices, pp.PricePerHour)
			}
		}
		t.row(p.Name, def, cpu, p.Memory, gpu, strings.Join(names, ","), strings.Join(prices, ","), p.Description)
	}
	return t.flush()
}
