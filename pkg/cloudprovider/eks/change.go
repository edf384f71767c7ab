package eks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"k8s.io/klog/v2"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
)

const (
	// maxTerminateBatch is how many instances one
	// TerminateInstanceInAutoScalingGroup takes (InstanceIds).
	maxTerminateBatch = 100
	// maxInstancesPerDescribe is DescribeAutoScalingInstances' limit.
	maxInstancesPerDescribe = 50
)

// Create raises the group's desired capacity by n with SetDesiredCapacity
// (HonorCooldown false: the autoscaler decides when to scale, not the
// group's cooldown). Above the group's MaxSize it refuses with ErrRefused:
// MaxSize is a limit an admin set on the group, like the pool's maxSize,
// not a lack of capacity or quota in the cloud (ErrQuotaExceeded would make
// the autoscaler treat the pool as out of resources), and retrying will not
// help until an admin raises it.
func (p *Platform) Create(ctx context.Context, pool *carvev1.NodePool, n int) error {
	if n <= 0 {
		return cloudprovider.Errorf(cloudprovider.ErrInvalid, "growing node group %s by %d: want a positive number", pool.Name, n)
	}
	s, err := p.current(ctx, pool)
	if err != nil {
		return fmt.Errorf("growing node group %s by %d: %w", pool.Name, n, err)
	}
	want := int64(s.desired) + int64(n)
	if want > int64(s.max) {
		return cloudprovider.Errorf(cloudprovider.ErrRefused,
			"growing node group %s by %d: Auto Scaling group %s would need desired capacity %d, above its MaxSize %d; raise the group's MaxSize or lower the NodePool's maxSize to %d",
			pool.Name, n, s.key, want, s.max, s.max)
	}
	if err := p.setDesired(ctx, s.key, int32(want)); err != nil {
		return fmt.Errorf("growing node group %s by %d: %w", pool.Name, n, err)
	}
	return nil
}

func (p *Platform) setDesired(ctx context.Context, k groupKey, desired int32) error {
	c, err := p.client(k.region)
	if err != nil {
		return err
	}
	err = p.call(ctx, "SetDesiredCapacity", k.String(), func(ctx context.Context) error {
		_, err := c.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
			AutoScalingGroupName: aws.String(k.name), DesiredCapacity: aws.Int32(desired), HonorCooldown: aws.Bool(false),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("setting the desired capacity of Auto Scaling group %s to %d: %w", k, desired, err)
	}
	p.storeChange(k, func(s *snapshot) { s.desired = desired })
	return nil
}

// Delete terminates the given instances with
// TerminateInstanceInAutoScalingGroup (ShouldDecrementDesiredCapacity, up
// to 100 per call) and lowers the desired capacity by the number of
// placeholders among ids. Every id is checked before anything changes: a
// malformed id, a placeholder of another group or an instance of another
// group is ErrInvalid. Instances already terminating or gone are skipped,
// as terminating one again would lower the desired capacity once more.
// When some instances cannot be terminated, the others still are and the
// error names those that failed.
func (p *Platform) Delete(ctx context.Context, pool *carvev1.NodePool, ids []string) error {
	s, err := p.current(ctx, pool)
	if err != nil {
		return fmt.Errorf("deleting instances of node group %s: %w", pool.Name, err)
	}
	placeholders := 0
	var unknown, terminate []string
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		parsed, ok := parseProviderID(id)
		switch {
		case !ok:
			return cloudprovider.Errorf(cloudprovider.ErrInvalid, "deleting %q from node group %s: not an EC2 provider id (aws:///<zone>/<instance-id>)", id, pool.Name)
		case parsed.instance == "" && parsed.placeholderGroup != s.key.name:
			return cloudprovider.Errorf(cloudprovider.ErrInvalid, "deleting %q from node group %s: a placeholder of another Auto Scaling group than %s", id, pool.Name, s.key)
		case parsed.instance == "":
			placeholders++
		default:
			in, ok := s.find(parsed.instance)
			switch {
			case !ok:
				unknown = append(unknown, parsed.instance)
			case !deleting(in.state):
				terminate = append(terminate, parsed.instance)
			}
		}
	}
	// Instances the cache does not know: AWS says which group has them.
	more, err := p.ownInstances(ctx, pool, s.key, unknown)
	if err != nil {
		return err
	}
	terminate = append(terminate, more...)

	var errs []error
	for batch := range slices.Chunk(terminate, maxTerminateBatch) {
		errs = append(errs, p.terminate(ctx, s.key, batch)...)
	}
	if placeholders > 0 {
		if err := p.forgetPlaceholders(ctx, s.key, placeholders); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		const format = "deleting %d instances of node group %s: %d failed: %w"
		if kind := kindOf(errs[0]); kind != nil {
			return cloudprovider.Errorf(kind, format, len(ids), pool.Name, len(errs), errors.Join(errs...))
		}
		return fmt.Errorf(format, len(ids), pool.Name, len(errs), errors.Join(errs...))
	}
	return nil
}

