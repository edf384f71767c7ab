package eks

import (
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// outOfResources are the markers, in a failed launch's status message or
// description, of EC2 lacking capacity or the account lacking quota: the
// autoscaler should then back off the pool and try another one. Matched
// case-insensitively, first match wins.
var outOfResources = []struct{ marker, code string }{
	{"insufficientinstancecapacity", "InsufficientInstanceCapacity"},
	{"do not have sufficient", "InsufficientInstanceCapacity"}, // "We currently do not have sufficient m5.large capacity in the Availability Zone you requested"
	{"insufficient capacity", "InsufficientInstanceCapacity"},
	{"no spot capacity", "InsufficientInstanceCapacity"},
	{"vcpulimitexceeded", "VcpuLimitExceeded"},
	{"vcpu limit", "VcpuLimitExceeded"}, // "You have requested more vCPU capacity than your current vCPU limit of 32 allows"
	{"instancelimitexceeded", "InstanceLimitExceeded"},
	{"instance limit", "InstanceLimitExceeded"},
	{"maxspotinstancecountexceeded", "MaxSpotInstanceCountExceeded"},
	{"insufficientfreeaddressesinsubnet", "InsufficientFreeAddressesInSubnet"},
	{"quota", "QuotaExceeded"},
}

// launchFailure is the error of the newest failed launch among activities
// (newest first, as DescribeScalingActivities answers) that started at or
// after since, unless a launch succeeded after it: then the group is
// launching again and its shortfall is not (yet) a failure. Activities
// other than launches (terminations) and launches still in progress decide
// nothing.
func launchFailure(activities []types.Activity, since time.Time) *cloudprovider.InstanceError {
	for _, a := range activities {
		if a.StartTime != nil && a.StartTime.Before(since) {
			break
		}
		if !strings.HasPrefix(aws.ToString(a.Description), "Launching") {
			continue
		}
		switch a.StatusCode {
		case types.ScalingActivityStatusCodeSuccessful:
			return nil
		case types.ScalingActivityStatusCodeFailed:
			return launchError(a)
		}
	}
	return nil
}

func launchError(a types.Activity) *cloudprovider.InstanceError {
	msg := aws.ToString(a.StatusMessage)
	if msg == "" {
		msg = aws.ToString(a.Description)
	}
	text := strings.ToLower(msg + " " + aws.ToString(a.Description))
	for _, m := range outOfResources {
		if strings.Contains(text, m.marker) {
			return &cloudprovider.InstanceError{Code: m.code, Message: "launching an instance failed: " + msg, OutOfResources: true}
		}
	}
	return &cloudprovider.InstanceError{Code: "LaunchFailed", Message: "launching an instance failed: " + msg}
}
