package asgserver

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Default credentials and region of a Server.
const (
	AccessKeyID     = "AKIDASGSERVERTEST"
	SecretAccessKey = "asgserver-test-secret"
	Region          = "us-east-1"
)

// Lifecycle states the server gives instances (a subset of AWS's).
const (
	StatePending     = "Pending"
	StateInService   = "InService"
	StateTerminating = "Terminating"
)

// GroupSpec describes a group to create.
type GroupSpec struct {
	// Name of the group.
	Name string
	// Region of the group; default Region.
	Region string
	// MinSize, MaxSize and DesiredCapacity of the group.
	MinSize, MaxSize, DesiredCapacity int32
	// Zones the group launches into, round robin; default <region>a.
	Zones []string
	// InstanceType of the instances it launches; default m5.large.
	InstanceType string
	// Tags of the group.
	Tags map[string]string
}

// Instance is an instance of a group, as the server holds it.
type Instance struct {
	ID, Zone, LifecycleState, InstanceType string
}

// Fault is what an injected failure answers instead of the real result.
type Fault struct {
	// Delay holds the answer back this long (or until the client gives up);
	// with no Code the call then runs normally.
	Delay time.Duration
	// Status is the HTTP status of the error (default 400, or 500 for a
	// code ending in "Failure"/"Unavailable").
	Status int
	// Code and Message of the AWS error document; no Code means no error.
	Code, Message string
}

type group struct {
	spec      GroupSpec
	desired   int32
	instances []*Instance
	created   time.Time
	zoneNext  int
	// launchFailure, when set, makes Settle record a failed launch
	// activity with this status message instead of launching.
	launchFailure string
	// activities, oldest first.
	activities []xmlActivity
}

// Server is the Auto Scaling server. Create it with New and Close it.
type Server struct {
	// URL is the endpoint to give the SDK (BaseEndpoint).
	URL string
	// AccessKeyID and SecretAccessKey are the only credentials accepted.
	AccessKeyID, SecretAccessKey string

	http *httptest.Server

	mu           sync.Mutex
	groups       map[string]*group // region/name → group
	calls        map[string]int
	faults       map[string][]Fault
	instFaults   map[string]Fault
	nextID       int
	nextActivity int
	requests     int
	autoSettle   time.Duration
	maxPage      int
	timers       []*time.Timer
	closed       bool
}

// New starts a server; it is closed when t's test ends if t is not nil.
func New(t interface{ Cleanup(func()) }) *Server {
	s := &Server{
		AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey,
		groups: map[string]*group{}, calls: map[string]int{}, faults: map[string][]Fault{}, instFaults: map[string]Fault{},
	}
	s.http = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.http.URL
	if t != nil {
		t.Cleanup(s.Close)
	}
	return s
}

// Close stops the server and its pending AutoSettle timers.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, t := range s.timers {
		t.Stop()
	}
	s.mu.Unlock()
	s.http.CloseClientConnections()
	s.http.Close()
}

func key(region, name string) string { return region + "/" + name }

// AddGroup creates a group (replacing one of the same name and region).
func (s *Server) AddGroup(spec GroupSpec) {
	if spec.Region == "" {
		spec.Region = Region
	}
	if len(spec.Zones) == 0 {
		spec.Zones = []string{spec.Region + "a"}
	}
	if spec.InstanceType == "" {
		spec.InstanceType = "m5.large"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[key(spec.Region, spec.Name)] = &group{spec: spec, desired: spec.DesiredCapacity, created: time.Now()}
}

// DeleteGroup removes a group and its instances.
func (s *Server) DeleteGroup(region, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.groups, key(region, name))
}

// Desired is a group's desired capacity (-1 if there is no such group).
func (s *Server) Desired(region, name string) int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[key(region, name)]
	if !ok {
		return -1
	}
	return g.desired
}

// Instances are a group's instances, copied.
func (s *Server) Instances(region, name string) []Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Instance
	if g, ok := s.groups[key(region, name)]; ok {
		for _, in := range g.instances {
			out = append(out, *in)
		}
	}
	return out
}

