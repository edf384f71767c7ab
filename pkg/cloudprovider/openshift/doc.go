// Package openshift is carve's OpenShift platform: a NodePool of type
// OpenShift names a machine.openshift.io/v1beta1 MachineSet, which carve
// scales through its scale subresource and whose Machines it deletes by the
// machine.openshift.io/delete-machine annotation (package machineset does
// the work; this package says what OpenShift's Machine API looks like).
//
// A MachineSet that an OpenShift MachineAutoscaler owns (annotation
// autoscaling.openshift.io/machineautoscaler) already has an autoscaler:
// carve refuses to scale it rather than fight over its replicas.
//
// docs/platforms/openshift.md is the admin's page.
package openshift
