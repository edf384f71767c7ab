package eks

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"k8s.io/klog/v2"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
)

// maxNamesPerDescribe is how many groups one DescribeAutoScalingGroups
// asks for, and MaxRecords of its pages (the API's maximum for both).
const maxNamesPerDescribe = 100

// activityLookback widens the window in which a failed launch counts for a
// group found short of capacity: the launch may have started before the
// refresh that noticed the shortfall, and AWS's clock is not ours.
const activityLookback = time.Minute

// snapshot is what the platform knows of one group at one moment. A stored
// snapshot is never modified: a change makes a new one (with), so readers
// use it without holding the lock.
type snapshot struct {
	key     groupKey
	missing bool // the group does not exist
	min     int32
	max     int32
	desired int32
	zones   []string
	// instances are the group's EC2 instances in the order AWS lists them.
	instances []instance
	tags      map[string]string

	// shortSince is when the group was first seen (or made) short of its
	// desired capacity; zero when it is not.
	shortSince time.Time
	// launchErr is the failed launch that keeps it short, from its scaling
	// activities; placeholders carry it.
	launchErr *cloudprovider.InstanceError
	// checkedAt is when the activities were last read.
	checkedAt time.Time

	// derived by finish:
	placeholders int
	list         []cloudprovider.Instance
}

type instance struct {
	id, zone string
	state    types.LifecycleState
}

// entry holds a group's latest snapshot. gen counts the changes made
// through this platform, so that a refresh whose answer was read before a
// change does not overwrite what the change stored.
type entry struct {
	snap *snapshot
	gen  uint64
}

// deleting says whether AWS is removing the instance from the group.
func deleting(s types.LifecycleState) bool {
	return strings.HasPrefix(string(s), "Terminating") || s == types.LifecycleStateTerminated ||
		s == types.LifecycleStateDetaching || s == types.LifecycleStateDetached
}

// newSnapshot reads a group of DescribeAutoScalingGroups' answer.
func newSnapshot(k groupKey, g *types.AutoScalingGroup) *snapshot {
	s := &snapshot{
		key: k, min: aws.ToInt32(g.MinSize), max: aws.ToInt32(g.MaxSize), desired: aws.ToInt32(g.DesiredCapacity),
		zones: g.AvailabilityZones, tags: make(map[string]string, len(g.Tags)),
	}
	s.instances = make([]instance, 0, len(g.Instances))
	for _, in := range g.Instances {
		s.instances = append(s.instances, instance{id: aws.ToString(in.InstanceId), zone: aws.ToString(in.AvailabilityZone), state: in.LifecycleState})
	}
	for _, t := range g.Tags {
		s.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return s
}

// with returns a copy of s changed by fn and finished.
func (s *snapshot) with(now time.Time, fn func(*snapshot)) *snapshot {
	c := *s
	c.instances = slices.Clone(s.instances)
	fn(&c)
	c.finish(now)
	return &c
}

// carry keeps what earlier snapshots learnt that DescribeAutoScalingGroups
// does not say.
func (s *snapshot) carry(old *snapshot) {
	if old == nil || old.missing {
		return
	}
	s.shortSince, s.launchErr, s.checkedAt = old.shortSince, old.launchErr, old.checkedAt
}

// finish derives the placeholders and the instance list. Desired capacity
// not backed by an instance that is staying is listed as creating under
// placeholder ids, carrying the launch error if there is one.
func (s *snapshot) finish(now time.Time) {
	if s.missing {
		return
	}
	staying := 0
	for _, in := range s.instances {
		if !deleting(in.state) {
			staying++
		}
	}
	s.placeholders = max(0, int(s.desired)-staying)
	if s.placeholders == 0 {
		s.shortSince, s.launchErr = time.Time{}, nil
	} else if s.shortSince.IsZero() {
		s.shortSince = now
	}
	s.list = make([]cloudprovider.Instance, 0, len(s.instances)+s.placeholders)
	for _, in := range s.instances {
		state := cloudprovider.StateRunning // Pending, InService, Standby: the machine exists
		if deleting(in.state) {
			state = cloudprovider.StateDeleting
		}
		s.list = append(s.list, cloudprovider.Instance{ID: ProviderID(in.zone, in.id), State: state})
	}
	for i := range s.placeholders {
		s.list = append(s.list, cloudprovider.Instance{ID: placeholderID(s.key.name, staying+i), State: cloudprovider.StateCreating, Error: s.launchErr})
	}
}

func (s *snapshot) notFound() error {
	return cloudprovider.Errorf(cloudprovider.ErrNotFound, "Auto Scaling group %s does not exist", s.key)
}

func (s *snapshot) find(instanceID string) (instance, bool) {
	for _, in := range s.instances {
		if in.id == instanceID {
			return in, true
		}
	}
	return instance{}, false
}

func (p *Platform) load(k groupKey) (*snapshot, uint64) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if e, ok := p.groups[k]; ok {
		return e.snap, e.gen
	}
	return nil, 0
}

