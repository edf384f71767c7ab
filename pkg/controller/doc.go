// Package controller assembles carve-controller: one controller-runtime
// manager that serves carve's admission webhooks, keeps their configurations
// and certificate current, and runs carve's controllers. cmd/carve-controller
// parses flags into Options and calls Run; the integration tests call Run
// too, so what they exercise is what ships.
package controller
