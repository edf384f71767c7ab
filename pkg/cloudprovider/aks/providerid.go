package aks

import (
	"fmt"
	"regexp"
	"strings"
)

const (
	// providerIDPrefix starts the spec.providerID of every AKS node: the
	// prefix, then the VM's ARM resource id.
	providerIDPrefix = "azure://"
	// placeholderPrefix starts the ids of capacity asked for but not yet
	// backed by a machine: aks-placeholder://<rg>/<cluster>/<agentPool>/<n>.
	// No Node ever carries one.
	placeholderPrefix = "aks-placeholder://"
)

// vmID is a VMSS VM as a provider id names it:
// azure:///subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachineScaleSets/<vmss>/virtualMachines/<n>.
type vmID struct {
	subscription, resourceGroup, scaleSet, instance string
}

// parseProviderID reads a VMSS VM provider id. The path's keywords are
// compared case-insensitively, as ARM does; the resource group in
// particular appears as MC_… in ARM answers and mc_… in Node provider ids.
func parseProviderID(id string) (vmID, error) {
	rest, ok := strings.CutPrefix(id, providerIDPrefix)
	if !ok {
		return vmID{}, fmt.Errorf("%q is not an Azure provider id (want %s/subscriptions/…)", id, providerIDPrefix)
	}
	parts := strings.Split(rest, "/")
	// "", subscriptions, <s>, resourceGroups, <rg>, providers, Microsoft.Compute,
	// virtualMachineScaleSets, <vmss>, virtualMachines, <n>
	want := []string{"", "subscriptions", "", "resourcegroups", "", "providers", "microsoft.compute", "virtualmachinescalesets", "", "virtualmachines", ""}
	if len(parts) != len(want) {
		return vmID{}, fmt.Errorf("%q is not the provider id of a scale set VM (want %s/subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachineScaleSets/<vmss>/virtualMachines/<n>)", id, providerIDPrefix)
	}
	for i, w := range want {
		if w == "" {
			if i > 0 && parts[i] == "" {
				return vmID{}, fmt.Errorf("%q has an empty segment at position %d", id, i)
			}
			continue
		}
		if !strings.EqualFold(parts[i], w) {
			return vmID{}, fmt.Errorf("%q is not the provider id of a scale set VM: %q where %q belongs", id, parts[i], w)
		}
	}
	if parts[0] != "" {
		return vmID{}, fmt.Errorf("%q is not an Azure provider id (want %s/subscriptions/…)", id, providerIDPrefix)
	}
	return vmID{subscription: parts[2], resourceGroup: parts[4], scaleSet: parts[8], instance: parts[10]}, nil
}

// key is the form ids are compared in: ARM resource ids are
// case-insensitive.
func (v vmID) key() string {
	return strings.ToLower(v.subscription + "/" + v.resourceGroup + "/" + v.scaleSet + "/" + v.instance)
}

// nodeProviderID is the provider id a Node of the VM with ARM resource id
// resourceID carries: the cloud provider writes the resource group in
// lower case, whatever case ARM answers with, and the autoscaler matches
// Nodes to instances by exact string.
func nodeProviderID(resourceID string) (string, vmID, error) {
	v, err := parseProviderID(providerIDPrefix + resourceID)
	if err != nil {
		return "", vmID{}, err
	}
	return fmt.Sprintf("%s/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/%s/virtualMachines/%s",
		providerIDPrefix, v.subscription, strings.ToLower(v.resourceGroup), v.scaleSet, v.instance), v, nil
}

// aksScaleSet matches the scale set AKS makes for an agent pool:
// aks-<agentPool>-<hash of the cluster>-vmss.
var aksScaleSet = regexp.MustCompile(`^aks-([a-z][a-z0-9]{0,11})-[0-9]+-vmss$`)

// scaleSetOfPool says whether AKS's naming makes scaleSet the agent pool's.
// It is the fallback for a pool whose machines carve has not seen; once
// the pool has machines, their scale set decides.
func scaleSetOfPool(scaleSet, agentPool string) bool {
	m := aksScaleSet.FindStringSubmatch(strings.ToLower(scaleSet))
	return m != nil && m[1] == strings.ToLower(agentPool)
}

// placeholderPrefixOf is how every placeholder id of pool starts.
func placeholderPrefixOf(p poolRef) string {
	k := p.key()
	return placeholderPrefix + k.resourceGroup + "/" + k.cluster + "/" + k.agentPool + "/"
}
