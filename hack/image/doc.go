// Package image builds carve's container images without a container
// engine, with go-containerregistry: for each of carve-controller,
// carve-scheduler and carve-cloudprovider and each platform, a static
// binary (CGO_ENABLED=0, cross-compiled, versions stamped by the
// Makefile's -ldflags) on an empty base, run as 65532:65532, gathered into
// one multi-platform index per binary. It writes them as OCI layouts and
// docker-load tarballs (Write) and pushes the layouts' indexes (Push).
//
// Reference names the images; the chart's default images are
// Reference(DefaultRegistry, binary, appVersion) and test/chart checks
// they stay so. `make images` and `make push` run it through
// cmd/carve-image; docs/images.md describes what is in an image.
package image
