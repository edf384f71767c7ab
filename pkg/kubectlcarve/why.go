package kubectlcarve

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// WhyReport is `kubectl carve why -o json|yaml`: one answer per pod the
// argument names, or one for the owner when it has no pods.
type WhyReport struct {
	// Target is what was asked about, e.g. "pod/nb-1" or "deployment/web".
	Target  string   `json:"target"`
	Answers []Answer `json:"answers"`
}

// Case is the kind of answer.
type Case string

const (
	// CaseDenied: the owner has no pods because carve's webhook refuses them.
	CaseDenied Case = "Denied"
	// CaseNoPods: the owner has no pods, and no carve denial says why.
	CaseNoPods Case = "NoPods"
	// CaseWaitingForQuota: carve-scheduler holds the pod for quota.
	CaseWaitingForQuota Case = "WaitingForQuota"
	// CaseOverBudget: carve-scheduler holds the pod because a budget of its
	// workspace, team or project is spent.
	CaseOverBudget Case = "OverBudget"
	// CaseUnschedulable: admitted, but no node fits it.
	CaseUnschedulable Case = "Unschedulable"
	// CaseRunning: bound to a node (Running, or its containers starting).
	CaseRunning Case = "Running"
	// CaseFinished: Succeeded or Failed; it holds no quota.
	CaseFinished Case = "Finished"
	// CaseNotManaged: not a workspace pod; carve does not manage it.
	CaseNotManaged Case = "NotManaged"
	// CasePending: a workspace pod that carve-scheduler has not decided on.
	CasePending Case = "Pending"
)

// Answer says why one pod (or an owner without pods) does not run.
type Answer struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Case      Case   `json:"case"`
	// Summary is the answer in one sentence.
	Summary string `json:"summary"`
	// Phase is a pod's status.phase.
	Phase string `json:"phase,omitempty"`
	// Profile and Workspace are a pod's carve labels.
	Profile   string `json:"profile,omitempty"`
	Workspace string `json:"workspace,omitempty"`

	Denial        *Denial        `json:"denial,omitempty"`
	Waiting       *WaitingAnswer `json:"waiting,omitempty"`
	Unschedulable *Unschedulable `json:"unschedulable,omitempty"`
	Running       *Running       `json:"running,omitempty"`
	// Message is what else there is to read: the last FailedCreate of an
	// owner without pods, a pod's PodScheduled message.
	Message string `json:"message,omitempty"`
}

// Denial is carve's webhook refusing an owner's pods, read from a
// FailedCreate event: "carve: <Rule>: <what happened and what to do>".
type Denial struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
	// Object is the object the event is on, e.g. "replicaset/web-5d8f".
	Object   string      `json:"object"`
	LastSeen metav1.Time `json:"lastSeen"`
}

// WaitingAnswer is a pod held for quota or a spent budget (Waiting.Budget).
type WaitingAnswer struct {
	Waiting
	// Parsed is false when the condition's message has a format this
	// plugin does not know; Message has it as written.
	Parsed  bool        `json:"parsed"`
	Message string      `json:"message"`
	Since   metav1.Time `json:"since"`
	// Ahead are the pods before it in its workspace's queue, front first.
	Ahead []PodRef `json:"ahead"`
	// Visible is the namespace whose queue was read when the pods of the
	// whole workspace could not be listed (no access); empty otherwise.
	Visible string `json:"visibleNamespace,omitempty"`
}

// PodRef is a pod and its place in a queue.
type PodRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Position  int    `json:"position"`
}

// Unschedulable is an admitted pod that no node fits.
type Unschedulable struct {
	// Message is the scheduler's, from the PodScheduled condition.
	Message  string       `json:"message"`
	Requests Requests     `json:"requests"`
	Pools    []PoolAnswer `json:"pools"`
}

// PoolState is what a NodePool does about a pod that fits no node.
type PoolState string

const (
	// PoolMissing: the NodePool does not exist.
	PoolMissing PoolState = "Missing"
	// PoolTooSmall: one node of the pool is smaller than the pod.
	PoolTooSmall PoolState = "TooSmall"
	// PoolUnavailable: carve-cloudprovider does not offer the pool (Ready=False).
	PoolUnavailable PoolState = "Unavailable"
	// PoolScalingUp: nodes are asked for and not there yet.
	PoolScalingUp PoolState = "ScalingUp"
	// PoolAtMaxSize: the pool has maxSize nodes.
	PoolAtMaxSize PoolState = "AtMaxSize"
	// PoolScaleRefused: carve refused the autoscaler's latest change.
	PoolScaleRefused PoolState = "ScaleRefused"
	// PoolNotScaling: the pool could grow, and no one asked it to.
	PoolNotScaling PoolState = "NotScaling"
)

