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

AIRGAP_CLUSTER=simple-etl-airgap
# Ports and ranges chosen not to meet a kind cluster or a developer's own etcd.
ETCD_PORT=${AIRGAP_ETCD_PORT:-23790}
APISERVER_PORT=${AIRGAP_APISERVER_PORT:-16443}
BRIDGE=seetl0
POD_CIDR=10.244.0.0/24
NODE_IP=10.244.0.1
SERVICE_CIDR=10.97.0.0/16
KUBERNETES_SERVICE_IP=10.97.0.1
DNS_SERVICE_IP=10.97.0.10
NODE_NAME=simple-etl-airgap-node
# Sockets and pid files of the private dockerd and containerd.
AIRGAP_RUN=/run/simple-etl-airgap