// SetLifecycle sets an instance's lifecycle state (e.g. Pending,
// Terminating:Wait) in whichever group holds it.
func (s *Server) SetLifecycle(instanceID, state string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		for _, in := range g.instances {
			if in.ID == instanceID {
				in.LifecycleState = state
				return true
			}
		}
	}
	return false
}

// Settle makes the cloud catch up with a group: instances being terminated
// are gone, and instances are launched (InService) until the group has its
// desired capacity, or, if launches are made to fail, one failed launch
// activity is recorded instead. It returns how many instances it launched.
func (s *Server) Settle(region, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[key(region, name)]
	if !ok {
		return 0
	}
	return s.settle(g)
}

func (s *Server) settle(g *group) int {
	now := time.Now()
	g.instances = slices.DeleteFunc(g.instances, func(in *Instance) bool { return strings.HasPrefix(in.LifecycleState, StateTerminating) })
	launched := 0
	for int32(len(g.instances)) < g.desired {
		if g.launchFailure != "" {
			s.activity(g, now, "Failed", "Launching a new EC2 instance.  Status Reason: "+g.launchFailure+" Launching EC2 instance failed.", g.launchFailure)
			return launched
		}
		s.nextID++
		in := &Instance{
			ID:   fmt.Sprintf("i-%017x", 0xa5000000+s.nextID),
			Zone: g.spec.Zones[g.zoneNext%len(g.spec.Zones)], LifecycleState: StateInService, InstanceType: g.spec.InstanceType,
		}
		g.zoneNext++
		g.instances = append(g.instances, in)
		s.activity(g, now, "Successful", "Launching a new EC2 instance: "+in.ID, "")
		launched++
	}
	return launched
}

// SettleAll settles every group.
func (s *Server) SettleAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		s.settle(g)
	}
}

// AutoSettle makes the server settle a group d after each change to it
// (SetDesiredCapacity, TerminateInstanceInAutoScalingGroup), as a cloud
// launches by itself; 0 turns it off.
func (s *Server) AutoSettle(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.autoSettle = d
}

func (s *Server) changed(g *group) {
	if s.autoSettle <= 0 || s.closed {
		return
	}
	s.timers = append(s.timers, time.AfterFunc(s.autoSettle, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.closed {
			s.settle(g)
		}
	}))
}

// FailLaunches makes Settle record a failed launch activity for the group
// with this status message (e.g. "We currently do not have sufficient
// m5.large capacity in the Availability Zone you requested
// (us-east-1a)."), instead of launching; "" lets launches succeed again.
func (s *Server) FailLaunches(region, name, statusMessage string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.groups[key(region, name)]; ok {
		g.launchFailure = statusMessage
	}
}

// MaxPage makes Describe* answer at most n records a page whatever
// MaxRecords asks (AWS may answer fewer than asked, with a NextToken); 0
// lifts the cap.
func (s *Server) MaxPage(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxPage = n
}

// Inject makes the next n calls of action answer with f.
func (s *Server) Inject(action string, n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[action] = append(s.faults[action], f)
	}
}

// Throttle makes the next n calls of action answer Throttling, as AWS does
// when a caller exceeds its request rate.
func (s *Server) Throttle(action string, n int) {
	s.Inject(action, n, Fault{Code: "Throttling", Message: "Rate exceeded"})
}

// FailInstance makes every TerminateInstanceInAutoScalingGroup that names
// the instance fail with f (a batch fails as a whole, none of its
// instances terminated), until FailInstance is called with a zero Fault.
func (s *Server) FailInstance(instanceID string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Code == "" {
		delete(s.instFaults, instanceID)
		return
	}
	s.instFaults[instanceID] = f
}

// Calls is how many requests of action the server received, failed ones
// included (AWS counts those against the rate limit too).
func (s *Server) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

// CallCounts is the number of requests received per action.
func (s *Server) CallCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// ResetCalls forgets the counts.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
}