// PoolAnswer is one NodePool the pod may run on.
type PoolAnswer struct {
	Name        string    `json:"name"`
	State       PoolState `json:"state"`
	Detail      string    `json:"detail"`
	MinSize     int32     `json:"minSize"`
	MaxSize     int32     `json:"maxSize"`
	CurrentSize int32     `json:"currentSize"`
	TargetSize  int32     `json:"targetSize"`
}

// Running is a pod bound to a node.
type Running struct {
	Node string `json:"node"`
	// Pool is the node's carve.dev/node-pool label.
	Pool string `json:"pool,omitempty"`
	// Retiring is the message of the pod's carve.dev/NodeRetiring
	// condition while its node is being retired.
	Retiring string `json:"retiring,omitempty"`
}

func newWhyCommand(e *env) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "why (POD | TYPE/NAME)",
		Short: "Why a pod does not run: refused, waiting for quota or a budget, waiting for a node, or running",
		Long: `Why a pod does not run, in one answer: carve's webhook refuses its owner's pods, it waits for
quota (which quota, what is in use, its place and who is ahead), a budget of its workspace, team
or project is spent (which, what is used, when it resets), no node fits it (what its node pools
do about it), or it runs (on which node and pool).

POD may be a pod's name or the start of one (the pods of a Deployment are web-...). TYPE/NAME
is deployment/NAME, statefulset/NAME, job/NAME, replicaset/NAME or pod/NAME. A name that is
neither a pod nor a pod's prefix is looked up as a Deployment, StatefulSet, Job and ReplicaSet.`,
		Example: `  kubectl carve why nb-3 -n ml-alice
  kubectl carve why deployment/web -n ml-alice`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(cmd.Context(), e, &out, func(ctx context.Context, c client.Client) (*WhyReport, error) {
				ns, err := e.namespace()
				if err != nil {
					return nil, err
				}
				return why(ctx, c, ns, args[0])
			}, func(w io.Writer, r *WhyReport) error { return printWhy(w, r, e.age) })
		},
	}
	out.add(cmd)
	return cmd
}

// ownerKinds are the kinds `why NAME` tries, in this order, when NAME is
// no pod.
var ownerKinds = []string{"deployment", "statefulset", "job", "replicaset"}

func kindOf(s string) (string, bool) {
	s = strings.ToLower(s)
	s, _, _ = strings.Cut(s, ".") // deployment.apps
	switch s {
	case "pod", "pods", "po":
		return "pod", true
	case "deployment", "deployments", "deploy":
		return "deployment", true
	case "statefulset", "statefulsets", "sts":
		return "statefulset", true
	case "job", "jobs":
		return "job", true
	case "replicaset", "replicasets", "rs":
		return "replicaset", true
	}
	return "", false
}

func why(ctx context.Context, c client.Client, ns, arg string) (*WhyReport, error) {
	kind, name, found := strings.Cut(arg, "/")
	if !found {
		kind, name = "", arg
	} else {
		k, ok := kindOf(kind)
		if !ok {
			return nil, fmt.Errorf("%q: kubectl carve why knows pods, deployments, statefulsets, jobs and replicasets", arg)
		}
		kind = k
	}
	if name == "" {
		return nil, fmt.Errorf("%q: no name", arg)
	}
	if kind == "pod" || kind == "" {
		var pod corev1.Pod
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &pod)
		switch {
		case err == nil:
			a, err := diagnosePod(ctx, c, &pod)
			if err != nil {
				return nil, err
			}
			return &WhyReport{Target: "pod/" + name, Answers: []Answer{a}}, nil
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("reading pod %s/%s: %w", ns, name, err)
		case kind == "pod":
			return nil, fmt.Errorf("pod %s/%s not found", ns, name)
		}
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("listing pods in %s: %w", ns, err)
		}
		var prefixed []*corev1.Pod
		for i := range pods.Items {
			if strings.HasPrefix(pods.Items[i].Name, name) {
				prefixed = append(prefixed, &pods.Items[i])
			}
		}
		if len(prefixed) > 0 {
			return answerPods(ctx, c, "pod/"+name+"*", prefixed)
		}
		for _, k := range ownerKinds {
			r, err := whyOwner(ctx, c, ns, k, name)
			if !apierrors.IsNotFound(err) {
				return r, err
			}
		}
		return nil, fmt.Errorf("no pod %s in namespace %s, no pod whose name starts with it, and no deployment, statefulset, job or replicaset of that name", name, ns)
	}
	r, err := whyOwner(ctx, c, ns, kind, name)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s %s/%s not found", kind, ns, name)
	}
	return r, err
}

