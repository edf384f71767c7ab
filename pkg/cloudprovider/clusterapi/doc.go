// Package clusterapi is carve's Cluster API platform for on-premises
// clusters: a NodePool of type ClusterAPI names a cluster.x-k8s.io/v1beta2
// MachineDeployment, which carve scales through its scale subresource and
// whose Machines it deletes by the cluster.x-k8s.io/delete-machine
// annotation (package machineset does the work; this package says what
// Cluster API looks like). MachineSetKind scales MachineSets instead, for a
// platform instance that serves MachineSets only: a pool's reference has
// no kind to choose by.
//
// carve-cloudprovider must run where the Machines and the Nodes both are
// (a self-managed cluster); a separate management cluster is not
// supported.
//
// docs/platforms/clusterapi.md is the admin's page.
package clusterapi
