package podcontract

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/util/semantic"
)

// LabelGPUProduct is the node label a GPU profile's product is matched on.
const LabelGPUProduct = "nvidia.com/gpu.product"

// Applied is what carve's pod webhook applied, recorded as JSON in the
// carve.dev/applied annotation so that later edits, the scheduler and people
// can see what the pod was given.
type Applied struct {
	Workspace string              `json:"workspace"`
	Team      string              `json:"team,omitempty"`
	Profile   string              `json:"profile"`
	Workload  carvev1.Workload    `json:"workload"`
	Mode      string              `json:"mode"`
	Requests  corev1.ResourceList `json:"requests"`
	Limits    corev1.ResourceList `json:"limits"`
	NodePools []string            `json:"nodePools,omitempty"`
}

// Modes of Applied: where the profile's CPU and memory were written.
const (
	ModePod       = "pod"
	ModeContainer = "container"
)

// AppliedOf decodes a pod's carve.dev/applied annotation; ok is false when
// the pod has none (it was never admitted by carve) or it does not parse.
func AppliedOf(pod *corev1.Pod) (a Applied, ok bool) {
	s, found := pod.Annotations[carvev1.AnnotationApplied]
	if !found {
		return a, false
	}
	return a, json.Unmarshal([]byte(s), &a) == nil
}

// Admit is the decision of carve's mutating webhook for a pod created in
// namespace ns: the pod as carve would have it, or a *Denial naming each rule
// the pod breaks. It does not modify pod. Admitting an admitted pod gives the
// same pod.
func Admit(pod *corev1.Pod, ns *corev1.Namespace, l Lookup, opts Options) (*corev1.Pod, error) {
	t, err := Resolve(pod, ns, l)
	if err != nil {
		return nil, err
	}
	var vs violations
	granted := grantedTolerations(t)
	checkScheduling(pod, t, &vs)
	checkTolerations(pod, t.Profile.Name, granted, &vs)
	res := resourcesOf(t.Profile)
	checkResources(pod, t.Profile, res, opts, &vs)
	pc := priority(pod, t, l, &vs)
	if err := vs.err(); err != nil {
		return nil, err
	}
	out := pod.DeepCopy()
	applyPriority(out, pc)
	applyResources(out, res, opts)
	applyPlacement(out, t, granted)
	applyMetadata(out, t, res, opts)
	return out, nil
}

// Check is the decision of carve's validating webhook for a created pod: it
// must pass every rule and already be in the form Admit gives it, so that a
// pod that skipped the mutating webhook, or was rewritten after it, is
// refused rather than run unenforced.
func Check(pod *corev1.Pod, ns *corev1.Namespace, l Lookup, opts Options) error {
	want, err := Admit(pod, ns, l, opts)
	if err != nil {
		return err
	}
	if admittedAs(want, pod) {
		return nil
	}
	var parts []string
	if !equality.Semantic.DeepEqual(want.Spec.Resources, pod.Spec.Resources) ||
		!equality.Semantic.DeepEqual(want.Spec.Containers, pod.Spec.Containers) ||
		!equality.Semantic.DeepEqual(want.Spec.InitContainers, pod.Spec.InitContainers) {
		parts = append(parts, "resources")
	}
	if want.Spec.SchedulerName != pod.Spec.SchedulerName {
		parts = append(parts, "schedulerName")
	}
	if !equality.Semantic.DeepEqual(want.Spec.NodeSelector, pod.Spec.NodeSelector) ||
		!equality.Semantic.DeepEqual(want.Spec.Affinity, pod.Spec.Affinity) ||
		!equality.Semantic.DeepEqual(want.Spec.Tolerations, pod.Spec.Tolerations) {
		parts = append(parts, "placement")
	}
	if !equality.Semantic.DeepEqual(want.ObjectMeta, pod.ObjectMeta) {
		parts = append(parts, "labels or annotations")
	}
	if len(parts) == 0 {
		parts = append(parts, "spec")
	}
	return &Denial{Violations: []Violation{{RuleNotEnforced, fmt.Sprintf(
		"the pod's %s differ from what profile %q gives; carve's mutating webhook did not run or another webhook changed the pod after it: check the cluster's mutating webhooks",
		strings.Join(parts, ", "), pod.Labels[carvev1.LabelProfile])}}}
}