func answerPods(ctx context.Context, c client.Client, target string, pods []*corev1.Pod) (*WhyReport, error) {
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	r := &WhyReport{Target: target}
	for _, p := range pods {
		a, err := diagnosePod(ctx, c, p)
		if err != nil {
			return nil, err
		}
		r.Answers = append(r.Answers, a)
	}
	return r, nil
}

// eventSource is an object whose FailedCreate events may hold a denial.
type eventSource struct {
	kind string // Deployment's ReplicaSets: "ReplicaSet"
	obj  client.Object
}

// whyOwner answers for an owner: for its pods if it has any, else from the
// FailedCreate events of what creates them. A NotFound error means the
// owner does not exist.
func whyOwner(ctx context.Context, c client.Client, ns, kind, name string) (*WhyReport, error) {
	key := client.ObjectKey{Namespace: ns, Name: name}
	target := kind + "/" + name
	var owner client.Object
	switch kind {
	case "deployment":
		owner = &appsv1.Deployment{}
	case "statefulset":
		owner = &appsv1.StatefulSet{}
	case "job":
		owner = &batchv1.Job{}
	case "replicaset":
		owner = &appsv1.ReplicaSet{}
	}
	if err := c.Get(ctx, key, owner); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, err
		}
		return nil, fmt.Errorf("reading %s: %w", target, err)
	}
	// What creates the pods: a Deployment's ReplicaSets, else the owner.
	owners := map[types.UID]bool{owner.GetUID(): true}
	sources := []eventSource{{kind: kindName(kind), obj: owner}}
	if kind == "deployment" {
		var rss appsv1.ReplicaSetList
		if err := c.List(ctx, &rss, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("listing replicasets in %s: %w", ns, err)
		}
		sources = nil
		for i := range rss.Items {
			if rs := &rss.Items[i]; controlledBy(rs, owner.GetUID()) {
				owners[rs.UID] = true
				sources = append(sources, eventSource{kind: "ReplicaSet", obj: rs})
			}
		}
		// The newest ReplicaSet is the one creating pods.
		sort.Slice(sources, func(i, j int) bool {
			return sources[j].obj.GetCreationTimestamp().Time.Before(sources[i].obj.GetCreationTimestamp().Time)
		})
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing pods in %s: %w", ns, err)
	}
	var owned []*corev1.Pod
	for i := range pods.Items {
		if ref := metav1.GetControllerOf(&pods.Items[i]); ref != nil && owners[ref.UID] {
			owned = append(owned, &pods.Items[i])
		}
	}
	if len(owned) > 0 {
		return answerPods(ctx, c, target, owned)
	}
	a := Answer{Kind: kindName(kind), Namespace: ns, Name: name, Case: CaseNoPods}
	for _, s := range sources {
		ev, err := lastFailedCreate(ctx, c, ns, s)
		if err != nil {
			return nil, err
		}
		if ev == nil {
			continue
		}
		if d, ok := parseDenial(ev.Message); ok {
			d.Object = strings.ToLower(s.kind) + "/" + s.obj.GetName()
			d.LastSeen = eventTime(ev)
			a.Case, a.Denial = CaseDenied, &d
			a.Summary = fmt.Sprintf("%s has no pods: carve refuses them (%s).", target, d.Rule)
			return &WhyReport{Target: target, Answers: []Answer{a}}, nil
		}
		if a.Message == "" {
			a.Message = ev.Message
		}
	}
	a.Summary = fmt.Sprintf("%s has no pods, and no event says that carve refuses them.", target)
	return &WhyReport{Target: target, Answers: []Answer{a}}, nil
}

func kindName(kind string) string {
	switch kind {
	case "deployment":
		return "Deployment"
	case "statefulset":
		return "StatefulSet"
	case "job":
		return "Job"
	case "replicaset":
		return "ReplicaSet"
	}
	return "Pod"
}

func controlledBy(obj metav1.Object, uid types.UID) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == uid
}

// lastFailedCreate is the newest FailedCreate event on s, or nil.
func lastFailedCreate(ctx context.Context, c client.Client, ns string, s eventSource) (*corev1.Event, error) {
	var evs corev1.EventList
	err := c.List(ctx, &evs, client.InNamespace(ns), client.MatchingFields{
		"involvedObject.kind": s.kind,
		"involvedObject.name": s.obj.GetName(),
		"reason":              "FailedCreate",
	})
	if err != nil {
		return nil, fmt.Errorf("listing events of %s %s: %w", s.kind, s.obj.GetName(), err)
	}
	var last *corev1.Event
	for i := range evs.Items {
		ev := &evs.Items[i]
		if ev.InvolvedObject.UID != "" && ev.InvolvedObject.UID != s.obj.GetUID() {
			continue
		}
		if last == nil || eventTime(last).Time.Before(eventTime(ev).Time) {
			last = ev
		}
	}
	return last, nil
}

