// Package externalgrpc holds carve's definition of cluster-autoscaler's
// "externalgrpc" cloud-provider protocol (externalgrpc.proto) and the Go
// message types, client and server stubs generated from it by
// hack/gen-proto.sh. It owns wire compatibility with the autoscaler and
// nothing else: serving the protocol is the cloud provider's job.
//
// The .proto is carve's own, written to match the autoscaler's package,
// service, method names and field numbers; wire_test.go pins all of them.
package externalgrpc
