// Package kubectlcarve is the kubectl plugin `kubectl carve`: one command
// per question users ask of carve. `status` (what each workspace, team and
// project holds of its quota, and what each NodePool costs), `queue` (the
// pods waiting for quota, in admission order), `why POD` (why a pod does not
// run, in one answer) and `profiles` (what a namespace's pods may pick).
//
// Each command reads objects with a plain client, builds a report (a typed
// value, which is also the command's -o json|yaml output), and prints it as
// a kubectl-style table or text. The reports are built from carve's own
// records: Workspace and NodePool status, carve-scheduler's
// carve.dev/Admitted pod condition (parsed by ParseWaiting), the
// scheduler's PodScheduled condition and carve's webhook denials in
// FailedCreate events. cmd/kubectl-carve only runs NewCommand.
package kubectlcarve
