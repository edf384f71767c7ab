// Package chart tests the Helm chart charts/carve with the helm binary that
// hack/control-plane-tools.sh builds: it lints and renders the chart, checks
// the rendered objects agree with one another and with the flags and needs
// of carve-controller, carve-scheduler and carve-cloudprovider, checks its
// default images are the ones make images names (hack/image), checks the
// values schema rejects bad values, checks the chart's CRDs and scheduler
// configuration are copies of manifests/crds and
// manifests/scheduler/config.yaml, has a real apiserver judge every
// rendered object and a pod of each Deployment in a server-side dry run,
// and installs the chart into a real local control plane, running the
// three binaries there with exactly the permissions the chart gives them,
// and upgrades the previous release (testdata) to it.
package chart
