#!/usr/bin/env bash
# Copies carve-scheduler's configuration (manifests/scheduler/config.yaml)
# into the Helm chart (charts/carve/files/scheduler-config.yaml), which the
# chart's ConfigMap serves as it is. The chart's copy is never edited by
# hand: change the manifest and run this script (`make generate` does).
#
#   hack/chart-scheduler-config.sh          copy
#   hack/chart-scheduler-config.sh --check  change nothing; exit 1 if the copy differs
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/manifests/scheduler/config.yaml"
dst="$root/charts/carve/files/scheduler-config.yaml"

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if [ ! -f "$src" ]; then
  echo "chart-scheduler-config: $src is missing" >&2
  exit 1
fi

if $check; then
  if ! out=$(diff "$src" "$dst" 2>&1); then
    echo "chart-scheduler-config: charts/carve/files/scheduler-config.yaml differs from manifests/scheduler/config.yaml; run hack/chart-scheduler-config.sh:" >&2
    echo "$out" >&2
    exit 1
  fi
  exit 0
fi

mkdir -p "$(dirname "$dst")"
cp "$src" "$dst"
