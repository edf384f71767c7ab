package podcontract

import (
	"strings"
)

// Rule names a rule of the pod contract. It leads every denial message so
// that users and admins can look the rule up in docs/pod-contract.md.
type Rule string

const (
	RuleWorkspaceMissing   Rule = "WorkspaceMissing"
	RuleProfileUnknown     Rule = "ProfileUnknown"
	RuleProfileNotAllowed  Rule = "ProfileNotAllowed"
	RuleNodePoolMissing    Rule = "NodePoolMissing"
	RuleWorkloadInvalid    Rule = "WorkloadInvalid"
	RuleDaemonSet          Rule = "DaemonSetNotAllowed"
	RuleAboveProfile       Rule = "ResourcesAboveProfile"
	RuleGPUWithoutProfile  Rule = "GPUWithoutGPUProfile"
	RuleSchedulerName      Rule = "SchedulerName"
	RuleNodeName           Rule = "NodeNameSet"
	RulePlacement          Rule = "PlacementConflict"
	RuleNotEnforced        Rule = "NotEnforced"
	RuleImmutable          Rule = "EnforcementImmutable"
	RuleEphemeralResources Rule = "EphemeralContainerResources"
	RuleToleration         Rule = "TolerationNotGranted"
	RulePriorityClass      Rule = "PriorityClassNotAllowed"
	RuleSessionPreemption  Rule = "SessionMayPreempt"
	RuleResizeAboveQuota   Rule = "ResizeAboveQuota"
)

// Violation is one broken rule: what is wrong and what to do instead.
type Violation struct {
	Rule    Rule
	Message string
}

func (v Violation) String() string { return string(v.Rule) + ": " + v.Message }

// Denial is the error returned for a pod or pod edit that breaks the
// contract. Its message lists every violation found.
type Denial struct {
	Violations []Violation
}

func (d *Denial) Error() string {
	parts := make([]string, len(d.Violations))
	for i, v := range d.Violations {
		parts[i] = v.String()
	}
	return "carve: " + strings.Join(parts, "; ")
}

// Has reports whether the denial includes a violation of rule r.
func (d *Denial) Has(r Rule) bool {
	for _, v := range d.Violations {
		if v.Rule == r {
			return true
		}
	}
	return false
}

// violations collects broken rules while a decision is made.
type violations []Violation

func (vs *violations) add(r Rule, msg string) { *vs = append(*vs, Violation{Rule: r, Message: msg}) }

// err returns nil when nothing was broken, else a *Denial.
func (vs violations) err() error {
	if len(vs) == 0 {
		return nil
	}
	return &Denial{Violations: vs}
}
