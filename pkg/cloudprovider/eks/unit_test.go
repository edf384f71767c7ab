package eks

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/eks/asgserver"
)

func TestParseProviderID(t *testing.T) {
	tests := map[string]struct {
		want parsedID
		ok   bool
	}{
		"aws:///us-east-1a/i-0123456789abcdef0": {parsedID{instance: "i-0123456789abcdef0"}, true},
		"aws:///us-east-1a/i-01234567":          {parsedID{instance: "i-01234567"}, true},
		"aws:///placeholder/nodes-a-3":          {parsedID{placeholderGroup: "nodes-a"}, true},
		"aws:///placeholder/nodes-a":            {},
		"aws:///placeholder/-3":                 {},
		"aws:///placeholder/nodes-":             {},
		"aws:///us-east-1a/i-0123":              {},
		"aws:///us-east-1a/i-0123456789ABCDEF0": {},
		"aws:///us-east-1a/":                    {},
		"aws:////i-0123456789abcdef0":           {},
		"aws:///us-east-1a/x/i-01234567":        {},
		"kwok://pool/node":                      {},
		"":                                      {},
	}
	for id, tt := range tests {
		got, ok := parseProviderID(id)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseProviderID(%q) = %+v, %v; want %+v, %v", id, got, ok, tt.want, tt.ok)
		}
	}
	if got, ok := parseProviderID(placeholderID("a-b-1", 7)); !ok || got.placeholderGroup != "a-b-1" {
		t.Errorf("a placeholder id does not read back: %+v %v", got, ok)
	}
}

func respErr(status int, err error) error {
	return &smithy.OperationError{ServiceID: "Auto Scaling", OperationName: "X", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err,
	}}
}

func TestClassify(t *testing.T) {
	api := func(status int, code, msg string) error {
		return respErr(status, &smithy.GenericAPIError{Code: code, Message: msg})
	}
	tests := []struct {
		err   error
		kind  error
		retry bool
	}{
		{api(400, "Throttling", "Rate exceeded"), cloudprovider.ErrTransient, true},
		{api(400, "RequestLimitExceeded", ""), cloudprovider.ErrTransient, true},
		{api(400, "ScalingActivityInProgress", ""), cloudprovider.ErrTransient, true},
		{api(400, "ResourceContention", ""), cloudprovider.ErrTransient, true},
		{api(503, "ServiceUnavailable", ""), cloudprovider.ErrTransient, true},
		{api(500, "InternalFailure", ""), cloudprovider.ErrTransient, true},
		{respErr(502, errors.New("bad gateway")), cloudprovider.ErrTransient, true},
		{api(400, "ValidationError", "AutoScalingGroup name not found - AutoScalingGroup 'x' not found"), cloudprovider.ErrNotFound, false},
		{api(400, "ValidationError", "Instance Id not found - No managed instance found for instance ID: i-1"), cloudprovider.ErrNotFound, false},
		{api(400, "ValidationError", "New SetDesiredCapacity value 5 is above max value 4"), cloudprovider.ErrInvalid, false},
		{api(400, "LimitExceeded", ""), cloudprovider.ErrQuotaExceeded, false},
		{api(403, "AccessDenied", "not authorized"), nil, false},
		{api(403, "SignatureDoesNotMatch", ""), nil, false},
		{&smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: errors.New("connection refused")}}, cloudprovider.ErrTransient, true},
		{errors.New("something else"), nil, false},
	}
	for _, tt := range tests {
		v := Classify(tt.err)
		if v.Kind != tt.kind || v.Retry != tt.retry {
			t.Errorf("Classify(%v) = %v retry %v; want %v retry %v", tt.err, v.Kind, v.Retry, tt.kind, tt.retry)
		}
	}
}

