// Package poolstatus writes each NodePool's status: target, current and
// ready sizes and the Ready, ScalingUp and ScaleRefused conditions
// (Conditions decides them from what Writer observed). It reads pools and
// Nodes from informers, target sizes from the platforms (cached by them, so
// no cloud call), and the latest refusal from the server's ScaleOutcomes; a
// workqueue coalesces the events into one write per change.
package poolstatus
