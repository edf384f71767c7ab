package externalgrpc_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/carve-dev/carve/pkg/cloudprovider/externalgrpc"
)

// The expectations below are written from the protocol's published facts
// (package, service, methods, messages with field names, types and numbers),
// not read from the generated code, so a change to the .proto that would
// break cluster-autoscaler fails here.

const protoPackage = "clusterautoscaler.cloudprovider.v1.externalgrpc"

type rpc struct {
	Name, Request, Response string
}

var wantRPCs = []rpc{
	{"NodeGroups", "NodeGroupsRequest", "NodeGroupsResponse"},
	{"NodeGroupForNode", "NodeGroupForNodeRequest", "NodeGroupForNodeResponse"},
	{"PricingNodePrice", "PricingNodePriceRequest", "PricingNodePriceResponse"},
	{"PricingPodPrice", "PricingPodPriceRequest", "PricingPodPriceResponse"},
	{"GPULabel", "GPULabelRequest", "GPULabelResponse"},
	{"GetAvailableGPUTypes", "GetAvailableGPUTypesRequest", "GetAvailableGPUTypesResponse"},
	{"Cleanup", "CleanupRequest", "CleanupResponse"},
	{"Refresh", "RefreshRequest", "RefreshResponse"},
	{"NodeGroupTargetSize", "NodeGroupTargetSizeRequest", "NodeGroupTargetSizeResponse"},
	{"NodeGroupIncreaseSize", "NodeGroupIncreaseSizeRequest", "NodeGroupIncreaseSizeResponse"},
	{"NodeGroupDeleteNodes", "NodeGroupDeleteNodesRequest", "NodeGroupDeleteNodesResponse"},
	{"NodeGroupDecreaseTargetSize", "NodeGroupDecreaseTargetSizeRequest", "NodeGroupDecreaseTargetSizeResponse"},
	{"NodeGroupNodes", "NodeGroupNodesRequest", "NodeGroupNodesResponse"},
	{"NodeGroupTemplateNodeInfo", "NodeGroupTemplateNodeInfoRequest", "NodeGroupTemplateNodeInfoResponse"},
	{"NodeGroupGetOptions", "NodeGroupAutoscalingOptionsRequest", "NodeGroupAutoscalingOptionsResponse"},
}

// field describes one message field as it travels on the wire. Type is the
// message or enum a field refers to (relative to protoPackage, or a
// google.protobuf name), or "map<K, V>" for a map; empty for scalars.
type field struct {
	Name     string
	Number   protoreflect.FieldNumber
	Kind     protoreflect.Kind
	Repeated bool
	Type     string
}

const (
	str  = protoreflect.StringKind
	i32  = protoreflect.Int32Kind
	dbl  = protoreflect.DoubleKind
	boo  = protoreflect.BoolKind
	byt  = protoreflect.BytesKind
	msg  = protoreflect.MessageKind
	enum = protoreflect.EnumKind
)

