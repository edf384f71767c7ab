// Package machineset is what carve's OpenShift Machine API and Cluster API
// platforms do the same way: scale a namespaced object with a scale
// subresource (an OpenShift MachineSet, a Cluster API MachineDeployment)
// whose controller creates Machines, and map those Machines to the Nodes
// they become. Packages openshift and clusterapi only describe their API
// (a Kind: the group/version/kinds, the annotations their controllers read
// and write, where a Machine says it failed) and wrap New.
//
// # What it owns
//
//   - Create raises the set's spec.replicas through the scale subresource:
//     a read of the scale and an update carrying its resourceVersion, retried
//     by cloudcall when the apiserver answers Conflict.
//   - Delete annotates each named Machine with the API's delete-machine
//     annotation (its set controller deletes annotated Machines first) and
//     then lowers spec.replicas by as many in one scale update; if that
//     update fails, the annotations it added are removed again.
//   - Instances lists the set's Machines (its namespace, its spec.selector,
//     and for a MachineSet a controller ownerReference to it, if any): a
//     Machine whose Node exists is running under the Node's providerID; one
//     without a Node is creating under its own providerID, or under
//     carve-machine://<namespace>/<machine> while it has none; replicas no
//     Machine backs yet are creating under
//     carve-placeholder://<namespace>/<set>/<n>. Machines with a
//     deletionTimestamp, or that this process marked and counted out, are
//     deleting. A failed Machine carries its failure as the InstanceError.
//   - Reads come from informers (sets, Machines, and the provider's Node
//     informer), summarised by event handlers, so that the autoscaler's
//     per-loop NodeGroupNodes and TargetSize calls cost no API call. What
//     this process wrote and the informers do not show yet is kept in a
//     small record, so TargetSize is right at once.
//   - TemplateDifferences compares the autoscaler's scale-from-zero
//     annotations (capacity.cluster-autoscaler.kubernetes.io/*) on the set
//     with the NodePool's template.
//   - PoolForProviderID maps a Machine's (or its Node's) providerID to the
//     pool of its set, from the cache.
//   - A Kind may refuse a set (OpenShift: one a MachineAutoscaler owns):
//     Create and Delete then return a RefusedError, an ErrRefused with a
//     reason for the NodePool's conditions; reads still work.
//
// Nothing here knows OpenShift or Cluster API by name; a Kind says it.
package machineset