// eventTime is when an event was last seen, by whichever API wrote it.
func eventTime(ev *corev1.Event) metav1.Time {
	switch {
	case ev.Series != nil:
		return metav1.NewTime(ev.Series.LastObservedTime.Time)
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp
	case !ev.EventTime.IsZero():
		return metav1.NewTime(ev.EventTime.Time)
	}
	return ev.CreationTimestamp
}

// parseDenial finds carve's "carve: <Rule>: <message>" in an event's
// message (the apiserver wraps it: `Error creating: admission webhook
// "pod.carve.dev" denied the request: carve: ...`).
func parseDenial(msg string) (Denial, bool) {
	_, rest, ok := strings.Cut(msg, "carve: ")
	if !ok {
		return Denial{}, false
	}
	rule, text, ok := strings.Cut(rest, ": ")
	if !ok || rule == "" || !isRule(rule) {
		return Denial{}, false
	}
	return Denial{Rule: rule, Message: text}, true
}

// isRule is true for a rule's name: a word in UpperCamelCase.
func isRule(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
		case i > 0 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9'):
		default:
			return false
		}
	}
	return true
}

func printWhy(w io.Writer, r *WhyReport, age ageFunc) error {
	for i, a := range r.Answers {
		if i > 0 {
			fmt.Fprintln(w)
		}
		printAnswer(w, &a, age)
	}
	return nil
}

func printAnswer(w io.Writer, a *Answer, age ageFunc) {
	fmt.Fprintln(w, a.Summary)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-10s %s\n", k+":", v)
		}
	}
	switch a.Case {
	case CaseDenied:
		d := a.Denial
		line("Rule", d.Rule)
		line("Message", d.Message)
		line("Seen", fmt.Sprintf("FailedCreate on %s, %s ago", d.Object, age(d.LastSeen.Time)))
		fmt.Fprintln(w, "  Fix the pod template as the message says; the controller retries by itself.")
	case CaseNoPods:
		line("Event", a.Message)
	case CaseWaitingForQuota:
		wt := a.Waiting
		if !wt.Parsed {
			line("Message", wt.Message)
			break
		}
		if wt.Scope == ScopeNamespace {
			line("Message", wt.Message)
			break
		}
		line("Quota", wt.QuotaName())
		if wt.NeverFits {
			line("Needs", fmt.Sprintf("%s %s, more than the whole quota of %s", wt.Resource, wt.Need, wt.Quota))
			fmt.Fprintln(w, "  It never fits: ask an admin to raise the quota, or pick a smaller profile.")
			break
		}
		line("Needs", fmt.Sprintf("%s %s, with %s/%s in use", wt.Resource, wt.Need, wt.InUse, wt.Quota))
		if wt.Position > 0 {
			line("Place", ordinal(wt.Position)+" in the queue of workspace "+wt.Workspace)
		}
		if e := wt.Waiting.Expected(); e != "" {
			line("Expected", "to start "+map[bool]string{true: "", false: "around "}[wt.StartsSoon]+e+" (carve-scheduler's estimate)")
		}
		line("Waiting", age(wt.Since.Time))
		var ahead []string
		for _, p := range wt.Ahead {
			ahead = append(ahead, fmt.Sprintf("%s/%s (%s)", p.Namespace, p.Name, ordinal(p.Position)))
		}
		switch {
		case len(ahead) > 0:
			line("Ahead", strings.Join(ahead, ", "))
		case wt.Position > 0:
			line("Ahead", "nobody: it is next")
		}
		if wt.Visible != "" {
			fmt.Fprintf(w, "  (only namespace %s's pods are visible to you: others of the workspace may be ahead too)\n", wt.Visible)
		}
		fmt.Fprintln(w, "  It starts once that quota has room: when a pod it counts finishes or is deleted, or an admin raises the quota.")
	case CaseOverBudget:
		wt := a.Waiting
		if !wt.Parsed {
			line("Message", wt.Message)
			break
		}
		b := wt.Budget
		line("Budget", wt.BudgetName())
		line("Used", fmt.Sprintf("%s/%s %s %s", b.Used, b.Limit, b.Unit, map[string]string{"Day": "today", "Week": "this week", "Month": "this month"}[b.Period]))
		line("Resets", b.Resets())
		line("Waiting", age(wt.Since.Time))
		fmt.Fprintf(w, "  It starts when the budget resets, or once an admin raises it (spec.budgets of workspace %s); running pods keep running.\n", wt.Workspace)
	case CaseUnschedulable:
		u := a.Unschedulable
		line("Needs", u.Requests.String())
		line("Scheduler", u.Message)
		for _, p := range u.Pools {
			line("NodePool", p.Name+": "+p.Detail)
		}
	case CaseNotManaged:
		line("Status", a.Message)
	case CasePending:
		line("Message", a.Message)
	}
}