// ownInstances returns the instances among ids that are in group k and not
// being removed; an instance in another group is ErrInvalid, one in no
// group is gone already.
func (p *Platform) ownInstances(ctx context.Context, pool *carvev1.NodePool, k groupKey, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	c, err := p.client(k.region)
	if err != nil {
		return nil, err
	}
	var own []string
	for chunk := range slices.Chunk(ids, maxInstancesPerDescribe) {
		in := &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: chunk, MaxRecords: aws.Int32(maxInstancesPerDescribe)}
		var resp *autoscaling.DescribeAutoScalingInstancesOutput
		err := p.call(ctx, "DescribeAutoScalingInstances", fmt.Sprintf("of %d instances", len(chunk)), func(ctx context.Context) error {
			var err error
			resp, err = c.DescribeAutoScalingInstances(ctx, in)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("deleting instances of node group %s: finding their groups: %w", pool.Name, err)
		}
		for _, d := range resp.AutoScalingInstances {
			id, group := aws.ToString(d.InstanceId), aws.ToString(d.AutoScalingGroupName)
			if group != k.name {
				return nil, cloudprovider.Errorf(cloudprovider.ErrInvalid, "deleting instance %s from node group %s: it belongs to Auto Scaling group %s, not %s", id, pool.Name, group, k.name)
			}
			if !deleting(types.LifecycleState(aws.ToString(d.LifecycleState))) {
				own = append(own, id)
			}
		}
	}
	return own, nil
}

// terminate terminates a batch of the group's instances and returns one
// error per instance that failed. If the batch call fails for a reason
// other than a transient one (AWS rejects a batch with one bad instance as
// a whole), the group is read again and the instances still in service are
// terminated one by one, so that the good ones go and the bad one is named.
func (p *Platform) terminate(ctx context.Context, k groupKey, ids []string) []error {
	c, err := p.client(k.region)
	if err != nil {
		return []error{err}
	}
	one := func(ctx context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, what string) error {
		in.ShouldDecrementDesiredCapacity = aws.Bool(true)
		return p.call(ctx, "TerminateInstanceInAutoScalingGroup", what, func(ctx context.Context) error {
			_, err := c.TerminateInstanceInAutoScalingGroup(ctx, in)
			return err
		})
	}
	// done records terminated instances: AWS lowered the desired capacity
	// by one each, whether the cache knew them or not.
	done := func(ids ...string) {
		p.storeChange(k, func(s *snapshot) {
			for i := range s.instances {
				if slices.Contains(ids, s.instances[i].id) {
					s.instances[i].state = types.LifecycleStateTerminating
				}
			}
			s.desired -= int32(len(ids))
		})
	}
	// An instance AWS no longer knows left behind the cache's back, with or
	// without lowering the desired capacity: read the group again.
	vanished := func() []error {
		if _, err := p.fetch(ctx, k); err != nil {
			return []error{fmt.Errorf("reading Auto Scaling group %s again after an instance vanished: %w", k, err)}
		}
		return nil
	}
	if len(ids) == 1 {
		err = one(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(ids[0])}, ids[0]+" of "+k.String())
	} else {
		err = one(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{AutoScalingGroupName: aws.String(k.name), InstanceIds: ids},
			fmt.Sprintf("%s of %s", strings.Join(ids, ","), k))
	}
	if err == nil {
		done(ids...)
		return nil
	}
	if len(ids) == 1 && instanceNotFound(err) {
		return vanished()
	}
	if len(ids) == 1 || errors.Is(err, cloudprovider.ErrTransient) {
		return []error{fmt.Errorf("terminating %s: %w", strings.Join(ids, ","), err)}
	}
	klog.FromContext(ctx).V(2).Info("Batch termination failed; terminating one by one", "group", k.String(), "instances", ids, "err", err)
	fresh, ferr := p.fetch(ctx, k)
	if ferr != nil {
		return []error{fmt.Errorf("terminating %s: %w (and reading the group again: %w)", strings.Join(ids, ","), err, ferr)}
	}
	var errs []error
	gone := false
	for _, id := range ids {
		if in, ok := fresh.find(id); !ok || deleting(in.state) {
			continue // gone or going already
		}
		err := one(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(id)}, id+" of "+k.String())
		switch {
		case err == nil:
			done(id)
		case instanceNotFound(err):
			gone = true
		default:
			errs = append(errs, fmt.Errorf("terminating %s: %w", id, err))
		}
	}
	if gone {
		errs = append(errs, vanished()...)
	}
	return errs
}

// forgetPlaceholders lowers the desired capacity by n placeholders, but
// never below the instances the group has: the group is read again first,
// since a placeholder may have become an instance since the last refresh,
// and lowering the desired capacity under the instances would make AWS
// terminate one of its own choosing.
func (p *Platform) forgetPlaceholders(ctx context.Context, k groupKey, n int) error {
	s, err := p.fetch(ctx, k)
	if err != nil {
		return fmt.Errorf("lowering the desired capacity of Auto Scaling group %s by %d unlaunched instances: %w", k, n, err)
	}
	if s.missing {
		return s.notFound()
	}
	drop := min(n, s.placeholders)
	if drop == 0 {
		return nil // launched meanwhile: they are instances now
	}
	return p.setDesired(ctx, k, s.desired-int32(drop))
}

// kindOf is the Platform error kind err carries, nil for none.
func kindOf(err error) error {
	for _, kind := range []error{cloudprovider.ErrNotFound, cloudprovider.ErrInvalid, cloudprovider.ErrRefused,
		cloudprovider.ErrQuotaExceeded, cloudprovider.ErrTransient} {
		if errors.Is(err, kind) {
			return kind
		}
	}
	return nil
}
