#!/usr/bin/env bash
# `make run`: the whole of carve on this machine, no cluster and no Docker
# needed. Starts a local control plane (hack/local-cluster.sh), installs
# carve's CRDs, runs carve-controller with its webhooks registered over TLS,
# applies the samples in manifests/samples, runs carve-scheduler with the
# shipped configuration and carve-cloudprovider (and the cluster-autoscaler
# when one is at hand, else adds the base node). Ctrl-C stops everything;
# the cluster's data stays in .local/ for the next run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
local_dir=${CARVE_LOCAL_DIR:-$root/.local}
cluster_dir=$local_dir/cluster
webhook_port=${CARVE_WEBHOOK_PORT:-9443}
scheduler_port=${CARVE_SCHEDULER_PORT:-10259}
metrics_port=${CARVE_CONTROLLER_METRICS_PORT:-8080}
health_port=${CARVE_CONTROLLER_HEALTH_PORT:-8081}
autoscaler_port=${CARVE_AUTOSCALER_PORT:-8085}
# carve's own binaries: what `make build` writes to bin/, unless told.
carve_bin=${CARVE_BUILD_DIR:-$root/bin}
log() { printf 'carve: %s\n' "$*" >&2; }

# Another make run (or anything else) on one of carve's ports would answer
# the readiness checks below in place of this run's components: refuse to
# start instead.
busy=()
for port in "$webhook_port" "$scheduler_port" "$metrics_port" "$health_port" "$autoscaler_port" "${CARVE_PROVIDER_PORT:-8086}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then busy+=("$port"); fi
done
if ((${#busy[@]})); then
  log "port(s) ${busy[*]} on 127.0.0.1 are in use, by another make run perhaps: stop it (Ctrl-C there, or make stop), or pick other ports (docs/development.md lists the variables)"
  exit 1
fi

bin_dir=${CARVE_BIN_DIR:-$(hack/control-plane-tools.sh | tail -n 1)}
export CARVE_BIN_DIR=$bin_dir
kubectl=$bin_dir/kubectl
export_line=$(hack/local-cluster.sh start "$cluster_dir" | tail -n 1)
export KUBECONFIG=$cluster_dir/kubeconfig

pids=()
names=()
cleanup() {
  trap - INT TERM HUP EXIT
  log "stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  hack/local-cluster.sh stop "$cluster_dir"
}
# Ctrl-C (SIGINT to make and to this script) and SIGTERM are how a run is
# meant to end: exit 0 once everything stopped cleanly, so make reports no
# error. Any other exit keeps its status.
trap 'cleanup && exit 0; exit 1' INT TERM
trap 'cleanup; exit 129' HUP
trap 'cleanup || true' EXIT

"$kubectl" apply --server-side -f manifests/crds/ >/dev/null
"$kubectl" wait --for condition=Established crd --all --timeout=60s >/dev/null
"$kubectl" create namespace carve-system --dry-run=client -o yaml | "$kubectl" apply -f - >/dev/null

# Metrics in plain HTTP: loopback only, and curl needs no token here.
log "starting carve-controller (webhooks on https://127.0.0.1:$webhook_port)"
"$carve_bin/carve-controller" --kubeconfig "$KUBECONFIG" --namespace carve-system \
  --webhook-bind-address 127.0.0.1 --webhook-port "$webhook_port" \
  --webhook-url "https://127.0.0.1:$webhook_port" \
  --metrics-bind-address "127.0.0.1:$metrics_port" --metrics-secure=false --health-probe-bind-address "127.0.0.1:$health_port" \
  >"$local_dir/carve-controller.log" 2>&1 &
pids+=($!) names+=(carve-controller)
# Ready means the webhooks are registered (carve-controller's /readyz).
ready=false
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$health_port/readyz" >/dev/null 2>&1; then ready=true; break; fi
  kill -0 "${pids[0]}" 2>/dev/null || break
  sleep 0.5
done
if ! $ready; then
  log "carve-controller did not become ready; end of its log:"
  tail -n 20 "$local_dir/carve-controller.log" >&2
  exit 1
fi

"$kubectl" apply -f manifests/samples/nodepools.yaml -f manifests/samples/resourceprofiles.yaml >/dev/null
"$kubectl" apply -f manifests/samples/workspace.yaml >/dev/null

# carve-scheduler runs manifests/scheduler/config.yaml as shipped, with its
# client pointed at this cluster. Leader election is off (the shipped
# config turns it on): there is one replica here, and the cluster's data
# outlives a run, so after a crash a new run would first wait out the dead
# one's lease (15 s) for no benefit. The chart and its install test keep it on.
scheduler_config=$local_dir/carve-scheduler.yaml
if grep -q '^clientConnection:' manifests/scheduler/config.yaml; then
  log "manifests/scheduler/config.yaml sets clientConnection; hack/run.sh adds its own: merge them here"
  exit 1
fi
{
  echo "# Written by hack/run.sh: manifests/scheduler/config.yaml and the local cluster's kubeconfig."
  printf 'clientConnection:\n  kubeconfig: "%s"\n' "$KUBECONFIG"
  cat manifests/scheduler/config.yaml
} >"$scheduler_config"
log "starting carve-scheduler (profile carve-scheduler; https://127.0.0.1:$scheduler_port)"
# Its HTTPS port (self-signed certificate made in memory) is on loopback
# only and answers /metrics without credentials; no authentication
# kubeconfig, as this apiserver publishes no request-header CA to check.
"$carve_bin/carve-scheduler" --config="$scheduler_config" --leader-elect=false \
  --bind-address=127.0.0.1 --secure-port="$scheduler_port" \
  --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics \
  >"$local_dir/carve-scheduler.log" 2>&1 &
pids+=($!) names+=(carve-scheduler)
scheduler_pid=$!
# Ready: its informers, carve's Workspace and pod informers among them, have synced.
ready=false
for _ in $(seq 1 120); do
  if curl -fsSk "https://127.0.0.1:$scheduler_port/readyz" >/dev/null 2>&1; then ready=true; break; fi
  kill -0 "$scheduler_pid" 2>/dev/null || break
  sleep 0.5
done
if ! $ready; then
  log "carve-scheduler did not become ready; end of its log:"
  tail -n 20 "$local_dir/carve-scheduler.log" >&2
  exit 1
fi

provider_addr=127.0.0.1:${CARVE_PROVIDER_PORT:-8086}
# kwok nodes "boot" for a while before their Node appears, as cloud VMs do,
# so the autoscaler sees an upcoming node instead of buying more.
boot_delay=${CARVE_KWOK_BOOT_DELAY:-20s}
log "starting carve-cloudprovider (externalgrpc on $provider_addr, plaintext: loopback only; kwok nodes boot in $boot_delay)"
"$carve_bin/carve-cloudprovider" --kubeconfig "$KUBECONFIG" --address "$provider_addr" --insecure \
  --kwok-boot-delay="$boot_delay" >"$local_dir/carve-cloudprovider.log" 2>&1 &
pids+=($!) names+=(carve-cloudprovider)
printf 'address: "%s"\ngrpc_timeout: 10s\n' "$provider_addr" >"$local_dir/cloud-config.yaml"

autoscaler=${CLUSTER_AUTOSCALER:-$(command -v cluster-autoscaler || true)}
if [ -n "$autoscaler" ]; then
  log "starting cluster-autoscaler ($autoscaler)"
  # --enforce-node-group-min-size makes it create the base pool's node.
  # --unremovable-node-recheck-timeout: a node found unremovable (it ran a
  # session) is otherwise not looked at again for 5 minutes after it empties.
  "$autoscaler" --cloud-provider=externalgrpc --cloud-config="$local_dir/cloud-config.yaml" \
    --kubeconfig="$KUBECONFIG" --scan-interval=5s --scale-down-unneeded-time=30s \
    --unremovable-node-recheck-timeout=10s \
    --scale-down-delay-after-add=30s --enforce-node-group-min-size=true \
    --leader-elect=false --address="127.0.0.1:$autoscaler_port" ${CARVE_AUTOSCALER_ARGS:-} >"$local_dir/cluster-autoscaler.log" 2>&1 &
  pids+=($!) names+=(cluster-autoscaler)
  autoscaling="cluster-autoscaler runs against carve-cloudprovider; log: $local_dir/cluster-autoscaler.log"
else
  # Without the autoscaler nobody creates the base pool's always-on node
  # (the autoscaler would, through carve-cloudprovider): add it as the kwok
  # platform names its nodes, so the provider counts it as the pool's.
  if ! "$kubectl" get nodes -l carve.dev/node-pool=base -o name | grep -q .; then
    "$kubectl" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Node
metadata:
  name: base-0
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {type: kwok, carve.dev/node-pool: base, kubernetes.io/hostname: base-0}
spec:
  providerID: kwok://base/base-0
status:
  capacity: {cpu: "4", memory: 16Gi, pods: "110"}
  allocatable: {cpu: "4", memory: 16Gi, pods: "110"}
YAML
  fi
  autoscaling="Autoscaling needs the cluster-autoscaler binary: put it on PATH or set
CLUSTER_AUTOSCALER=/path/to/cluster-autoscaler and run make run again, or start it by hand
with the flags in docs/autoscaling.md (cloud-config: $local_dir/cloud-config.yaml)."
fi

cat <<MSG

carve is running. In another terminal:

  $export_line
  alias kubectl=$kubectl
  kubectl get rp,ws,np
  kubectl -n ml-alice run nb --image=registry.invalid/jupyter
  kubectl -n ml-alice get pod nb -o yaml      # profile "small" applied, schedulerName carve-scheduler
  kubectl -n ml-alice describe pod nb         # what carve-scheduler did with it

$autoscaling

Logs: $local_dir/carve-*.log, $cluster_dir/logs/. Ctrl-C (or make stop) stops carve.
MSG
# Until Ctrl-C, a component exits, or the cluster stops (make stop): then
# the trap stops everything, so no component outlives the cluster.
while hack/local-cluster.sh status "$cluster_dir" >/dev/null; do
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      log "${names[$i]} exited; end of its log:"
      tail -n 20 "$local_dir/${names[$i]}.log" >&2
      exit 1
    fi
  done
  sleep 2
done
log "the local cluster stopped"
