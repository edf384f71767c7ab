package kubectlcarve

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/client"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
)

// QueueReport is `kubectl carve queue -o json|yaml`: the waiting pods by
// workspace, then place in its queue.
type QueueReport struct {
	Pods []QueuedPod `json:"pods"`
}

// QueuedPod is a pod that carve-scheduler holds for quota or a spent budget
// (carve.dev/Admitted=False, reason WaitingForQuota or OverBudget).
type QueuedPod struct {
	Workspace string `json:"workspace"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Reason is the condition's: WaitingForQuota or OverBudget.
	Reason string `json:"reason"`
	// Profile is the pod's carve.dev/profile label.
	Profile string `json:"profile,omitempty"`
	// Requests is what the pod asks for in all (the condition names only
	// the resource that is short).
	Requests Requests `json:"requests"`
	// Waiting is the condition's message, parsed; Parsed is false when the
	// message is of a format this plugin does not know (Message has it).
	Waiting Waiting `json:"waiting"`
	Parsed  bool    `json:"parsed"`
	Message string  `json:"message"`
	// Since is when the pod started to wait (the condition's
	// lastTransitionTime); Created is the pod's creation.
	Since   metav1.Time `json:"since"`
	Created metav1.Time `json:"created"`
}

func newQueueCommand(e *env) *cobra.Command {
	var out outputFlag
	var workspace string
	var all bool
	cmd := &cobra.Command{
		Use:   "queue [-w WORKSPACE | -n NAMESPACE | -A]",
		Short: "The pods waiting for quota or a spent budget, in the order carve-scheduler admits them",
		Long: `The pods waiting for quota or for a spent budget (carve.dev/Admitted=False, reason
WaitingForQuota or OverBudget), sorted by workspace and their place in its queue; pods held by a
budget have no place and come last. Without flags, those of the current namespace; -w lists a
workspace's across its namespaces, -A every workspace's.`,
		Example: `  kubectl carve queue -n ml-alice
  kubectl carve queue -w ml-team
  kubectl carve queue -A -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReport(cmd.Context(), e, &out, func(ctx context.Context, c client.Client) (*QueueReport, error) {
				ns := ""
				if !all && workspace == "" {
					var err error
					if ns, err = e.namespace(); err != nil {
						return nil, err
					}
				}
				pods, err := listWaiting(ctx, c, ns, workspace)
				return &QueueReport{Pods: pods}, err
			}, func(w io.Writer, r *QueueReport) error { return printQueue(w, r, e.age) })
		},
	}
	out.add(cmd)
	cmd.Flags().StringVarP(&workspace, "workspace", "w", "", "The pods of this workspace, in all its namespaces.")
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "The pods of every workspace.")
	return cmd
}

// listWaiting lists the waiting pods of namespace ns (all when empty) and
// workspace (any when empty), in queue order.
func listWaiting(ctx context.Context, c client.Client, ns, workspace string) ([]QueuedPod, error) {
	// Only workspace pods wait, and never a bound one.
	op, vals := selection.Exists, []string(nil)
	if workspace != "" {
		op, vals = selection.Equals, []string{workspace}
	}
	req, err := labels.NewRequirement(carvev1.LabelWorkspace, op, vals)
	if err != nil {
		return nil, err
	}
	var pods corev1.PodList
	opts := []client.ListOption{
		client.MatchingLabelsSelector{Selector: labels.NewSelector().Add(*req)},
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("spec.nodeName", "")},
	}
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := c.List(ctx, &pods, opts...); err != nil {
		where := "in namespace " + ns
		if ns == "" {
			where = "in all namespaces"
		}
		return nil, fmt.Errorf("listing pods %s: %w", where, err)
	}
	return waitingPods(pods.Items), nil
}

// waitingPods picks the pods that wait for quota or a budget and sorts them
// by workspace, then place (pods without a place last), then name.
func waitingPods(pods []corev1.Pod) []QueuedPod {
	out := []QueuedPod{}
	for i := range pods {
		p := &pods[i]
		c := podCondition(p, carvev1.PodConditionAdmitted)
		if c == nil || c.Status != corev1.ConditionFalse || !holds(c.Reason) || p.DeletionTimestamp != nil {
			continue
		}
		w, ok := ParseWaiting(c.Message)
		q := QueuedPod{
			Workspace: w.Workspace,
			Namespace: p.Namespace,
			Name:      p.Name,
			Reason:    c.Reason,
			Profile:   p.Labels[carvev1.LabelProfile],
			Requests:  requestsOf(p),
			Waiting:   w,
			Parsed:    ok,
			Message:   c.Message,
			Since:     c.LastTransitionTime,
			Created:   p.CreationTimestamp,
		}
		if q.Workspace == "" {
			q.Workspace = p.Labels[carvev1.LabelWorkspace]
		}
		out = append(out, q)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Workspace != b.Workspace {
			return a.Workspace < b.Workspace
		}
		if pa, pb := a.Waiting.Position, b.Waiting.Position; pa != pb {
			return pb == 0 || (pa != 0 && pa < pb)
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out
}

// holds is true for the reasons of carve.dev/Admitted=False that hold a pod
// before the scheduling queue.
func holds(reason string) bool {
	return reason == carvev1.ReasonWaitingForQuota || reason == carvev1.ReasonOverBudget
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func printQueue(w io.Writer, r *QueueReport, age ageFunc) error {
	if len(r.Pods) == 0 {
		_, err := fmt.Fprintln(w, "No pods wait for quota or a budget.")
		return err
	}
	t := newTable(w, "WORKSPACE", "POSITION", "NAMESPACE", "POD", "PROFILE", "NEEDS", "WAITING FOR", "EXPECTED START", "AGE")
	for _, p := range r.Pods {
		pos, reason := "", p.Message
		if p.Waiting.Position > 0 {
			pos = strconv.Itoa(p.Waiting.Position)
		}
		switch {
		case p.Parsed:
			reason = p.Waiting.Short()
		case p.Reason == carvev1.ReasonOverBudget:
			reason = "over budget: " + p.Message
		}
		t.row(p.Workspace, pos, p.Namespace, p.Name, p.Profile, p.Requests.String(), reason, p.Waiting.Expected(), age(p.Created.Time))
	}
	return t.flush()
}