var wantMessages = map[string][]field{
	"NodeGroup": {
		{Name: "id", Number: 1, Kind: str},
		{Name: "minSize", Number: 2, Kind: i32},
		{Name: "maxSize", Number: 3, Kind: i32},
		{Name: "debug", Number: 4, Kind: str},
	},
	"ExternalGrpcNode": {
		{Name: "providerID", Number: 1, Kind: str},
		{Name: "name", Number: 2, Kind: str},
		{Name: "labels", Number: 3, Kind: msg, Repeated: true, Type: "map<string, string>"},
		{Name: "annotations", Number: 4, Kind: msg, Repeated: true, Type: "map<string, string>"},
	},
	"Instance": {
		{Name: "id", Number: 1, Kind: str},
		{Name: "status", Number: 2, Kind: msg, Type: "InstanceStatus"},
	},
	"InstanceStatus": {
		{Name: "instanceState", Number: 1, Kind: enum, Type: "InstanceStatus.InstanceState"},
		{Name: "errorInfo", Number: 2, Kind: msg, Type: "InstanceErrorInfo"},
	},
	"InstanceErrorInfo": {
		{Name: "errorCode", Number: 1, Kind: str},
		{Name: "errorMessage", Number: 2, Kind: str},
		{Name: "instanceErrorClass", Number: 3, Kind: i32},
	},
	"NodeGroupAutoscalingOptions": {
		{Name: "scaleDownUtilizationThreshold", Number: 1, Kind: dbl},
		{Name: "scaleDownGpuUtilizationThreshold", Number: 2, Kind: dbl},
		{Name: "zeroOrMaxNodeScaling", Number: 6, Kind: boo},
		{Name: "ignoreDaemonSetsUtilization", Number: 7, Kind: boo},
		{Name: "scaleDownUnneededDuration", Number: 8, Kind: msg, Type: "google.protobuf.Duration"},
		{Name: "scaleDownUnreadyDuration", Number: 9, Kind: msg, Type: "google.protobuf.Duration"},
		{Name: "MaxNodeProvisionDuration", Number: 10, Kind: msg, Type: "google.protobuf.Duration"},
	},

	"NodeGroupsRequest": nil,
	"NodeGroupsResponse": {
		{Name: "nodeGroups", Number: 1, Kind: msg, Repeated: true, Type: "NodeGroup"},
	},
	"NodeGroupForNodeRequest": {
		{Name: "node", Number: 1, Kind: msg, Type: "ExternalGrpcNode"},
	},
	"NodeGroupForNodeResponse": {
		{Name: "nodeGroup", Number: 1, Kind: msg, Type: "NodeGroup"},
	},
	"PricingNodePriceRequest": {
		{Name: "node", Number: 1, Kind: msg, Type: "ExternalGrpcNode"},
		{Name: "startTimestamp", Number: 4, Kind: msg, Type: "google.protobuf.Timestamp"},
		{Name: "endTimestamp", Number: 5, Kind: msg, Type: "google.protobuf.Timestamp"},
	},
	"PricingNodePriceResponse": {
		{Name: "price", Number: 1, Kind: dbl},
	},
	"PricingPodPriceRequest": {
		{Name: "pod_bytes", Number: 4, Kind: byt},
		{Name: "startTimestamp", Number: 5, Kind: msg, Type: "google.protobuf.Timestamp"},
		{Name: "endTimestamp", Number: 6, Kind: msg, Type: "google.protobuf.Timestamp"},
	},
	"PricingPodPriceResponse": {
		{Name: "price", Number: 1, Kind: dbl},
	},
	"GPULabelRequest": nil,
	"GPULabelResponse": {
		{Name: "label", Number: 1, Kind: str},
	},
	"GetAvailableGPUTypesRequest": nil,
	"GetAvailableGPUTypesResponse": {
		{Name: "gpuTypes", Number: 1, Kind: msg, Repeated: true, Type: "map<string, google.protobuf.Any>"},
	},
	"CleanupRequest":  nil,
	"CleanupResponse": nil,
	"RefreshRequest":  nil,
	"RefreshResponse": nil,
	"NodeGroupTargetSizeRequest": {
		{Name: "id", Number: 1, Kind: str},
	},
	"NodeGroupTargetSizeResponse": {
		{Name: "targetSize", Number: 1, Kind: i32},
	},
	"NodeGroupIncreaseSizeRequest": {
		{Name: "delta", Number: 1, Kind: i32},
		{Name: "id", Number: 2, Kind: str},
	},
	"NodeGroupIncreaseSizeResponse": nil,
	"NodeGroupDeleteNodesRequest": {
		{Name: "nodes", Number: 1, Kind: msg, Repeated: true, Type: "ExternalGrpcNode"},
		{Name: "id", Number: 2, Kind: str},
	},
	"NodeGroupDeleteNodesResponse": nil,
	"NodeGroupDecreaseTargetSizeRequest": {
		{Name: "delta", Number: 1, Kind: i32},
		{Name: "id", Number: 2, Kind: str},
	},
	"NodeGroupDecreaseTargetSizeResponse": nil,
	"NodeGroupNodesRequest": {
		{Name: "id", Number: 1, Kind: str},
	},
	"NodeGroupNodesResponse": {
		{Name: "instances", Number: 1, Kind: msg, Repeated: true, Type: "Instance"},
	},
	"NodeGroupTemplateNodeInfoRequest": {
		{Name: "id", Number: 1, Kind: str},
	},
	"NodeGroupTemplateNodeInfoResponse": {
		{Name: "nodeBytes", Number: 2, Kind: byt},
	},
	"NodeGroupAutoscalingOptionsRequest": {
		{Name: "id", Number: 1, Kind: str},
		{Name: "defaults", Number: 2, Kind: msg, Type: "NodeGroupAutoscalingOptions"},
	},
	"NodeGroupAutoscalingOptionsResponse": {
		{Name: "nodeGroupAutoscalingOptions", Number: 1, Kind: msg, Type: "NodeGroupAutoscalingOptions"},
	},
}