// admittedAs says whether want, which Admit made of pod, equals pod
// (equality.Semantic.DeepEqual). Admit copies the pod and writes only the
// fields compared here, so the rest are equal by construction; comparing
// two whole pods by reflection was a quarter of what a validating review
// cost, and comparing even these fields by reflection a sixth (package
// semantic compares them by hand). FuzzAdmit holds this to DeepEqual.
func admittedAs(want, pod *corev1.Pod) bool {
	a, b := &want.Spec, &pod.Spec
	if len(a.Containers) != len(b.Containers) || len(a.InitContainers) != len(b.InitContainers) {
		return false
	}
	for i := range a.Containers {
		if !semantic.Requirements(&a.Containers[i].Resources, &b.Containers[i].Resources) {
			return false
		}
	}
	for i := range a.InitContainers {
		if !semantic.Requirements(&a.InitContainers[i].Resources, &b.InitContainers[i].Resources) {
			return false
		}
	}
	return a.SchedulerName == b.SchedulerName && a.PriorityClassName == b.PriorityClassName &&
		semantic.StringMaps(want.Labels, pod.Labels) && semantic.StringMaps(want.Annotations, pod.Annotations) &&
		semantic.StringMaps(a.NodeSelector, b.NodeSelector) && semantic.Affinity(a.Affinity, b.Affinity) &&
		semantic.Tolerations(a.Tolerations, b.Tolerations) && semantic.Requirements(a.Resources, b.Resources) &&
		semantic.Pointers(a.Priority, b.Priority) && semantic.Pointers(a.PreemptionPolicy, b.PreemptionPolicy)
}

// checkScheduling finds ways a pod tries to place itself around carve.
func checkScheduling(pod *corev1.Pod, t *Target, vs *violations) {
	switch pod.Spec.SchedulerName {
	case "", corev1.DefaultSchedulerName, carvev1.SchedulerName:
	default:
		vs.add(RuleSchedulerName, fmt.Sprintf(
			"spec.schedulerName %q is not allowed: workspace pods are placed by %s, which enforces the workspace's quota and queue; remove spec.schedulerName",
			pod.Spec.SchedulerName, carvev1.SchedulerName))
	}
	if pod.Spec.NodeName != "" {
		vs.add(RuleNodeName, fmt.Sprintf(
			"spec.nodeName %q is not allowed: it would bypass %s and the workspace's quota; remove it and pick a profile instead",
			pod.Spec.NodeName, carvev1.SchedulerName))
	}
	pools := poolNames(t)
	if v, ok := pod.Spec.NodeSelector[carvev1.LabelNodePool]; ok && len(pools) > 0 && !slices.Contains(pools, v) {
		vs.add(RulePlacement, fmt.Sprintf(
			"nodeSelector %s=%s conflicts with profile %q, which runs on %s; remove the selector or pick a profile of that pool",
			carvev1.LabelNodePool, v, t.Profile.Name, strings.Join(pools, ", ")))
	}
	if g := t.Profile.Spec.GPU; g != nil && g.Product != "" {
		if v, ok := pod.Spec.NodeSelector[LabelGPUProduct]; ok && v != g.Product {
			vs.add(RulePlacement, fmt.Sprintf(
				"nodeSelector %s=%s conflicts with profile %q, which runs on %s GPUs; remove the selector or pick another profile",
				LabelGPUProduct, v, t.Profile.Name, g.Product))
		}
	}
}

func poolNames(t *Target) []string {
	names := make([]string, len(t.Pools))
	for i, p := range t.Pools {
		names[i] = p.Name
	}
	slices.Sort(names)
	return names
}

