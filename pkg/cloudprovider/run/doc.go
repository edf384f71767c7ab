// Package run assembles carve-cloudprovider: informers for NodePools and
// Nodes (keeping only what it reads, cache.go), Nodes grouped by pool, the
// platforms this build offers (kwok), the externalgrpc Server, and
// a gRPC listener with the TLS the autoscaler's cloud-config asks for.
// cmd/carve-cloudprovider and the integration tests both start it through
// Run, so the tests exercise what ships.
//
// The identity it runs as needs: get/list/watch on nodepools.carve.dev and
// nodes; list on pods (read live, by spec.nodeName, before a node goes);
// create and delete on nodes for the kwok platform; update on nodes (the
// carve.dev/deleting taint on a node about to go); patch on
// nodepools/status (the NodePool status writer); create and patch on
// events.k8s.io events in the namespace "default", where the Events of
// refused requests on (cluster-scoped) NodePools land.
package run