type enumValue struct {
	Name   string
	Number protoreflect.EnumNumber
}

var wantInstanceStates = []enumValue{
	{"unspecified", 0},
	{"instanceRunning", 1},
	{"instanceCreating", 2},
	{"instanceDeleting", 3},
}

func file(t *testing.T) protoreflect.FileDescriptor {
	t.Helper()
	fd := externalgrpc.File_externalgrpc_proto
	if got := string(fd.Package()); got != protoPackage {
		t.Fatalf("proto package = %q, want %q", got, protoPackage)
	}
	return fd
}

func TestMethodNames(t *testing.T) {
	fd := file(t)
	sd := fd.Services().ByName("CloudProvider")
	if sd == nil {
		t.Fatal("service CloudProvider not found")
	}

	var got, want []rpc
	var gotFull, wantFull []string
	for _, r := range wantRPCs {
		want = append(want, rpc{r.Name, protoPackage + "." + r.Request, protoPackage + "." + r.Response})
		wantFull = append(wantFull, "/"+protoPackage+".CloudProvider/"+r.Name)
	}
	for i := range sd.Methods().Len() {
		m := sd.Methods().Get(i)
		if m.IsStreamingClient() || m.IsStreamingServer() {
			t.Errorf("method %s streams; every externalgrpc method is unary", m.Name())
		}
		got = append(got, rpc{string(m.Name()), string(m.Input().FullName()), string(m.Output().FullName())})
		gotFull = append(gotFull, fmt.Sprintf("/%s/%s", sd.FullName(), m.Name()))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("methods of the service descriptor (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantFull, gotFull); diff != "" {
		t.Errorf("full method names (-want +got):\n%s", diff)
	}

	// The grpc stubs route by ServiceDesc, which must agree with the descriptor.
	desc := externalgrpc.CloudProvider_ServiceDesc
	var stubFull []string
	for _, m := range desc.Methods {
		stubFull = append(stubFull, "/"+desc.ServiceName+"/"+m.MethodName)
	}
	if diff := cmp.Diff(wantFull, stubFull); diff != "" {
		t.Errorf("full method names of CloudProvider_ServiceDesc (-want +got):\n%s", diff)
	}
	if len(desc.Streams) != 0 {
		t.Errorf("CloudProvider_ServiceDesc has %d streams, want none", len(desc.Streams))
	}
}

func TestMessageFields(t *testing.T) {
	fd := file(t)

	var gotNames, wantNames []string
	for name := range wantMessages {
		wantNames = append(wantNames, name)
	}
	for i := range fd.Messages().Len() {
		gotNames = append(gotNames, string(fd.Messages().Get(i).Name()))
	}
	slices.Sort(wantNames)
	slices.Sort(gotNames)
	if diff := cmp.Diff(wantNames, gotNames); diff != "" {
		t.Errorf("top-level messages (-want +got):\n%s", diff)
	}

	for name, want := range wantMessages {
		md := fd.Messages().ByName(protoreflect.Name(name))
		if md == nil {
			continue // reported above
		}
		var got []field
		for i := range md.Fields().Len() {
			got = append(got, describe(md.Fields().Get(i)))
		}
		slices.SortFunc(got, func(a, b field) int { return int(a.Number) - int(b.Number) })
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("fields of %s (-want +got):\n%s", name, diff)
		}
	}

	ed := fd.Messages().ByName("InstanceStatus").Enums().ByName("InstanceState")
	if ed == nil {
		t.Fatal("enum InstanceStatus.InstanceState not found")
	}
	var got []enumValue
	for i := range ed.Values().Len() {
		v := ed.Values().Get(i)
		got = append(got, enumValue{string(v.Name()), v.Number()})
	}
	if diff := cmp.Diff(wantInstanceStates, got); diff != "" {
		t.Errorf("values of InstanceStatus.InstanceState (-want +got):\n%s", diff)
	}
}