// applyPlacement steers the pod to its profile's node pools and gives it
// the tolerations the profile grants.
func applyPlacement(pod *corev1.Pod, t *Target, granted []corev1.Toleration) {
	pod.Spec.SchedulerName = carvev1.SchedulerName
	pools := poolNames(t)
	switch {
	case len(pools) == 1:
		setNodeSelector(pod, carvev1.LabelNodePool, pools[0])
	case len(pools) > 1:
		requirePools(pod, pools)
	}
	if g := t.Profile.Spec.GPU; g != nil && g.Product != "" {
		setNodeSelector(pod, LabelGPUProduct, g.Product)
	}
	for _, tol := range granted {
		addToleration(pod, tol)
	}
}

func setNodeSelector(pod *corev1.Pod, k, v string) {
	if pod.Spec.NodeSelector == nil {
		pod.Spec.NodeSelector = map[string]string{}
	}
	pod.Spec.NodeSelector[k] = v
}

// requirePools adds "node pool in pools" to every required node affinity
// term (terms are ORed, so each needs it).
func requirePools(pod *corev1.Pod, pools []string) {
	req := corev1.NodeSelectorRequirement{Key: carvev1.LabelNodePool, Operator: corev1.NodeSelectorOpIn, Values: pools}
	if pod.Spec.Affinity == nil {
		pod.Spec.Affinity = &corev1.Affinity{}
	}
	na := pod.Spec.Affinity.NodeAffinity
	if na == nil {
		na = &corev1.NodeAffinity{}
		pod.Spec.Affinity.NodeAffinity = na
	}
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
	}
	ns := na.RequiredDuringSchedulingIgnoredDuringExecution
	if len(ns.NodeSelectorTerms) == 0 {
		ns.NodeSelectorTerms = []corev1.NodeSelectorTerm{{}}
	}
	for i := range ns.NodeSelectorTerms {
		term := &ns.NodeSelectorTerms[i]
		term.MatchExpressions = slices.DeleteFunc(term.MatchExpressions, func(r corev1.NodeSelectorRequirement) bool {
			return r.Key == carvev1.LabelNodePool
		})
		term.MatchExpressions = append(term.MatchExpressions, *req.DeepCopy())
	}
}

func toleration(t corev1.Taint) corev1.Toleration {
	tol := corev1.Toleration{Key: t.Key, Operator: corev1.TolerationOpEqual, Value: t.Value, Effect: t.Effect}
	if t.Value == "" {
		tol.Operator = corev1.TolerationOpExists
	}
	return tol
}

func addToleration(pod *corev1.Pod, tol corev1.Toleration) {
	for _, have := range pod.Spec.Tolerations {
		if have.Key == tol.Key && have.Operator == tol.Operator && have.Value == tol.Value &&
			have.Effect == tol.Effect && have.TolerationSeconds == nil {
			return
		}
	}
	pod.Spec.Tolerations = append(pod.Spec.Tolerations, tol)
}

// applyMetadata writes carve's labels and annotations.
func applyMetadata(pod *corev1.Pod, t *Target, res profileResources, opts Options) {
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[carvev1.LabelWorkspace] = t.Workspace.Name
	pod.Labels[carvev1.LabelProfile] = t.Profile.Name
	pod.Labels[carvev1.LabelWorkload] = string(t.Workload)
	if t.Team != "" {
		pod.Labels[carvev1.LabelTeam] = t.Team
	} else {
		// The team decides quota: a pod may not claim one its namespace lacks.
		delete(pod.Labels, carvev1.LabelTeam)
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	if t.Workload == carvev1.WorkloadSession {
		pod.Annotations[carvev1.AnnotationSafeToEvict] = "false"
	}
	a := Applied{
		Workspace: t.Workspace.Name,
		Team:      t.Team,
		Profile:   t.Profile.Name,
		Workload:  t.Workload,
		Mode:      ModeContainer,
		Requests:  res.req,
		Limits:    res.lim,
		NodePools: poolNames(t),
	}
	if opts.PodLevelResources {
		a.Mode = ModePod
	}
	pod.Annotations[carvev1.AnnotationApplied] = string(a.appendJSON(make([]byte, 0, 256)))
}
