package eks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/cloudprovider"
	"github.com/carve-dev/carve/pkg/cloudprovider/cloudcall"
)

// API is the part of the Auto Scaling API the platform uses;
// *autoscaling.Client implements it.
type API interface {
	DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, opts ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	DescribeAutoScalingInstances(ctx context.Context, in *autoscaling.DescribeAutoScalingInstancesInput, opts ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingInstancesOutput, error)
	DescribeScalingActivities(ctx context.Context, in *autoscaling.DescribeScalingActivitiesInput, opts ...func(*autoscaling.Options)) (*autoscaling.DescribeScalingActivitiesOutput, error)
	SetDesiredCapacity(ctx context.Context, in *autoscaling.SetDesiredCapacityInput, opts ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
	TerminateInstanceInAutoScalingGroup(ctx context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, opts ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error)
}

var _ API = (*autoscaling.Client)(nil)

// ClientFactory makes the Auto Scaling client of one region.
type ClientFactory func(region string) (API, error)

// Option configures a Platform.
type Option func(*Platform)

// WithClientFactory makes the platform build its per-region clients with f
// instead of from the SDK's default configuration.
func WithClientFactory(f ClientFactory) Option { return func(p *Platform) { p.newClient = f } }

// WithEndpoint points the platform at an Auto Scaling endpoint of its own
// (a test server) with the given credentials, instead of AWS's endpoints
// and the default credential chain.
func WithEndpoint(baseEndpoint string, creds aws.CredentialsProvider) Option {
	return WithClientFactory(WithEndpointClient(baseEndpoint, creds))
}

// WithEndpointClient is the ClientFactory of WithEndpoint.
func WithEndpointClient(baseEndpoint string, creds aws.CredentialsProvider) ClientFactory {
	return func(region string) (API, error) {
		return autoscaling.New(autoscaling.Options{
			Region:       region,
			BaseEndpoint: aws.String(baseEndpoint),
			Credentials:  creds,
			Retryer:      aws.NopRetryer{}, // cloudcall retries
			HTTPClient:   bodyGuard{awshttp.NewBuildableClient()},
		}), nil
	}
}

// WithPolicy sets the retry and deadline policy of cloud calls.
func WithPolicy(policy cloudcall.Policy) Option {
	return func(p *Platform) { p.caller.Policy = policy }
}

// WithObserver is told of every attempt of every cloud call (metrics).
func WithObserver(f func(op string, attempt int, err error)) Option {
	return func(p *Platform) { p.caller.Observe = f }
}

// WithActivityInterval sets how often, at most, a group that is short of
// its desired capacity has its scaling activities read (default 30 s).
func WithActivityInterval(d time.Duration) Option { return func(p *Platform) { p.activityEvery = d } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(p *Platform) { p.now = now } }

// Platform scales EC2 Auto Scaling groups. It caches every group it has
// read (see cache.go): Refresh reads all pools' groups in one
// DescribeAutoScalingGroups per region and 100 groups, the changes it makes
// update the cache, and Instances, TargetSize, TemplateDifferences and
// TemplateNode answer from the cache.
type Platform struct {
	newClient     ClientFactory
	caller        cloudcall.Caller
	now           func() time.Time
	activityEvery time.Duration

	clientsMu sync.Mutex
	clients   map[string]API

	mu     sync.RWMutex
	groups map[groupKey]*entry
}

var (
	_ cloudprovider.Platform        = (*Platform)(nil)
	_ cloudprovider.Refresher       = (*Platform)(nil)
	_ cloudprovider.TemplateChecker = (*Platform)(nil)
	_ cloudprovider.NodeTemplater   = (*Platform)(nil)
)

// New returns the EKS platform. Unless an option says otherwise, its
// clients get credentials and settings from the SDK's default chain (in a
// cluster: the service account's IRSA role or EKS Pod Identity), one client
// per NodePool region, with the SDK's own retries off because cloudcall
// retries.
func New(ctx context.Context, opts ...Option) (*Platform, error) {
	p := &Platform{
		caller:        cloudcall.Caller{Cloud: "AWS Auto Scaling", Classify: Classify},
		now:           time.Now,
		activityEvery: 30 * time.Second,
		clients:       map[string]API{},
		groups:        map[groupKey]*entry{},
	}
	for _, o := range opts {
		o(p)
	}
	if p.newClient == nil {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("loading the AWS SDK's default configuration: %w", err)
		}
		p.newClient = func(region string) (API, error) {
			return autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) {
				o.Region = region
				o.Retryer = aws.NopRetryer{} // only this client's: STS keeps its retries
				if o.HTTPClient == nil {
					o.HTTPClient = awshttp.NewBuildableClient()
				}
				o.HTTPClient = bodyGuard{o.HTTPClient}
			}), nil
		}
	}
	return p, nil
}

// client is the Auto Scaling client of region, made once.
func (p *Platform) client(region string) (API, error) {
	p.clientsMu.Lock()
	defer p.clientsMu.Unlock()
	if c, ok := p.clients[region]; ok {
		return c, nil
	}
	c, err := p.newClient(region)
	if err != nil {
		return nil, fmt.Errorf("making the Auto Scaling client of region %s: %w", region, err)
	}
	p.clients[region] = c
	return c, nil
}

// groupKey names a group: names are unique per region and account.
type groupKey struct{ region, name string }

func (k groupKey) String() string { return k.name + " (" + k.region + ")" }

func keyOf(pool *carvev1.NodePool) (groupKey, error) {
	e := pool.Spec.Platform.EKS
	if e == nil || e.Region == "" || e.AutoScalingGroup == "" {
		return groupKey{}, cloudprovider.Errorf(cloudprovider.ErrInvalid, "node group %s: spec.platform.eks needs region and autoScalingGroup", pool.Name)
	}
	return groupKey{region: e.Region, name: e.AutoScalingGroup}, nil
}
