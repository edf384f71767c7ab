// Package validation decides whether carve's API objects are valid: the
// rules the CRD schema cannot express (or expresses less clearly), as pure
// functions that the webhooks in pkg/webhooks call and that tests call
// directly.
package validation
