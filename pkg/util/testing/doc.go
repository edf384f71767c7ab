// Package testing has chainable builders for the objects carve's tests use —
// pods, namespaces, ResourceProfiles, Workspaces, NodePools, nodes — and an
// in-memory Lookup over a set of carve objects.
//
//	pod := testing.MakePod("p", "ns").Profile("small").Container("main", "1", "1Gi").Obj()
package testing