func (s *Server) activity(g *group, at time.Time, status, description, message string) xmlActivity {
	s.nextActivity++
	a := xmlActivity{
		ActivityID:           fmt.Sprintf("a%07d-0000-4000-8000-000000000000", s.nextActivity),
		AutoScalingGroupName: g.spec.Name,
		Cause:                fmt.Sprintf("At %s an instance was started in response to a difference between desired and actual capacity.", at.UTC().Format(time.RFC3339)),
		Description:          description,
		StartTime:            timestamp(at),
		StatusCode:           status,
		StatusMessage:        message,
		Progress:             100,
	}
	if strings.HasPrefix(description, "Terminating") {
		a.Cause = fmt.Sprintf("At %s an instance was taken out of service in response to a user request.", at.UTC().Format(time.RFC3339))
	}
	if status != "InProgress" {
		a.EndTime = timestamp(at)
	} else {
		a.Progress = 50
	}
	g.activities = append(g.activities, a)
	return a
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	requestID := fmt.Sprintf("00000000-0000-4000-8000-%012d", s.requests)
	s.mu.Unlock()
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, requestID, senderError("MalformedQueryString", "want POST / with a form body"))
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeError(w, requestID, senderError("MalformedQueryString", "%v", err))
		return
	}
	action := form.Get("Action")
	s.mu.Lock()
	s.calls[action]++
	var fault *Fault
	if q := s.faults[action]; len(q) > 0 {
		fault, s.faults[action] = &q[0], q[1:]
	}
	s.mu.Unlock()

	region, aerr := s.verifySignature(r, body)
	if aerr != nil {
		writeError(w, requestID, aerr)
		return
	}
	if form.Get("Version") != "2011-01-01" {
		writeError(w, requestID, senderError("InvalidAction", "Version %q is not 2011-01-01", form.Get("Version")))
		return
	}
	if fault != nil {
		if !wait(r.Context(), fault.Delay) {
			return // the client gave up
		}
		if fault.Code != "" {
			writeError(w, requestID, fault.apiError())
			return
		}
	}

	var result any
	switch action {
	case "DescribeAutoScalingGroups":
		result, aerr = s.describeGroups(region, form)
	case "DescribeAutoScalingInstances":
		result, aerr = s.describeInstances(region, form)
	case "DescribeScalingActivities":
		result, aerr = s.describeActivities(region, form)
	case "SetDesiredCapacity":
		result, aerr = s.setDesiredCapacity(region, form)
	case "TerminateInstanceInAutoScalingGroup":
		result, aerr = s.terminate(region, form)
	default:
		aerr = senderError("InvalidAction", "The action %s is not valid for this web service.", action)
	}
	if aerr != nil {
		writeError(w, requestID, aerr)
		return
	}
	writeResult(w, action, requestID, result)
}

func (f *Fault) apiError() *apiError {
	status := f.Status
	if status == 0 {
		status = http.StatusBadRequest
		if strings.HasSuffix(f.Code, "Failure") || strings.HasSuffix(f.Code, "Unavailable") {
			status = http.StatusInternalServerError
		}
	}
	return &apiError{status: status, code: f.Code, message: f.Message}
}

