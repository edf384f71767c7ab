// Package eks is carve's EKS platform: a NodePool with
// spec.platform {type: EKS, eks: {region, autoScalingGroup}} is an EC2 Auto
// Scaling group (a self-managed node group, or the group behind an EKS
// managed node group), scaled through the Auto Scaling API of the AWS SDK,
// which is hidden behind API.
//
//   - Create raises the group's desired capacity (SetDesiredCapacity, no
//     cooldown), refusing above the group's MaxSize.
//   - Delete terminates the given instances with
//     TerminateInstanceInAutoScalingGroup, decrementing the desired
//     capacity, up to 100 per call; instances already terminating or gone
//     are skipped; placeholder ids lower the desired capacity.
//   - Instances are the group's EC2 instances, with provider id
//     aws:///<availability-zone>/<instance-id> (Pending, InService and
//     Standby are running; Terminating*, Terminated, Detaching and Detached
//     are deleting), and its desired capacity not yet backed by an instance
//     as creating placeholders aws:///placeholder/<group>-<n>. When the
//     group's recent scaling activities show a failed launch, placeholders
//     carry it, out of resources when EC2 lacked capacity or the account
//     quota, so the autoscaler backs off and tries another pool.
//   - Refresh reads the groups of all pools, 100 per DescribeAutoScalingGroups
//     call; the reads of every loop then answer from that cache, which the
//     platform's own changes keep current.
//   - TemplateDifferences compares the group's
//     k8s.io/cluster-autoscaler/node-template/* tags with the pool's
//     template; TemplateNode adds the region (and single zone) labels.
//
// Errors come back through cloudcall with Classify's kinds. The package
// subdirectory asgserver is the Auto Scaling wire server its tests drive
// the real SDK against.
package eks
