package openshift

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/carve-dev/carve/pkg/cloudprovider"
)

func TestNodeMachine(t *testing.T) {
	type got struct {
		NS, Name string
		OK       bool
	}
	for v, want := range map[string]got{
		"openshift-machine-api/worker-a-x7k2p": {"openshift-machine-api", "worker-a-x7k2p", true},
		"worker-a-x7k2p":                       {},
		"/worker":                              {},
		"ns/":                                  {},
		"ns/a/b":                               {},
	} {
		ns, name, ok := NodeMachine(map[string]string{AnnotationMachine: v})
		if diff := cmp.Diff(want, got{ns, name, ok}); diff != "" {
			t.Errorf("NodeMachine(%q) (-want +got):\n%s", v, diff)
		}
	}
}

func TestFailure(t *testing.T) {
	status := func(kv ...string) map[string]any {
		s := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			s[kv[i]] = kv[i+1]
		}
		return map[string]any{"status": s}
	}
	tests := map[string]struct {
		obj  map[string]any
		want *cloudprovider.InstanceError
	}{
		"running":      {status("phase", "Running"), nil},
		"no status":    {map[string]any{}, nil},
		"out of stock": {status("phase", "Failed", "errorReason", "InsufficientResources", "errorMessage", "no capacity"), &cloudprovider.InstanceError{Code: "InsufficientResources", Message: "no capacity", OutOfResources: true}},
		"bad config":   {status("errorReason", "InvalidConfiguration", "errorMessage", "unknown instance type"), &cloudprovider.InstanceError{Code: "InvalidConfiguration", Message: "unknown instance type"}},
		"phase only":   {status("phase", "Failed"), &cloudprovider.InstanceError{Code: "MachineFailed", Message: "the Machine is in phase Failed"}},
	}
	for name, tc := range tests {
		if diff := cmp.Diff(tc.want, Failure(tc.obj)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func TestRefuse(t *testing.T) {
	if r, m := Refuse(map[string]string{"other": "x"}); r != "" || m != "" {
		t.Errorf("Refuse of a MachineSet without a MachineAutoscaler = %q, %q", r, m)
	}
	r, m := Refuse(map[string]string{AnnotationMachineAutoscaler: "openshift-machine-api/gpu"})
	if r != ReasonMachineAutoscaler || !strings.Contains(m, "openshift-machine-api/gpu") {
		t.Errorf("Refuse = %q, %q; want reason %s naming the MachineAutoscaler", r, m, ReasonMachineAutoscaler)
	}
}
