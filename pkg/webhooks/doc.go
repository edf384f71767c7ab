// Package webhooks serves carve's admission webhooks: the pod webhooks that
// enforce resource profiles in workspace namespaces (decisions in
// pkg/podcontract) and the validating webhooks of carve's own kinds
// (decisions in pkg/apis/carve/validation). It also builds the webhook
// configurations that register them with the apiserver.
package webhooks