func TestLaunchFailure(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	act := func(min int, status types.ScalingActivityStatusCode, desc, msg string) types.Activity {
		return types.Activity{StartTime: aws.Time(t0.Add(time.Duration(min) * time.Minute)), StatusCode: status, Description: aws.String(desc), StatusMessage: aws.String(msg)}
	}
	const (
		ok, failed, running = types.ScalingActivityStatusCodeSuccessful, types.ScalingActivityStatusCodeFailed, types.ScalingActivityStatusCodeInProgress
		launch, term        = "Launching a new EC2 instance", "Terminating EC2 instance: i-1"
		noCapacity          = "We currently do not have sufficient p4d.24xlarge capacity in the Availability Zone you requested (us-east-1a)."
	)
	capacity := &cloudprovider.InstanceError{Code: "InsufficientInstanceCapacity", Message: "launching an instance failed: " + noCapacity, OutOfResources: true}
	tests := map[string]struct {
		acts []types.Activity // newest first
		want *cloudprovider.InstanceError
	}{
		"failed":                      {[]types.Activity{act(3, failed, launch, noCapacity)}, capacity},
		"failed, still trying":        {[]types.Activity{act(4, running, launch, ""), act(3, failed, launch, noCapacity)}, capacity},
		"failed after a termination":  {[]types.Activity{act(4, ok, term, ""), act(3, failed, launch, noCapacity)}, capacity},
		"launched after failing":      {[]types.Activity{act(4, ok, launch, ""), act(3, failed, launch, noCapacity)}, nil},
		"failed before the shortfall": {[]types.Activity{act(-5, failed, launch, noCapacity)}, nil},
		"nothing yet":                 {nil, nil},
		"vcpu quota": {[]types.Activity{act(1, failed, launch, "You have requested more vCPU capacity than your current vCPU limit of 32 allows for the instance bucket.")},
			&cloudprovider.InstanceError{Code: "VcpuLimitExceeded", Message: "launching an instance failed: You have requested more vCPU capacity than your current vCPU limit of 32 allows for the instance bucket.", OutOfResources: true}},
		"other": {[]types.Activity{act(1, failed, launch, "The image id '[ami-1]' does not exist")},
			&cloudprovider.InstanceError{Code: "LaunchFailed", Message: "launching an instance failed: The image id '[ami-1]' does not exist"}},
	}
	for name, tt := range tests {
		if diff := cmp.Diff(tt.want, launchFailure(tt.acts, t0)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func TestTemplateDifferences(t *testing.T) {
	e := newEnv(t)
	pool := e.group(asgserver.GroupSpec{Zones: []string{"us-east-1b"}, Tags: map[string]string{
		tagLabel + "nvidia.com/gpu.product": "A100",
		tagLabel + "team":                   "ml",
		tagLabel + "kubernetes.io/arch":     "amd64", // agrees with the kubelet default
		tagTaint + "nvidia.com/gpu":         "true:NoSchedule",
		tagTaint + "dedicated":              "ml:NoExecute",
		tagTaint + "broken":                 "novalue",
		tagResources + "nvidia.com/gpu":     "8",
		tagResources + "cpu":                "96",
		"Name":                              "not a template tag",
	}})
	pool.Spec.Template.Labels = map[string]string{"nvidia.com/gpu.product": "T4"}
	pool.Spec.Template.Taints = []corev1.Taint{{Key: "nvidia.com/gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}, {Key: "dedicated", Value: "ml", Effect: corev1.TaintEffectNoSchedule}}
	pool.Spec.Template.Capacity = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8"), corev1.ResourceCPU: resource.MustParse("32")}

	if got, err := e.p.TemplateDifferences(ctxFor(t), pool); err != nil || got != nil {
		t.Errorf("before the group is cached: %v, %v; want nothing (no cloud call)", got, err)
	}
	if n := len(e.srv.CallCounts()); n != 0 {
		t.Errorf("TemplateDifferences called AWS: %v", e.srv.CallCounts())
	}
	e.refresh(t, pool)
	got, err := e.p.TemplateDifferences(ctxFor(t), pool)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`label nvidia.com/gpu.product: the group says "A100", the template "T4"`,
		`label team: the group says "ml", the template does not set it`,
		`resource cpu: the group says 96, the template 32`,
		`taint broken: the group's tag value "novalue" is not value:Effect`,
		`taint dedicated: the group says "ml:NoExecute", the template "ml:NoSchedule"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("TemplateDifferences (-want +got):\n%s", diff)
	}

	node := e.p.TemplateNode(pool, "n")
	for l, v := range map[string]string{corev1.LabelTopologyRegion: region, corev1.LabelTopologyZone: "us-east-1b", "nvidia.com/gpu.product": "T4"} {
		if node.Labels[l] != v {
			t.Errorf("template node label %s = %q, want %q", l, node.Labels[l], v)
		}
	}
	if node.Spec.ProviderID != "" {
		t.Errorf("template node has provider id %q", node.Spec.ProviderID)
	}
}

func TestTemplateNodeOfAMultiZoneGroup(t *testing.T) {
	e := newEnv(t)
	pool := e.group(asgserver.GroupSpec{Zones: []string{"us-east-1a", "us-east-1b"}})
	// NodeFromTemplate needs a capacity (the CRD requires one).
	pool.Spec.Template.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}
	e.refresh(t, pool)
	node := e.p.TemplateNode(pool, "n")
	if _, ok := node.Labels[corev1.LabelTopologyZone]; ok || node.Labels[corev1.LabelTopologyRegion] != region {
		t.Errorf("labels = %v, want the region and no zone", node.Labels)
	}
}
