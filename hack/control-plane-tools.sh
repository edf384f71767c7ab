#!/usr/bin/env bash
# Builds the control-plane binaries that carve's tests and `make run` start —
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kwok
# and helm — from Go modules, into a cache folder outside the repository keyed
# by their versions. Prints that folder as its last line.
#
# A cold build takes 8 to 15 minutes on two cores; a warm one returns at once.
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_root=${CARVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/carve}
dir="$cache_root/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION"
bin="$dir/bin"

log() { printf 'control-plane-tools: %s\n' "$*" >&2; }

want=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok helm)
missing=()
for b in "${want[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done
[ -d "$dir/kwok-stages" ] || missing+=(kwok-stages)

if [ ${#missing[@]} -eq 0 ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
# Build into a temporary folder and move into place, so an interrupted build
# never leaves a half-written binary that a later run would trust.
tmp=$(mktemp -d "$dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)

ver_flags() {
  local pkg minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    printf -- '-X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean ' \
      "$pkg" "$K8S_VERSION" "$pkg" "$pkg" "$minor" "$pkg"
  done
}

need() { local b; for b in "$@"; do [[ " ${missing[*]} " == *" $b "* ]] && return 0; done; return 1; }

if need kube-apiserver kube-controller-manager kube-scheduler kubectl; then
  log "building Kubernetes $K8S_VERSION binaries (the slow part: several minutes)"
  (cd "$root/hack/tools/controlplane" && go build -trimpath -ldflags "-s -w $(ver_flags)" -o "$tmp/" tool)
fi
if need etcd; then
  log "building etcd $ETCD_VERSION"
  (cd "$root/hack/tools/etcd" && go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
fi
if need kwok kwok-stages; then
  log "building kwok $KWOK_VERSION"
  GOBIN="$tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # kwok only simulates what its stage files describe; they ship in the module.
  modsrc="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
  mkdir -p "$tmp/kwok-stages"
  # kwok's "fast" set: nodes become Ready at once and keep a lease, pods run
  # and complete at once. Only the stage files, not their testdata.
  for set in node/fast node/heartbeat-with-lease pod/fast; do
    find "$modsrc/$set" -maxdepth 1 -name '*.yaml' ! -name kustomization.yaml -exec cp {} "$tmp/kwok-stages/" \;
  done
  chmod -R u+w "$tmp/kwok-stages"
fi
if need helm; then
  log "building helm $HELM_VERSION"
  GOBIN="$tmp" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi

for b in "${want[@]}"; do
  [ -e "$tmp/$b" ] && mv -f "$tmp/$b" "$bin/$b"
done
if [ -d "$tmp/kwok-stages" ]; then
  rm -rf "$dir/kwok-stages" && mv "$tmp/kwok-stages" "$dir/kwok-stages"
fi
log "built ${missing[*]} in $(( $(date +%s) - start ))s"
echo "$bin"
