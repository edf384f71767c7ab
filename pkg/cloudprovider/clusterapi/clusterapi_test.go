package clusterapi

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/carve-dev/carve/pkg/cloudprovider"
)

func TestNodeMachine(t *testing.T) {
	type got struct {
		NS, Name string
		OK       bool
	}
	for name, tc := range map[string]struct {
		ann  map[string]string
		want got
	}{
		"name and namespace":  {map[string]string{AnnotationMachine: "md-0-abcde", AnnotationClusterNamespace: "clusters"}, got{"clusters", "md-0-abcde", true}},
		"namespace/name":      {map[string]string{AnnotationMachine: "clusters/md-0-abcde"}, got{"clusters", "md-0-abcde", true}},
		"name, no namespace":  {map[string]string{AnnotationMachine: "md-0-abcde"}, got{}},
		"no machine":          {map[string]string{AnnotationClusterNamespace: "clusters"}, got{}},
		"malformed namespace": {map[string]string{AnnotationMachine: "/md-0"}, got{}},
	} {
		ns, n, ok := NodeMachine(tc.ann)
		if diff := cmp.Diff(tc.want, got{ns, n, ok}); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func TestFailure(t *testing.T) {
	deprecated := func(reason, msg string) map[string]any {
		return map[string]any{"status": map[string]any{"phase": "Failed", "deprecated": map[string]any{"v1beta1": map[string]any{"failureReason": reason, "failureMessage": msg}}}}
	}
	tests := map[string]struct {
		obj  map[string]any
		want *cloudprovider.InstanceError
	}{
		"running":      {map[string]any{"status": map[string]any{"phase": "Running"}}, nil},
		"out of stock": {deprecated("InsufficientResources", "no hosts left"), &cloudprovider.InstanceError{Code: "InsufficientResources", Message: "no hosts left", OutOfResources: true}},
		"create error": {deprecated("CreateError", "vSphere clone failed"), &cloudprovider.InstanceError{Code: "CreateError", Message: "vSphere clone failed"}},
		"phase only":   {map[string]any{"status": map[string]any{"phase": "Failed"}}, &cloudprovider.InstanceError{Code: "MachineFailed", Message: "the Machine is in phase Failed"}},
		// v1beta1's top-level fields are not in the v1beta2 schema.
		"v1beta1 field": {map[string]any{"status": map[string]any{"failureMessage": "x"}}, nil},
	}
	for name, tc := range tests {
		if diff := cmp.Diff(tc.want, Failure(tc.obj)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func TestKinds(t *testing.T) {
	if k := Kind(); k.Set.Kind != "MachineDeployment" || k.DirectOwner || k.Set.Version != "v1beta2" {
		t.Errorf("Kind() = %+v", k)
	}
	if k := MachineSetKind(); k.Set.Kind != "MachineSet" || !k.DirectOwner {
		t.Errorf("MachineSetKind() = %+v", k)
	}
}
