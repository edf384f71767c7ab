package podcontract_test

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	carvev1 "github.com/carve-dev/carve/pkg/apis/carve/v1alpha1"
	"github.com/carve-dev/carve/pkg/podcontract"
	ut "github.com/carve-dev/carve/pkg/util/testing"
)

// priorityWorld is world() with PriorityClasses and a workspace "ml" that
// allows two of them and gives one by default.
func priorityWorld(ws *ut.WorkspaceWrapper, globalDefault bool) *ut.Objects {
	w := world()
	w.Workspaces["ml"] = ws.Obj()
	for _, pc := range []any{
		ut.MakePriorityClass("system-cluster-critical", 2000000000, "", false),
		ut.MakePriorityClass("team-high", 1000, corev1.PreemptLowerPriority, false),
		ut.MakePriorityClass("calm-high", 1000, corev1.PreemptNever, false),
		ut.MakePriorityClass("batch-low", -10, corev1.PreemptLowerPriority, false),
		ut.MakePriorityClass("cluster-default", 100, corev1.PreemptLowerPriority, globalDefault),
	} {
		o := ut.NewObjects(pc)
		for k, v := range o.PriorityClasses {
			w.PriorityClasses[k] = v
		}
	}
	return w
}

func mlWorkspace() *ut.WorkspaceWrapper {
	return ut.MakeWorkspace("ml", "small", "large", "gpu-1", "ghost", "multi")
}

// asResolved is the pod as the Priority admission plugin leaves it before
// carve's webhook: the class's value and preemption policy filled in.
func asResolved(p *ut.PodWrapper, w *ut.Objects, class string) *corev1.Pod {
	pod := p.Obj()
	if class == "" {
		return pod
	}
	pc := w.PriorityClasses[class]
	pod.Spec.PriorityClassName, pod.Spec.Priority, pod.Spec.PreemptionPolicy = pc.Name, ptr.To(pc.Value), pc.PreemptionPolicy
	return pod
}

func TestPriorityClasses(t *testing.T) {
	job := func() *ut.PodWrapper {
		return ut.MakePod("p", "alice").Label(carvev1.LabelWorkload, "job").Container("c", "", "")
	}
	session := func() *ut.PodWrapper { return ut.MakePod("p", "alice").Container("c", "", "") }
	for _, tc := range []struct {
		name          string
		ws            *ut.WorkspaceWrapper
		globalDefault bool
		pod           *ut.PodWrapper
		class         string // the pod's class as the Priority plugin resolved it
		wantClass     string // after carve, when admitted
		rule          podcontract.Rule
		says          []string
	}{
		{name: "no class, no policy", ws: mlWorkspace(), pod: session(), wantClass: ""},
		{name: "system class refused without a policy", ws: mlWorkspace(), pod: job(), class: "system-cluster-critical",
			rule: podcontract.RulePriorityClass, says: []string{`"system-cluster-critical"`, "allows no priority class", "remove priorityClassName"}},
		{name: "class not allowed names the allowed ones", ws: mlWorkspace().PriorityClasses("", "", "batch-low", "calm-high"), pod: job(), class: "team-high",
			rule: podcontract.RulePriorityClass, says: []string{`"team-high"`, "batch-low, calm-high"}},
		{name: "allowed class kept", ws: mlWorkspace().PriorityClasses("", "", "team-high"), pod: job(), class: "team-high", wantClass: "team-high"},
		{name: "workspace default given", ws: mlWorkspace().PriorityClasses("batch-low", "", "batch-low"), pod: job(), wantClass: "batch-low"},
		{name: "workspace default replaces the cluster's", ws: mlWorkspace().PriorityClasses("batch-low", "", "batch-low"), globalDefault: true,
			pod: job(), class: "cluster-default", wantClass: "batch-low"},
		{name: "cluster default always allowed", ws: mlWorkspace(), globalDefault: true, pod: session(), class: "cluster-default", wantClass: "cluster-default"},
		{name: "session may not preempt", ws: mlWorkspace().PriorityClasses("", "", "team-high", "calm-high"), pod: session(), class: "team-high",
			rule: podcontract.RuleSessionPreemption, says: []string{`"team-high"`, "preemptionPolicy: Never", "sessionPreemption"}},
		{name: "session with a Never class", ws: mlWorkspace().PriorityClasses("", "", "calm-high"), pod: session(), class: "calm-high", wantClass: "calm-high"},
		{name: "session given a preempting default", ws: mlWorkspace().PriorityClasses("team-high", "", "team-high"), pod: session(),
			rule: podcontract.RuleSessionPreemption, says: []string{`"team-high"`}},
		{name: "session preemption allowed", ws: mlWorkspace().PriorityClasses("", corev1.PreemptLowerPriority, "team-high"), pod: session(), class: "team-high", wantClass: "team-high"},
		{name: "negative class may preempt", ws: mlWorkspace().PriorityClasses("", "", "batch-low"), pod: session(), class: "batch-low", wantClass: "batch-low"},
		{name: "missing default class", ws: mlWorkspace().PriorityClasses("gone", "", "gone"), pod: job(),
			rule: podcontract.RulePriorityClass, says: []string{`"gone"`, "does not exist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := priorityWorld(tc.ws, tc.globalDefault)
			pod := asResolved(tc.pod, w, tc.class)
			got, err := podcontract.Admit(pod, mlNS, w, podLvl)
			if tc.rule != "" {
				var d *podcontract.Denial
				if !errors.As(err, &d) || !d.Has(tc.rule) {
					t.Fatalf("Admit: %v, want a %s denial", err, tc.rule)
				}
				for _, s := range tc.says {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("denial %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Admit: %v", err)
			}
			if got.Spec.PriorityClassName != tc.wantClass {
				t.Errorf("priorityClassName %q, want %q", got.Spec.PriorityClassName, tc.wantClass)
			}
			// What carve writes agrees with the class, as the Priority
			// plugin checks when it runs again after the webhook.
			if pc, ok := w.PriorityClasses[tc.wantClass]; ok {
				if ptr.Deref(got.Spec.Priority, -1) != pc.Value || ptr.Deref(got.Spec.PreemptionPolicy, "") != *pc.PreemptionPolicy {
					t.Errorf("priority %v, preemptionPolicy %v; class %s has %d, %s", ptr.Deref(got.Spec.Priority, -1), ptr.Deref(got.Spec.PreemptionPolicy, ""), pc.Name, pc.Value, *pc.PreemptionPolicy)
				}
			}
			if err := podcontract.Check(got, mlNS, w, podLvl); err != nil {
				t.Errorf("Check of the admitted pod: %v", err)
			}
		})
	}
}
