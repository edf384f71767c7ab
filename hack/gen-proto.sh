#!/usr/bin/env bash
# Generates the Go stubs of carve's cluster-autoscaler externalgrpc protocol
# (pkg/cloudprovider/externalgrpc/externalgrpc.proto) into
# externalgrpc.pb.go and externalgrpc_grpc.pb.go beside it.
#
# The compiler (buf, pure Go, bundles the well-known types) and both plugins
# are pinned in hack/tools/dev/go.mod and built into bin/tools/, so nothing
# is installed from the system and the output does not change between runs or
# machines. Run through `make generate`; `make verify` fails on a stale copy.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/bin/tools"
pkg=pkg/cloudprovider/externalgrpc

# go build is a no-op when the binaries are current; a cold build of buf
# takes a few minutes.
(
  cd "$root/hack/tools/dev"
  go build -o "$tools/" \
    github.com/bufbuild/buf/cmd/buf \
    google.golang.org/protobuf/cmd/protoc-gen-go \
    google.golang.org/grpc/cmd/protoc-gen-go-grpc
)

# The template is inline so the plugins are exactly the binaries built above.
# buf writes into out/ relative to the working directory and, with
# paths=source_relative, names files after the .proto's path inside the input
# module (the package folder itself).
template=$(cat <<JSON
{
  "version": "v2",
  "clean": false,
  "plugins": [
    {"local": "$tools/protoc-gen-go", "out": "$pkg", "opt": ["paths=source_relative"]},
    {"local": "$tools/protoc-gen-go-grpc", "out": "$pkg", "opt": ["paths=source_relative"]}
  ]
}
JSON
)

cd "$root"
"$tools/buf" generate --template "$template" "$pkg"
