// Package cloudprovider is the contract between carve-cloudprovider and the
// platforms its nodes come from, the way karpenter keeps its
// cloudprovider/types.go: the Platform interface and its optional companions
// (Refresher, NodeTemplater, ProviderIDMapper, TemplateChecker), Instance
// and its states, the typed errors platforms return (and their gRPC codes),
// the node a pool's template describes, the pool-grouped Node index
// (PoolNodes), and pricing. Every backend (kwok, eks, aks, openshift,
// clusterapi) imports only this package and cloudcall; the gRPC server and
// its guards live in package server, the NodePool status writer in package
// poolstatus.
//
// # Why Platform has these four methods
//
// The autoscaler thinks in target sizes and instance ids; clouds differ in
// which of the two they store. Platform asks only for what every one of them
// can do:
//
//   - Create(pool, n) — "n more": EKS raises the Auto Scaling group's desired
//     capacity by n (SetDesiredCapacity); AKS raises the agent pool's count
//     (agent pool PUT / VMSS capacity); OpenShift raises the MachineSet's
//     spec.replicas; Cluster API patches the MachineDeployment's scale
//     subresource; kwok writes n Node objects. None of them needs to know ids
//     in advance, and all of them apply the increase atomically.
//   - Delete(pool, ids) — "exactly these": EKS calls
//     TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity;
//     AKS deletes the VMSS instances (or the agent pool machines); OpenShift
//     and Cluster API annotate the Machines with the delete-machine
//     annotation and lower replicas by as many; kwok deletes the Nodes.
//     Deleting a chosen instance, never "some" instance, is what lets carve's
//     guards (a session on that node) mean anything.
//   - Instances(pool) — ids are the nodes' spec.providerID, which every
//     platform can produce (aws:///zone/i-…, azure:///subscriptions/…,
//     the Machine's providerID, kwok://pool/node). Capacity asked for but not
//     yet backed by a machine is listed as "creating" under a placeholder id
//     unique in the pool (as the autoscaler's own AWS provider does); Delete
//     of such an id lowers the desired count without touching a machine. That
//     is how DecreaseTargetSize forgets unregistered capacity through Delete
//     alone, without a fifth method.
//   - TargetSize(pool) — the desired count the platform stores (ASG desired
//     capacity, agent pool count, replicas); kwok computes it.
//
// Guards, locking and id mapping live in package server, above the Platform,
// and template building here, so that no backend repeats them.
package cloudprovider
