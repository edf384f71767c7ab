package asgserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/smithy-go"
)

// bodyGuard hides the request body's WriteTo, as the eks platform's does
// (see its transport.go): the SDK closes the body when the answer arrives,
// and a WriteTo after Close fails the transport's final read of it.
type bodyGuard struct{ client aws.HTTPClient }

func (g bodyGuard) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return g.client.Do(r)
}

func client(s *Server, secret string) *autoscaling.Client {
	return autoscaling.New(autoscaling.Options{
		Region: Region, BaseEndpoint: aws.String(s.URL), Retryer: aws.NopRetryer{}, HTTPClient: bodyGuard{awshttp.NewBuildableClient()},
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKeyID, secret, ""),
	})
}

func TestUnsignedRequestIsRefused(t *testing.T) {
	s := New(t)
	form := url.Values{"Action": {"DescribeAutoScalingGroups"}, "Version": {"2011-01-01"}}
	resp, err := http.Post(s.URL, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Code>MissingAuthenticationToken</Code>") {
		t.Errorf("unsigned request: %d %s", resp.StatusCode, body)
	}
	if got := s.Calls("DescribeAutoScalingGroups"); got != 1 {
		t.Errorf("calls = %d, want 1 (refused calls count)", got)
	}
}

func TestSignedRoundTrip(t *testing.T) {
	s := New(t)
	s.AddGroup(GroupSpec{Name: "g", MaxSize: 3, Zones: []string{"us-east-1a", "us-east-1b"}, Tags: map[string]string{"k": "v"}})
	c := client(s, s.SecretAccessKey)
	ctx := context.Background()
	if _, err := c.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("g"), DesiredCapacity: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	if n := s.Settle(Region, "g"); n != 2 {
		t.Fatalf("Settle launched %d, want 2", n)
	}
	out, err := c.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"g", "other"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AutoScalingGroups) != 1 {
		t.Fatalf("groups = %d, want 1", len(out.AutoScalingGroups))
	}
	g := out.AutoScalingGroups[0]
	if aws.ToInt32(g.DesiredCapacity) != 2 || aws.ToInt32(g.MaxSize) != 3 || len(g.Instances) != 2 || len(g.Tags) != 1 ||
		g.Instances[0].LifecycleState != "InService" || aws.ToString(g.Instances[1].AvailabilityZone) != "us-east-1b" {
		t.Errorf("group as the SDK read it: %+v", g)
	}
	// Above MaxSize: the SDK decodes AWS's error document.
	_, err = c.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("g"), DesiredCapacity: aws.Int32(4)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" || !strings.Contains(ae.ErrorMessage(), "above max value 3") {
		t.Errorf("SetDesiredCapacity above MaxSize = %v", err)
	}
	// A wrong secret fails the signature check.
	if _, err := client(s, "wrong").DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{}); !errors.As(err, &ae) || ae.ErrorCode() != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret = %v, want SignatureDoesNotMatch", err)
	}
}

func TestAutoSettle(t *testing.T) {
	s := New(t)
	s.AddGroup(GroupSpec{Name: "g", MaxSize: 3})
	s.AutoSettle(time.Millisecond)
	if _, err := client(s, s.SecretAccessKey).SetDesiredCapacity(context.Background(), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("g"), DesiredCapacity: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Instances(Region, "g")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the group did not launch by itself")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTooManyNames(t *testing.T) {
	s := New(t)
	names := make([]string, 101)
	for i := range names {
		names[i] = "g" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
	}
	_, err := client(s, s.SecretAccessKey).DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: names})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
		t.Errorf("101 names = %v, want ValidationError", err)
	}
}
