// Package armserver is a small Azure Kubernetes Service for tests: managed
// clusters with agent pools and their machines, kept in memory, served two
// ways — over HTTPS with the real Azure Resource Manager wire protocol
// (Server: long-running operations answered 201/202 with
// Azure-AsyncOperation and Location headers and polled InProgress …
// Succeeded / Failed, paging, ETags, error bodies, injected faults), and
// through the SDK's own fake server factories (Cloud.ServerFactory), whose
// operations end at once. Machines come up only when a test says so
// (Boot, Complete), as VMs do when Azure gets to them.
package armserver

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
)

// Location is the region of every test cluster.
const Location = "eastus"

// Error is an ARM error answer.
type Error struct {
	Status  int
	Code    string
	Message string
	// Details are nested errors, as AKS gives the VM error inside its own.
	Details []Error
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// PoolSpec is an agent pool to create.
type PoolSpec struct {
	VMSize            string
	Count             int32
	Labels            map[string]string
	Taints            []string
	EnableAutoScaling bool
	Spot              bool
}

// Op status values, as ARM's operation status documents spell them.
const (
	InProgress = "InProgress"
	Succeeded  = "Succeeded"
	Failed     = "Failed"
)

// Op is a long-running operation on an agent pool.
type Op struct {
	ID       string
	Kind     string // "scale" or "deleteMachines"
	Status   string
	Err      *Error
	Machines []string // deleteMachines: the names asked for
	pool     *pool
	polls    int
}

type vm struct {
	index    int
	deleting bool
}

type pool struct {
	name     string
	props    armcontainerservice.ManagedClusterAgentPoolProfileProperties
	etag     int
	vms      []*vm
	next     int
	scaleSet string
	nodeRG   string
	sub      string
	op       *Op
}

type cluster struct {
	sub, rg, name string
	hash          string
	pools         map[string]*pool
	order         []string
}

// Cloud is the state of the test AKS. It is safe for concurrent use.
type Cloud struct {
	mu       sync.Mutex
	clusters map[string]*cluster
	ops      map[string]*Op
	seq      int
	// immediate ends operations when they are accepted (the fake front-end).
	immediate bool
	// endAfterPolls > 0 ends an operation successfully when its status has
	// been polled that many times, without bringing machines up (Boot
	// does): Azure getting to the change by itself.
	endAfterPolls int
}

// EndAfterPolls makes operations end successfully once polled n times
// (their machines still come up on Boot only); 0 leaves them to Complete,
// Fail and Boot.
func (c *Cloud) EndAfterPolls(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endAfterPolls = n
}

// NewCloud returns an empty cloud.
func NewCloud() *Cloud {
	return &Cloud{clusters: map[string]*cluster{}, ops: map[string]*Op{}}
}

func clusterKey(sub, rg, name string) string {
	return strings.ToLower(sub + "/" + rg + "/" + name)
}

// AddCluster creates a managed cluster.
func (c *Cloud) AddCluster(sub, rg, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := fnv.New32a()
	h.Write([]byte(clusterKey(sub, rg, name)))
	c.clusters[clusterKey(sub, rg, name)] = &cluster{
		sub: sub, rg: rg, name: name, pools: map[string]*pool{},
		hash: fmt.Sprintf("%08d", h.Sum32()%100000000),
	}
}

// AddPool creates an agent pool with spec.Count machines running.
func (c *Cloud) AddPool(sub, rg, clusterName, name string, spec PoolSpec) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.clusters[clusterKey(sub, rg, clusterName)]
	if cl == nil {
		panic("armserver: AddPool in a cluster that was not added: " + clusterName)
	}
	p := &pool{
		name: name, sub: sub,
		scaleSet: fmt.Sprintf("aks-%s-%s-vmss", name, cl.hash),
		// ARM answers with the node resource group in upper case (MC_…);
		// Node provider ids have it in lower case.
		nodeRG: fmt.Sprintf("MC_%s_%s_%s", rg, clusterName, Location),
	}
	vmSize := spec.VMSize
	if vmSize == "" {
		vmSize = "Standard_D4s_v5"
	}
	p.props = armcontainerservice.ManagedClusterAgentPoolProfileProperties{
		Count:             to.Ptr(spec.Count),
		VMSize:            to.Ptr(vmSize),
		Type:              to.Ptr(armcontainerservice.AgentPoolTypeVirtualMachineScaleSets),
		Mode:              to.Ptr(armcontainerservice.AgentPoolModeUser),
		OSType:            to.Ptr(armcontainerservice.OSTypeLinux),
		EnableAutoScaling: to.Ptr(spec.EnableAutoScaling),
		ProvisioningState: to.Ptr(Succeeded),
		NodeTaints:        to.SliceOfPtrs(spec.Taints...),
	}
	if len(spec.Labels) > 0 {
		p.props.NodeLabels = map[string]*string{}
		for k, v := range spec.Labels {
			p.props.NodeLabels[k] = to.Ptr(v)
		}
	}
	if spec.Spot {
		p.props.ScaleSetPriority = to.Ptr(armcontainerservice.ScaleSetPrioritySpot)
	}
	p.bootTo(int(spec.Count))
	cl.pools[strings.ToLower(name)] = p
	cl.order = append(cl.order, strings.ToLower(name))
}