// storeRead stores what a read found, unless a change was stored since the
// read began (gen moved on): then the read may predate the change.
func (p *Platform) storeRead(s *snapshot, gen uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.groups[s.key]
	if !ok {
		p.groups[s.key] = &entry{snap: s}
		return
	}
	if e.gen != gen {
		return
	}
	s.carry(e.snap)
	s.finish(p.now())
	e.snap = s
}

// storeChange stores a snapshot made by a change this platform made.
func (p *Platform) storeChange(k groupKey, fn func(*snapshot)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.groups[k]
	if !ok || e.snap.missing {
		return // not cached: the next read fetches it
	}
	e.snap = e.snap.with(p.now(), fn)
	e.gen++
}

// current is the cached group of pool, read from AWS if not cached yet.
func (p *Platform) current(ctx context.Context, pool *carvev1.NodePool) (*snapshot, error) {
	k, err := keyOf(pool)
	if err != nil {
		return nil, err
	}
	s, _ := p.load(k)
	if s == nil {
		if s, err = p.fetch(ctx, k); err != nil {
			return nil, err
		}
	}
	if s.missing {
		return nil, s.notFound()
	}
	return s, nil
}

// fetch reads one group from AWS and caches it.
func (p *Platform) fetch(ctx context.Context, k groupKey) (*snapshot, error) {
	_, gen := p.load(k)
	found, err := p.describe(ctx, k.region, []string{k.name})
	if err != nil {
		return nil, err
	}
	s := found[k]
	p.storeRead(s, gen)
	got, _ := p.load(k)
	return got, nil
}

// describe reads the named groups of one region (at most
// maxNamesPerDescribe), page by page. A name AWS leaves out of its answer
// is a group that does not exist: its snapshot says missing.
func (p *Platform) describe(ctx context.Context, region string, names []string) (map[groupKey]*snapshot, error) {
	c, err := p.client(region)
	if err != nil {
		return nil, err
	}
	now := p.now()
	out := make(map[groupKey]*snapshot, len(names))
	in := &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: names, MaxRecords: aws.Int32(maxNamesPerDescribe)}
	what := fmt.Sprintf("of %d groups in %s", len(names), region)
	if len(names) == 1 {
		what = groupKey{region, names[0]}.String()
	}
	for {
		var resp *autoscaling.DescribeAutoScalingGroupsOutput
		err := p.call(ctx, "DescribeAutoScalingGroups", what, func(ctx context.Context) error {
			var err error
			resp, err = c.DescribeAutoScalingGroups(ctx, in)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("reading Auto Scaling groups: %w", err)
		}
		for i := range resp.AutoScalingGroups {
			g := &resp.AutoScalingGroups[i]
			k := groupKey{region, aws.ToString(g.AutoScalingGroupName)}
			s := newSnapshot(k, g)
			s.finish(now)
			out[k] = s
		}
		if aws.ToString(resp.NextToken) == "" {
			break
		}
		in.NextToken = resp.NextToken
	}
	for _, n := range names {
		k := groupKey{region, n}
		if _, ok := out[k]; !ok {
			out[k] = &snapshot{key: k, missing: true}
		}
	}
	return out, nil
}

