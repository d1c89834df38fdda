# Shared settings of the air-gapped test cluster scripts (sourced, not run).
# shellcheck disable=SC2034  # every name here is used by the scripts that source it
# shellcheck shell=bash

# 1.34: the last minor whose kubelet accepts this kernel's hybrid cgroup v1 by default.
KUBE_VERSION=${KUBE_VERSION:-v1.34.2}
KUBE_COMPONENTS=(kube-apiserver kube-controller-manager kubectl kube-scheduler kubelet kube-proxy coredns)
COREDNS_VERSION=${COREDNS_VERSION:-v1.12.1}

AIRGAP_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Build outputs (binaries, rootfs tarballs) are cached here and reused by the next run.
AIRGAP_CACHE=${AIRGAP_CACHE:-$AIRGAP_REPO/.cache/airgap}
KUBE_BUILD="$AIRGAP_CACHE/k8s-$KUBE_VERSION"
KUBE_BIN="$KUBE_BUILD/bin"
# Runtime state of one cluster (certs, etcd data, logs, pids): removed by teardown.
AIRGAP_STATE=${AIRGAP_STATE:-/var/lib/simple-etl-airgap}

log() { printf '[airgap %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Every component runs as a recorded process: started once, stopped by its pid.
PIDS="$AIRGAP_STATE/pids"
LOGS="$AIRGAP_STATE/logs"

start_process() { # name command...
  local name=$1
  shift
  if [[ -f "$PIDS/$name.pid" ]] && kill -0 "$(cat "$PIDS/$name.pid")" 2>/dev/null; then
    log "$name already runs (pid $(cat "$PIDS/$name.pid"))"
    return
  fi
  # setsid: the component outlives this script; `down` stops it by its recorded pid.
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
  log "started $name (pid $!, log $LOGS/$name.log)"
}

wait_for() { # description seconds command...
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "$what not ready after ${seconds}s (logs in $LOGS)"
    fi
    sleep 1
  done
  log "$what is ready"
}

AIRGAP_CLUSTER=simple-etl-airgap
# Ports and ranges chosen not to meet a kind cluster or a developer's own etcd.
ETCD_PORT=${AIRGAP_ETCD_PORT:-23790}
APISERVER_PORT=${AIRGAP_APISERVER_PORT:-16443}
BRIDGE=seetl0
# The private dockerd's own default bridge: with `--bridge none` dockerd deletes the
# host's docker0 (a developer's Docker, `make up`) when it starts.
DOCKER_BRIDGE=seetl-dk0
POD_CIDR=10.244.0.0/24
NODE_IP=10.244.0.1
SERVICE_CIDR=10.97.0.0/16
KUBERNETES_SERVICE_IP=10.97.0.1
DNS_SERVICE_IP=10.97.0.10
NODE_NAME=simple-etl-airgap-node
# Sockets and pid files of the private dockerd and containerd.
AIRGAP_RUN=/run/simple-etl-airgap
