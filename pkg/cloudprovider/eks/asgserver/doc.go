// Package asgserver is a small, stateful EC2 Auto Scaling server for tests:
// it speaks the Auto Scaling query protocol (form-encoded POST with
// Action=...&Version=2011-01-01, XML answers, AWS error documents) so that
// the real AWS SDK client, with its SigV4 signing, paging and error
// decoding, can be driven against it.
//
// It keeps groups, their instances and scaling activities, and serves
// DescribeAutoScalingGroups (with MaxRecords/NextToken paging),
// DescribeAutoScalingInstances, DescribeScalingActivities,
// SetDesiredCapacity and TerminateInstanceInAutoScalingGroup (one instance
// or a batch). The "cloud" acts only when told: Settle launches instances up
// to a group's desired capacity and finishes terminations (or records a
// failed launch activity when launches are made to fail), AutoSettle does it
// after a delay following every change.
//
// Every request must carry a valid SigV4 signature for the server's static
// credentials; every call is counted per Action (Calls), which is how tests
// measure the cloud API budget. Faults are injected per Action (Inject,
// Throttle: an error document, an HTTP status, a delay) and per instance
// (FailInstance).
package asgserver
