#!/usr/bin/env bash
# Fails when generated files are stale, Go code is unformatted or does not
# vet, or a go.mod is untidy. Run through `make verify` (which regenerates
# first), so a stale file shows up as a diff here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail=0
if ! git diff --quiet -- pkg/apis pkg/cloudprovider/externalgrpc manifests/crds charts/carve/crds charts/carve/files; then
  echo "verify: generated files are out of date; run 'make generate' and commit:" >&2
  git diff --stat -- pkg/apis pkg/cloudprovider/externalgrpc manifests/crds charts/carve/crds charts/carve/files >&2
  fail=1
fi
hack/chart-crds.sh --check || fail=1
hack/chart-scheduler-config.sh --check || fail=1
untracked=$(git ls-files --others --exclude-standard -- pkg/apis pkg/cloudprovider/externalgrpc manifests/crds charts/carve/crds charts/carve/files)
if [ -n "$untracked" ]; then
  echo "verify: generated files not committed:" >&2
  echo "$untracked" >&2
  fail=1
fi
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "verify: gofmt would change:" >&2
  echo "$unformatted" >&2
  fail=1
fi
go vet ./... || fail=1
for mod in . hack/tools/dev hack/tools/controlplane hack/tools/etcd; do
  (
    cd "$mod"
    cp go.mod /tmp/verify-go.mod.$$ && cp go.sum /tmp/verify-go.sum.$$
    go mod tidy >/dev/null 2>&1
    if ! cmp -s go.mod /tmp/verify-go.mod.$$ || ! cmp -s go.sum /tmp/verify-go.sum.$$; then
      echo "verify: $mod/go.mod is not tidy; run 'go mod tidy' there" >&2
      cp /tmp/verify-go.mod.$$ go.mod && cp /tmp/verify-go.sum.$$ go.sum
      exit 1
    fi
    rm -f /tmp/verify-go.mod.$$ /tmp/verify-go.sum.$$
  ) || fail=1
done
[ "$fail" = 0 ] && echo "verify: ok"
exit "$fail"