func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// members reads a query-protocol list: Name.member.1, Name.member.2, ...
func members(form url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[fmt.Sprintf("%s.member.%d", name, i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// page reads MaxRecords (default def, at most limit) and NextToken.
func page(form url.Values, def, limit int) (offset, size int, err *apiError) {
	size = def
	if v := form.Get("MaxRecords"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > limit {
			return 0, 0, validationError("1 validation error detected: Value '%s' at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to %d", v, limit)
		}
		size = n
	}
	if tok := form.Get("NextToken"); tok != "" {
		n, ok := strings.CutPrefix(tok, "offset-")
		off, perr := strconv.Atoi(n)
		if !ok || perr != nil || off < 0 {
			return 0, 0, senderError("InvalidNextToken", "The token '%s' is invalid.", tok)
		}
		offset = off
	}
	return offset, size, nil
}

func (s *Server) capPage(size int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxPage > 0 {
		return min(size, s.maxPage)
	}
	return size
}

func nextToken(offset, size, total int) string {
	if offset+size >= total {
		return ""
	}
	return fmt.Sprintf("offset-%d", offset+size)
}

func window[T any](all []T, offset, size int) []T {
	if offset >= len(all) {
		return nil
	}
	return all[offset:min(offset+size, len(all))]
}

func (s *Server) describeGroups(region string, form url.Values) (any, *apiError) {
	names := members(form, "AutoScalingGroupNames")
	if len(names) > 100 {
		return nil, validationError("The number of AutoScalingGroupNames (%d) exceeds the limit of 100.", len(names))
	}
	offset, size, err := page(form, 50, 100)
	if err != nil {
		return nil, err
	}
	size = s.capPage(size)
	s.mu.Lock()
	defer s.mu.Unlock()
	var groups []*group
	if len(names) == 0 {
		for _, g := range s.groups {
			if g.spec.Region == region {
				groups = append(groups, g)
			}
		}
	} else {
		for _, n := range slices.Compact(slices.Sorted(slices.Values(names))) {
			if g, ok := s.groups[key(region, n)]; ok {
				groups = append(groups, g) // unknown names are left out, as AWS does
			}
		}
	}
	slices.SortFunc(groups, func(a, b *group) int { return strings.Compare(a.spec.Name, b.spec.Name) })
	res := describeGroupsResult{NextToken: nextToken(offset, size, len(groups))}
	for _, g := range window(groups, offset, size) {
		res.Groups = append(res.Groups, s.xmlGroup(g))
	}
	return res, nil
}

func (s *Server) xmlGroup(g *group) xmlGroup {
	x := xmlGroup{
		AutoScalingGroupName: g.spec.Name,
		AutoScalingGroupARN:  fmt.Sprintf("arn:aws:autoscaling:%s:123456789012:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/%s", g.spec.Region, g.spec.Name),
		MinSize:              g.spec.MinSize, MaxSize: g.spec.MaxSize, DesiredCapacity: g.desired,
		DefaultCooldown: 300, AvailabilityZones: g.spec.Zones, HealthCheckType: "EC2", CreatedTime: timestamp(g.created),
	}
	for _, in := range g.instances {
		x.Instances = append(x.Instances, xmlInstance{
			InstanceID: in.ID, InstanceType: in.InstanceType, AvailabilityZone: in.Zone, LifecycleState: in.LifecycleState, HealthStatus: "Healthy",
		})
	}
	for _, k := range slices.Sorted(maps.Keys(g.spec.Tags)) {
		x.Tags = append(x.Tags, xmlTag{Key: k, Value: g.spec.Tags[k], ResourceID: g.spec.Name, ResourceType: "auto-scaling-group", PropagateAtLaunch: true})
	}
	return x
}

func (s *Server) describeInstances(region string, form url.Values) (any, *apiError) {
	ids := members(form, "InstanceIds")
	if len(ids) > 50 {
		return nil, validationError("The number of InstanceIds (%d) exceeds the limit of 50.", len(ids))
	}
	offset, size, err := page(form, 50, 50)
	if err != nil {
		return nil, err
	}
	size = s.capPage(size)
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []xmlInstance
	for _, g := range s.groups {
		if g.spec.Region != region {
			continue
		}
		for _, in := range g.instances {
			if len(ids) == 0 || slices.Contains(ids, in.ID) {
				all = append(all, xmlInstance{
					AutoScalingGroupName: g.spec.Name, InstanceID: in.ID, InstanceType: in.InstanceType,
					AvailabilityZone: in.Zone, LifecycleState: in.LifecycleState, HealthStatus: "HEALTHY",
				})
			}
		}
	}
	slices.SortFunc(all, func(a, b xmlInstance) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	return describeInstancesResult{Instances: window(all, offset, size), NextToken: nextToken(offset, size, len(all))}, nil
}

func (s *Server) describeActivities(region string, form url.Values) (any, *apiError) {
	offset, size, err := page(form, 100, 100)
	if err != nil {
		return nil, err
	}
	size = s.capPage(size)
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []xmlActivity
	if g, ok := s.groups[key(region, form.Get("AutoScalingGroupName"))]; ok {
		all = slices.Clone(g.activities)
		slices.Reverse(all) // newest first, as AWS answers
	}
	return describeActivitiesResult{Activities: window(all, offset, size), NextToken: nextToken(offset, size, len(all))}, nil
}

func (s *Server) lookup(region, name string) (*group, *apiError) {
	if name == "" {
		return nil, validationError("1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
	}
	g, ok := s.groups[key(region, name)]
	if !ok {
		return nil, validationError("AutoScalingGroup name not found - AutoScalingGroup '%s' not found", name)
	}
	return g, nil
}

func (s *Server) setDesiredCapacity(region string, form url.Values) (any, *apiError) {
	n, perr := strconv.Atoi(form.Get("DesiredCapacity"))
	if perr != nil {
		return nil, validationError("1 validation error detected: Value at 'desiredCapacity' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.lookup(region, form.Get("AutoScalingGroupName"))
	if err != nil {
		return nil, err
	}
	if int32(n) > g.spec.MaxSize {
		return nil, validationError("New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", n, g.spec.MaxSize)
	}
	if int32(n) < g.spec.MinSize {
		return nil, validationError("New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", n, g.spec.MinSize)
	}
	g.desired = int32(n)
	s.changed(g)
	return emptyResult{}, nil
}

func (s *Server) terminate(region string, form url.Values) (any, *apiError) {
	decrement := form.Get("ShouldDecrementDesiredCapacity")
	if decrement != "true" && decrement != "false" {
		return nil, validationError("1 validation error detected: Value null at 'shouldDecrementDesiredCapacity' failed to satisfy constraint: Member must not be null")
	}
	ids := members(form, "InstanceIds")
	single := form.Get("InstanceId")
	batch := len(ids) > 0
	switch {
	case batch && single != "":
		return nil, validationError("Specify either InstanceId or InstanceIds, not both.")
	case batch && form.Get("AutoScalingGroupName") == "":
		return nil, validationError("AutoScalingGroupName is required when InstanceIds is specified.")
	case len(ids) > 100:
		return nil, validationError("The number of InstanceIds (%d) exceeds the limit of 100.", len(ids))
	case !batch && single == "":
		return nil, validationError("Either InstanceId or InstanceIds must be specified.")
	case !batch:
		ids = []string{single}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Validate every instance before terminating any.
	targets := make([]*Instance, len(ids))
	var g *group
	for i, id := range ids {
		if f, ok := s.instFaults[id]; ok {
			return nil, f.apiError()
		}
		for _, cand := range s.groups {
			if cand.spec.Region != region {
				continue
			}
			for _, in := range cand.instances {
				if in.ID == id {
					targets[i], g = in, cand
				}
			}
		}
		if targets[i] == nil {
			return nil, validationError("Instance Id not found - No managed instance found for instance ID: %s", id)
		}
		if name := form.Get("AutoScalingGroupName"); name != "" && g.spec.Name != name {
			return nil, validationError("The instance %s is not part of Auto Scaling group %s.", id, name)
		}
	}
	if decrement == "true" && g.desired-int32(len(ids)) < g.spec.MinSize {
		return nil, validationError("Currently, desiredCapacity of %d is at min size %d. Can't decrement desiredCapacity below min size.", g.desired, g.spec.MinSize)
	}
	now := time.Now()
	var res terminateResult
	for _, in := range targets {
		// As at AWS, terminating an instance that is already terminating
		// succeeds and decrements the desired capacity once more.
		in.LifecycleState = StateTerminating
		if decrement == "true" {
			g.desired--
		}
		a := s.activity(g, now, "InProgress", "Terminating EC2 instance: "+in.ID, "")
		if batch {
			res.Activities = append(res.Activities, a)
		} else {
			res.Activity = &a
		}
	}
	s.changed(g)
	return res, nil
}
