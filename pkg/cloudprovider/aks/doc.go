// Package aks is carve's Azure Kubernetes Service platform: a NodePool of
// type AKS is one agent pool (spec.platform.aks: subscriptionID,
// resourceGroup, cluster, agentPool) of the VirtualMachineScaleSets type,
// scaled through the AKS agent pool API of armcontainerservice/v6. It owns
// the agent pool cache, the mapping between provider ids and AKS machines,
// the tracking of AKS's long-running operations, and the classification of
// Azure Resource Manager errors for cloudcall.
//
// # Calls
//
//   - Create(n): GET the agent pool, PUT it back with count+n and If-Match
//     on its ETag (a 412 redoes both, through cloudcall). A pool with AKS's
//     own cluster autoscaler on (enableAutoScaling) is refused, ErrRefused
//     (and Refusal says so for the pool's Ready condition): two autoscalers
//     would fight over its count.
//   - Delete(ids): POST deleteMachines with the machines' names (AKS lowers
//     the count by as many). Placeholders only lower the count (GET + PUT),
//     never below the machines a fresh machine list shows, so that AKS never
//     picks a machine that came up meanwhile.
//   - Instances, TargetSize, TemplateDifferences, TemplateNode: no call once
//     the pool is cached; a pool not cached yet costs a GET and a machine
//     list.
//   - Refresh: one agent pool list per cluster (all pools of a cluster in
//     one answer), then per pool a machine list only if AKS changed the pool
//     (its ETag, provisioning state or count), capacity is being created or
//     deleted, an operation ended, or the last list is older than
//     Options.MachinesTTL; and one poll per operation of carve's once the
//     listed agent pool no longer says it is busy (plus, for a count
//     update that succeeded, the SDK poller's final GET). In steady state a
//     Refresh costs one call per cluster. TestCallBudget measures 66 calls
//     for 50 pools in 2 clusters over 6 autoscaler loops, one pool scaling
//     up meanwhile, against 900 for a backend without the cache.
//
// # Machines and provider ids
//
// A Node of a scale set VM has spec.providerID
// azure:///subscriptions/<s>/resourceGroups/<node rg>/providers/Microsoft.Compute/virtualMachineScaleSets/<vmss>/virtualMachines/<n>,
// the resource group in lower case; ARM answers with the VM's resource id
// with the resource group as MC_…. The Machines API lists each machine of
// the agent pool with its name (what deleteMachines takes,
// aks-<pool>-<hash>-vmss<base-36 instance id>) and the VM's resource id, so
// the cached machine list maps one to the other, comparing ids
// case-insensitively. Instances lists machines under the id their Node
// carries. A VM not in the cached list is looked up in a fresh one when its
// scale set is the pool's (the scale set of the pool's known machines, or
// AKS's naming aks-<agentPool>-<digits>-vmss for a pool with none); a VM
// still missing is gone, not an error; a VM of another scale set, another
// subscription or a malformed id is ErrInvalid and nothing is changed.
//
// # Long-running operations
//
// A count update or a machine deletion takes minutes on Azure; the
// autoscaler's RPCs time out after about 10 s. So Create and Delete return
// once AKS accepted the request (201/202), record the SDK poller, and
// update the cache at once: the target is the new count, the missing
// capacity is listed as creating under placeholder ids
// (aks-placeholder://<rg>/<cluster>/<agentPool>/<n>, unique across
// restarts), deleted machines as deleting. A later Refresh polls the
// operation once AKS's listed provisioning state says the pool is done; a
// failed count update shows its error on the placeholders (InstanceError,
// OutOfResources for quota and capacity codes, also found in the error's
// details), which the autoscaler then deletes; a failed deletion shows its
// error on the machines still there, running again.
//
// AKS runs one operation per agent pool at a time (a second gets 409
// OperationNotAllowed). A change made while an operation of carve's still
// runs (checked with one poll) is queued, acknowledged and shown in the
// cache, and sent by the Refresh that sees the operation end; changes
// queued together are summed into one count update. A queued change that
// then fails shows its error like a failed operation; a transient failure
// leaves it queued. Queued changes live in memory: after a restart the
// autoscaler sees the cloud's count and decides again.
//
// # Why the agent pool API and not the scale set
//
// The agent pool API does all the backend needs — the count, deletion of
// given machines, the machine ↔ VM mapping — and it is what AKS supports:
// AKS reconciles its scale sets to the agent pool, so changing a scale set
// behind it (armcompute) is unsupported, needs rights on the node resource
// group, and costs a large SDK to compile. armcompute is not used.
package aks