func (p *pool) bootTo(n int) {
	for len(p.live()) < n {
		p.vms = append(p.vms, &vm{index: p.next})
		p.next++
	}
}

// live are the VMs not being deleted.
func (p *pool) live() []*vm {
	var out []*vm
	for _, v := range p.vms {
		if !v.deleting {
			out = append(out, v)
		}
	}
	return out
}

func (p *pool) machineName(v *vm) string {
	s := strconv.FormatInt(int64(v.index), 36)
	return p.scaleSet + strings.Repeat("0", max(0, 6-len(s))) + s
}

func (p *pool) resourceID(v *vm) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/%s/virtualMachines/%d", p.sub, p.nodeRG, p.scaleSet, v.index)
}

func (p *pool) etagString() string { return fmt.Sprintf("\"%s-%d\"", p.name, p.etag) }

func (c *Cloud) find(sub, rg, clusterName, name string) (*cluster, *pool, *Error) {
	cl := c.clusters[clusterKey(sub, rg, clusterName)]
	if cl == nil {
		return nil, nil, &Error{Status: 404, Code: "ResourceNotFound", Message: fmt.Sprintf("The Resource 'Microsoft.ContainerService/managedClusters/%s' under resource group '%s' was not found.", clusterName, rg)}
	}
	if name == "" {
		return cl, nil, nil
	}
	p := cl.pools[strings.ToLower(name)]
	if p == nil {
		return cl, nil, &Error{Status: 404, Code: "NotFound", Message: fmt.Sprintf("Agent Pool '%s' was not found in managed cluster '%s'.", name, clusterName)}
	}
	return cl, p, nil
}

