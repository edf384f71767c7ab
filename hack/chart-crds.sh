#!/usr/bin/env bash
# Copies the generated CRDs (manifests/crds/*.yaml) into the Helm chart
# (charts/carve/crds/), which Helm installs before the chart's templates.
# The chart's copies are never edited by hand: regenerate with `make generate`
# and run this script.
#
#   hack/chart-crds.sh          copy, removing chart CRDs that no longer exist
#   hack/chart-crds.sh --check  change nothing; exit 1 if the copies differ
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/manifests/crds"
dst="$root/charts/carve/crds"

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

shopt -s nullglob
srcs=("$src"/*.yaml)
if [ ${#srcs[@]} -eq 0 ]; then
  echo "chart-crds: no CRDs in $src; run 'make generate'" >&2
  exit 1
fi

if $check; then
  # diff -r reports changed, missing and extra files alike.
  if ! out=$(diff -r "$src" "$dst" 2>&1); then
    echo "chart-crds: charts/carve/crds differs from manifests/crds; run hack/chart-crds.sh:" >&2
    echo "$out" >&2
    exit 1
  fi
  exit 0
fi

mkdir -p "$dst"
for f in "$dst"/*; do
  [ -e "$src/$(basename "$f")" ] || rm -f "$f"
done
cp "${srcs[@]}" "$dst/"
