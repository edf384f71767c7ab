#!/usr/bin/env bash
# Runs a local Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager, the stock kube-scheduler and kwok, all on
# 127.0.0.1) in the background, with the same Go code that carve's
# integration tests use (test/framework).
#
#   hack/local-cluster.sh start  [DIR]   start it; the last line printed is
#                                        `export KUBECONFIG=DIR/kubeconfig`
#   hack/local-cluster.sh stop   [DIR]   stop it; DIR keeps etcd's data, so a
#                                        later start resumes the same cluster
#   hack/local-cluster.sh status [DIR]   exit 0 if it runs, 1 if not
#
# DIR defaults to $CARVE_LOCAL_DIR, else ./.local/cluster. Component logs are
# in DIR/logs, the launcher's own output in DIR/localcluster.log.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf 'local-cluster: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
usage() { echo "usage: $0 start|stop|status [DIR]" >&2; exit 2; }

if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
action=$1
dir=${2:-${CARVE_LOCAL_DIR:-$PWD/.local/cluster}}
[ "$action" != start ] || mkdir -p "$dir"
[ ! -d "$dir" ] || dir=$(cd "$dir" && pwd)
pid_file=$dir/localcluster.pid
kubeconfig=$dir/kubeconfig
launcher_log=$dir/localcluster.log

# running_pid prints the launcher's pid if it runs. Matching its command line
# guards against a stale pid file whose number now belongs to another process.
running_pid() {
  local pid
  [ -f "$pid_file" ] || return 1
  pid=$(<"$pid_file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(ps -p "$pid" -o args= 2>/dev/null) == *carve-localcluster* ]] || return 1
  echo "$pid"
}

# poll SECONDS CMD...: runs CMD every half second until it succeeds (0) or
# SECONDS have passed (1).
poll() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

gone() { ! kill -0 "$1" 2>/dev/null; }

# launcher_ready PID KUBECTL: the launcher writes its pid file only once every
# component is ready; /readyz confirms the kubeconfig works from outside.
launcher_ready() {
  if gone "$1"; then
    die "the launcher exited; end of $launcher_log:
$(tail -n 30 "$launcher_log")"
  fi
  [ -f "$pid_file" ] && [ -f "$kubeconfig" ] &&
    "$2" --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1
}

start() {
  local pid bin_dir
  if pid=$(running_pid); then
    log "already running (pid $pid)"
    echo "export KUBECONFIG=$kubeconfig"
    return
  fi
  bin_dir=${CARVE_BIN_DIR:-$("$root/hack/control-plane-tools.sh" | tail -n 1)}
  [ -x "$bin_dir/kubectl" ] || die "no kubectl in $bin_dir"

  (cd "$root" && go build -o bin/carve-localcluster ./test/cmd/localcluster)

  # Left from an earlier run they would make the wait below end too early.
  rm -f "$pid_file" "$kubeconfig"
  nohup "$root/bin/carve-localcluster" --dir "$dir" --bin-dir "$bin_dir" >"$launcher_log" 2>&1 &
  pid=$!
  if ! poll 180 launcher_ready "$pid" "$bin_dir/kubectl"; then
    kill "$pid" 2>/dev/null || true
    die "not ready after 180s; end of $launcher_log:
$(tail -n 30 "$launcher_log")"
  fi
  log "running (pid $pid); logs in $dir/logs"
  echo "export KUBECONFIG=$kubeconfig"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    log "not running"
    return
  fi
  kill -TERM "$pid"
  # The launcher gives each component a few seconds before killing it, so a
  # minute is plenty; its components die with it if it must be killed.
  if ! poll 60 gone "$pid"; then
    log "pid $pid still running after 60s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    poll 10 gone "$pid" || die "pid $pid survived SIGKILL"
  fi
  rm -f "$pid_file"
  log "stopped"
}

status() {
  local pid
  if pid=$(running_pid); then
    echo "running (pid $pid): export KUBECONFIG=$kubeconfig"
  else
    echo "not running"
    return 1
  fi
}

case $action in
  start | stop | status) "$action" ;;
  *) usage ;;
esac