// Refresh reads the groups of all pools, maxNamesPerDescribe per
// DescribeAutoScalingGroups, and, for groups short of capacity whose
// activities were not read within the activity interval, their recent
// scaling activities. A group that does not exist is remembered as such
// (its pool's calls then fail with ErrNotFound) without failing the
// refresh, so one misconfigured pool does not stop the autoscaler's loop.
// A failed read keeps the groups' previous state and is returned.
func (p *Platform) Refresh(ctx context.Context, pools []*carvev1.NodePool) error {
	byRegion := map[string][]string{}
	seen := map[groupKey]bool{}
	for _, pool := range pools {
		k, err := keyOf(pool)
		if err != nil || seen[k] {
			continue // a malformed pool fails its own calls
		}
		seen[k] = true
		byRegion[k.region] = append(byRegion[k.region], k.name)
	}
	var errs []error
	var short []groupKey
	for _, region := range slices.Sorted(maps.Keys(byRegion)) {
		for names := range slices.Chunk(byRegion[region], maxNamesPerDescribe) {
			gens := make(map[groupKey]uint64, len(names))
			for _, n := range names {
				_, gens[groupKey{region, n}] = p.load(groupKey{region, n})
			}
			found, err := p.describe(ctx, region, names)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for k, s := range found {
				p.storeRead(s, gens[k])
				if s, _ := p.load(k); s != nil && s.placeholders > 0 && p.now().Sub(s.checkedAt) >= p.activityEvery {
					short = append(short, k)
				}
			}
		}
	}
	for _, k := range short {
		p.checkActivities(ctx, k)
	}
	return errors.Join(errs...)
}

// checkActivities reads a short group's scaling activities and stores the
// failed launch that keeps it short, if any. A failure to read them is
// logged, not returned: the placeholders stay as they are and the next
// refresh tries again.
func (p *Platform) checkActivities(ctx context.Context, k groupKey) {
	s, gen := p.load(k)
	c, err := p.client(k.region)
	if err != nil {
		return
	}
	var resp *autoscaling.DescribeScalingActivitiesOutput
	err = p.call(ctx, "DescribeScalingActivities", k.String(), func(ctx context.Context) error {
		var err error
		resp, err = c.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{
			AutoScalingGroupName: aws.String(k.name), MaxRecords: aws.Int32(20),
		})
		return err
	})
	if err != nil {
		klog.FromContext(ctx).V(2).Info("Could not read scaling activities; placeholders keep their state", "group", k.String(), "err", err)
		return
	}
	launchErr := launchFailure(resp.Activities, s.shortSince.Add(-activityLookback))
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.groups[k]; ok && e.gen == gen && !e.snap.missing {
		e.snap = e.snap.with(now, func(s *snapshot) { s.launchErr, s.checkedAt = launchErr, now })
	}
}

// Instances lists the pool's instances from the cache (read from AWS once
// if the group is not cached yet): the group's EC2 instances, running or
// deleting, and its unlaunched desired capacity as creating placeholders.
func (p *Platform) Instances(ctx context.Context, pool *carvev1.NodePool) ([]cloudprovider.Instance, error) {
	s, err := p.current(ctx, pool)
	if err != nil {
		return nil, fmt.Errorf("listing instances of node group %s: %w", pool.Name, err)
	}
	return slices.Clone(s.list), nil
}

// TargetSize is the group's desired capacity, from the cache.
func (p *Platform) TargetSize(ctx context.Context, pool *carvev1.NodePool) (int32, error) {
	s, err := p.current(ctx, pool)
	if err != nil {
		return 0, fmt.Errorf("reading the target size of node group %s: %w", pool.Name, err)
	}
	return s.desired, nil
}