func (p *pool) agentPool(cl *cluster) armcontainerservice.AgentPool {
	props := p.props
	props.ETag = to.Ptr(p.etagString())
	props.NodeTaints = slices.Clone(p.props.NodeTaints)
	return armcontainerservice.AgentPool{
		ID:         to.Ptr(fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ContainerService/managedClusters/%s/agentPools/%s", cl.sub, cl.rg, cl.name, p.name)),
		Name:       to.Ptr(p.name),
		Type:       to.Ptr("Microsoft.ContainerService/managedClusters/agentPools"),
		Properties: &props,
	}
}

// Get is an agent pool.
func (c *Cloud) Get(sub, rg, clusterName, name string) (armcontainerservice.AgentPool, *Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, p, err := c.find(sub, rg, clusterName, name)
	if err != nil {
		return armcontainerservice.AgentPool{}, err
	}
	return p.agentPool(cl), nil
}

// List is a cluster's agent pools, in the order they were added.
func (c *Cloud) List(sub, rg, clusterName string) ([]*armcontainerservice.AgentPool, *Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, _, err := c.find(sub, rg, clusterName, "")
	if err != nil {
		return nil, err
	}
	out := make([]*armcontainerservice.AgentPool, 0, len(cl.order))
	for _, k := range cl.order {
		ap := cl.pools[k].agentPool(cl)
		out = append(out, &ap)
	}
	return out, nil
}

// Machines are an agent pool's machines, deleting ones included (as AKS
// lists a machine until its VM is gone).
func (c *Cloud) Machines(sub, rg, clusterName, name string) ([]*armcontainerservice.Machine, *Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, p, err := c.find(sub, rg, clusterName, name)
	if err != nil {
		return nil, err
	}
	out := make([]*armcontainerservice.Machine, 0, len(p.vms))
	for _, v := range p.vms {
		n := p.machineName(v)
		out = append(out, &armcontainerservice.Machine{
			Name: to.Ptr(n),
			Type: to.Ptr("Microsoft.ContainerService/managedClusters/agentPools/machines"),
			ID:   to.Ptr(fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ContainerService/managedClusters/%s/agentPools/%s/machines/%s", cl.sub, cl.rg, cl.name, p.name, n)),
			Properties: &armcontainerservice.MachineProperties{
				ResourceID: to.Ptr(p.resourceID(v)),
			},
		})
	}
	return out, nil
}

// ProviderIDs are the spec.providerIDs of the pool's running machines'
// Nodes (resource group in lower case, as the Azure cloud provider writes
// it).
func (c *Cloud) ProviderIDs(sub, rg, clusterName, name string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, p, err := c.find(sub, rg, clusterName, name)
	if err != nil {
		return nil
	}
	var out []string
	for _, v := range p.live() {
		id := p.resourceID(v)
		out = append(out, "azure://"+strings.Replace(id, p.nodeRG, strings.ToLower(p.nodeRG), 1))
	}
	slices.Sort(out)
	return out
}

// MachineNames are the names of the pool's machines (deleting ones
// included), sorted.
func (c *Cloud) MachineNames(sub, rg, clusterName, name string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, p, err := c.find(sub, rg, clusterName, name)
	if err != nil {
		return nil
	}
	var out []string
	for _, v := range p.vms {
		out = append(out, p.machineName(v))
	}
	slices.Sort(out)
	return out
}

// Count is the pool's count.
func (c *Cloud) Count(sub, rg, clusterName, name string) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, p, err := c.find(sub, rg, clusterName, name)
	if err != nil {
		return -1
	}
	return *p.props.Count
}

// SetAutoScaling turns AKS's own autoscaler on or off for a pool.
func (c *Cloud) SetAutoScaling(sub, rg, clusterName, name string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, p, _ := c.find(sub, rg, clusterName, name)
	p.props.EnableAutoScaling = to.Ptr(on)
	p.etag++
}

func (c *Cloud) newOp(p *pool, kind string) *Op {
	c.seq++
	op := &Op{ID: fmt.Sprintf("op-%d", c.seq), Kind: kind, Status: InProgress, pool: p}
	c.ops[op.ID] = op
	p.op = op
	return op
}

// Put takes an agent pool PUT: only the count changes (carve changes
// nothing else). ifMatch, when set, must be the pool's ETag. A pool with an
// operation in progress refuses (409 OperationNotAllowed), as AKS does.
func (c *Cloud) Put(sub, rg, clusterName, name string, body armcontainerservice.AgentPool, ifMatch string) (armcontainerservice.AgentPool, *Op, *Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, p, err := c.find(sub, rg, clusterName, name)
	if err != nil {
		return armcontainerservice.AgentPool{}, nil, err
	}
	if ifMatch != "" && ifMatch != p.etagString() {
		return armcontainerservice.AgentPool{}, nil, &Error{Status: 412, Code: "PreconditionFailed", Message: fmt.Sprintf("The ETag %s does not match the agent pool's %s.", ifMatch, p.etagString())}
	}
	if p.op != nil && p.op.Status == InProgress {
		return armcontainerservice.AgentPool{}, nil, &Error{Status: 409, Code: "OperationNotAllowed", Message: fmt.Sprintf("Operation is not allowed: Another operation (%s) is in progress, please wait for it to finish before starting a new operation.", p.op.Kind)}
	}
	if body.Properties == nil || body.Properties.Count == nil || *body.Properties.Count < 0 {
		return armcontainerservice.AgentPool{}, nil, &Error{Status: 400, Code: "InvalidParameter", Message: "properties.count must be set and not negative"}
	}
	p.props.Count = to.Ptr(*body.Properties.Count)
	p.etag++
	op := c.newOp(p, "scale")
	p.props.ProvisioningState = to.Ptr("Scaling")
	if c.immediate {
		// The fake front-end ends operations at once; the VMs still come up
		// only when the test boots them.
		c.endLocked(op, nil, 0, false)
	}
	return p.agentPool(cl), op, nil
}

// DeleteMachines takes a deleteMachines request: the named machines are
// being deleted and the count drops by as many. Names not in the pool are
// ignored (they are gone already).
func (c *Cloud) DeleteMachines(sub, rg, clusterName, name string, names []string) (*Op, *Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, p, err := c.find(sub, rg, clusterName, name)
	if err != nil {
		return nil, err
	}
	if p.op != nil && p.op.Status == InProgress {
		return nil, &Error{Status: 409, Code: "OperationNotAllowed", Message: fmt.Sprintf("Operation is not allowed: Another operation (%s) is in progress, please wait for it to finish before starting a new operation.", p.op.Kind)}
	}
	if len(names) == 0 {
		return nil, &Error{Status: 400, Code: "InvalidParameter", Message: "machineNames must not be empty"}
	}
	op := c.newOp(p, "deleteMachines")
	n := int32(0)
	for _, v := range p.vms {
		if slices.Contains(names, p.machineName(v)) && !v.deleting {
			v.deleting = true
			n++
			op.Machines = append(op.Machines, p.machineName(v))
		}
	}
	p.props.Count = to.Ptr(max(0, *p.props.Count-n))
	p.props.ProvisioningState = to.Ptr("Deleting")
	p.etag++
	if c.immediate {
		c.endLocked(op, nil, 0, false)
	}
	return op, nil
}

// Op is an operation by id.
func (c *Cloud) Op(id string) *Op {
	c.mu.Lock()
	defer c.mu.Unlock()
	op := c.ops[id]
	if op == nil {
		return nil
	}
	cp := *op
	return &cp
}

// pollOp is an operation by id, as a status poll sees it.
func (c *Cloud) pollOp(id string) *Op {
	c.mu.Lock()
	defer c.mu.Unlock()
	op := c.ops[id]
	if op == nil {
		return nil
	}
	op.polls++
	if c.endAfterPolls > 0 && op.Status == InProgress && op.polls >= c.endAfterPolls {
		c.endLocked(op, nil, 0, false)
	}
	cp := *op
	return &cp
}

// PoolOp is the pool's latest operation's id, "" if none.
func (c *Cloud) PoolOp(sub, rg, clusterName, name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, p, _ := c.find(sub, rg, clusterName, name)
	if p == nil || p.op == nil {
		return ""
	}
	return p.op.ID
}

// Complete ends the pool's running operation successfully: a scale brings
// the machines up to the count, a deletion removes its machines.
func (c *Cloud) Complete(sub, rg, clusterName, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, p, _ := c.find(sub, rg, clusterName, name)
	if p != nil && p.op != nil && p.op.Status == InProgress {
		c.endLocked(p.op, nil, -1, true)
	}
}

// Fail ends the pool's running operation with an error. done says how much
// of it happened anyway: for a scale, the machines that came up (the count
// stays as asked, the pool Failed, as AKS leaves it); for a deletion, the
// first done machines go and the others stay (the count rises back by
// those).
func (c *Cloud) Fail(sub, rg, clusterName, name string, e Error, done int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, p, _ := c.find(sub, rg, clusterName, name)
	if p != nil && p.op != nil && p.op.Status == InProgress {
		c.endLocked(p.op, &e, done, true)
	}
}

// Boot ends the pool's operation successfully if one runs and brings its
// machines up to the count: what Azure does for a pool given time.
func (c *Cloud) Boot(sub, rg, clusterName, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, p, _ := c.find(sub, rg, clusterName, name)
	if p == nil {
		return
	}
	if p.op != nil && p.op.Status == InProgress {
		c.endLocked(p.op, nil, -1, true)
	}
	p.vms = p.live()
	p.bootTo(int(*p.props.Count))
}

// endLocked ends op; done < 0 means all of it happened. boot brings a
// scale's machines up.
func (c *Cloud) endLocked(op *Op, e *Error, done int, boot bool) {
	p := op.pool
	switch op.Kind {
	case "scale":
		if boot || e != nil {
			want := int(*p.props.Count)
			if e != nil && done >= 0 {
				want = min(want, len(p.live())+done)
			}
			p.bootTo(want)
		}
	case "deleteMachines":
		gone := len(op.Machines)
		if e != nil && done >= 0 {
			gone = min(gone, done)
		}
		var kept []*vm
		for _, v := range p.vms {
			i := slices.Index(op.Machines, p.machineName(v))
			switch {
			case i >= 0 && i < gone:
				// deleted
			case i >= gone:
				v.deleting = false
				kept = append(kept, v)
				*p.props.Count++
			default:
				kept = append(kept, v)
			}
		}
		p.vms = kept
	}
	op.Err = e
	if e != nil {
		op.Status = Failed
		p.props.ProvisioningState = to.Ptr(Failed)
	} else {
		op.Status = Succeeded
		p.props.ProvisioningState = to.Ptr(Succeeded)
	}
	p.etag++
}