// describe reads a field's wire-relevant facts through protoreflect.
func describe(fd protoreflect.FieldDescriptor) field {
	f := field{
		Name:     string(fd.Name()),
		Number:   fd.Number(),
		Kind:     fd.Kind(),
		Repeated: fd.Cardinality() == protoreflect.Repeated,
	}
	switch {
	case fd.IsMap():
		f.Type = fmt.Sprintf("map<%s, %s>", typeName(fd.MapKey()), typeName(fd.MapValue()))
	default:
		f.Type = refName(fd)
	}
	return f
}

func typeName(fd protoreflect.FieldDescriptor) string {
	if n := refName(fd); n != "" {
		return n
	}
	return fd.Kind().String()
}

func refName(fd protoreflect.FieldDescriptor) string {
	var full protoreflect.FullName
	switch {
	case fd.Message() != nil:
		full = fd.Message().FullName()
	case fd.Enum() != nil:
		full = fd.Enum().FullName()
	default:
		return ""
	}
	return strings.TrimPrefix(string(full), protoPackage+".")
}

// TestNodeGroupBytes pins the encoding of one message byte by byte, worked out
// by hand from the protobuf encoding rules: a key is (number<<3 | wire type),
// strings are wire type 2 (length-delimited), int32 is wire type 0 (varint).
func TestNodeGroupBytes(t *testing.T) {
	ng := &externalgrpc.NodeGroup{Id: "a", MinSize: 1, MaxSize: 3}
	want := []byte{
		0x0a, 0x01, 'a', // field 1, length-delimited, 1 byte: "a"
		0x10, 0x01, // field 2, varint: 1
		0x18, 0x03, // field 3, varint: 3
	}
	got, err := proto.MarshalOptions{Deterministic: true}.Marshal(ng)
	if err != nil {
		t.Fatalf("marshalling %v: %v", ng, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NodeGroup bytes (-want +got):\n%s", diff)
	}

	back := &externalgrpc.NodeGroup{}
	if err := proto.Unmarshal(want, back); err != nil {
		t.Fatalf("unmarshalling % x: %v", want, err)
	}
	if diff := cmp.Diff(ng, back, protocmp.Transform()); diff != "" {
		t.Errorf("NodeGroup decoded from hand-written bytes (-want +got):\n%s", diff)
	}
}

// twoGroups answers NodeGroups and leaves every other method unimplemented.
type twoGroups struct {
	externalgrpc.UnimplementedCloudProviderServer
}

var groups = []*externalgrpc.NodeGroup{
	{Id: "cpu", MinSize: 1, MaxSize: 10, Debug: "base pool"},
	{Id: "gpu", MinSize: 0, MaxSize: 4},
}

func (twoGroups) NodeGroups(context.Context, *externalgrpc.NodeGroupsRequest) (*externalgrpc.NodeGroupsResponse, error) {
	return &externalgrpc.NodeGroupsResponse{NodeGroups: groups}, nil
}

func TestRoundTrip(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening on loopback: %v", err)
	}
	srv := grpc.NewServer()
	externalgrpc.RegisterCloudProviderServer(srv, twoGroups{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("serving: %v", err)
		}
	})

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dialling %s: %v", lis.Addr(), err)
	}
	t.Cleanup(func() { conn.Close() })
	client := externalgrpc.NewCloudProviderClient(conn)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	resp, err := client.NodeGroups(ctx, &externalgrpc.NodeGroupsRequest{})
	if err != nil {
		t.Fatalf("NodeGroups: %v", err)
	}
	want := &externalgrpc.NodeGroupsResponse{NodeGroups: groups}
	if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" {
		t.Errorf("NodeGroups response (-want +got):\n%s", diff)
	}

	// An optional RPC the server does not implement must answer Unimplemented:
	// that is how cluster-autoscaler learns a feature is absent.
	_, err = client.NodeGroupTemplateNodeInfo(ctx, &externalgrpc.NodeGroupTemplateNodeInfoRequest{Id: "gpu"})
	if got := status.Code(err); got != codes.Unimplemented {
		t.Errorf("NodeGroupTemplateNodeInfo on a server without it: code %v (err %v), want %v", got, err, codes.Unimplemented)
	}
}
