#!/usr/bin/env bash
# The node of the air-gapped test cluster (stage "node" of cluster.sh): a private containerd
# (Debian) with runc, the CNI bridge (Debian containernetworking-plugins), the kubelet and
# kube-proxy (built from the module proxy), CoreDNS as cluster DNS, a default StorageClass,
# and the locally built images imported into containerd (nothing can be pulled).
#
#   k8s/airgap/node.sh up | down        (cluster.sh calls both)
#
# Processes run on the host, not in pods: CoreDNS listens on the node address, which the
# kubelet hands to pods as their nameserver; volumes are host directories under the state
# dir, offered through pre-made PersistentVolumes of the default StorageClass.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=k8s/airgap/lib.sh
source "$here/lib.sh"

PKI="$AIRGAP_STATE/pki"
KUBECTL=("$KUBE_BIN/kubectl" --kubeconfig "$AIRGAP_STATE/admin.kubeconfig")
CONTAINERD_SOCK="$AIRGAP_RUN/containerd.sock"
# containerd's content store survives teardown, so a warm run imports nothing.
CONTAINERD_ROOT="$AIRGAP_CACHE/containerd"
CGROUP_ROOT=/simple-etl-airgap
CGROUP_CONTROLLERS=(cpu cpuacct cpuset memory pids devices freezer blkio hugetlb systemd)
VOLUMES=3

write_if_changed() { # file < content
  local new
  new=$(cat)
  if [[ ! -f $1 || "$(cat "$1")" != "$new" ]]; then printf '%s\n' "$new" >"$1"; fi
}

netns_list() { { find /run/netns -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null || true; } | sort; }

ctr_() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

cgroup_dirs() { # the node's cgroup root in every v1 hierarchy that exists
  local c
  for c in "${CGROUP_CONTROLLERS[@]}"; do
    [[ -d /sys/fs/cgroup/$c ]] && echo "/sys/fs/cgroup/$c$CGROUP_ROOT"
  done
  [[ -d /sys/fs/cgroup/unified ]] && echo "/sys/fs/cgroup/unified$CGROUP_ROOT"
  return 0
}

up_containerd() {
  mkdir -p "$AIRGAP_RUN" "$CONTAINERD_ROOT" "$AIRGAP_STATE/cni/net.d"
  cat >"$AIRGAP_STATE/containerd.toml" <<EOF
version = 2
root = "$CONTAINERD_ROOT"
state = "$AIRGAP_RUN/containerd"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$AIRGAP_RUN/containerd.ttrpc.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$AIRGAP_STATE/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE_REF"
  enable_selinux = false
  # This machine denies lowering oom_score_adj (no CAP_SYS_RESOURCE): clamp to our own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$AIRGAP_STATE/cni/net.d"
EOF
  cat >"$AIRGAP_STATE/cni/net.d/10-simple-etl-airgap.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "simple-etl-airgap",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
               "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$AIRGAP_STATE/cni/ipam"}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
  start_process containerd containerd --config "$AIRGAP_STATE/containerd.toml"
  wait_for containerd 60 ctr_ version
}

import_images() {
  local dir="$AIRGAP_CACHE/images" file
  "$here/images.sh" build
  while read -r file; do
    # Re-import only what changed since the last import into the cached content store.
    if [[ ! -f "$file.imported" || "$file" -nt "$file.imported" ]]; then
      ctr_ images import "$file" >/dev/null && touch "$file.imported"
      log "imported $(basename "$file") into containerd"
    fi
  done < <("$here/images.sh" save "$dir")
}

up_kubelet() {
  mkdir -p "$AIRGAP_STATE/kubelet"
  # containerd made /run/netns (a bind mount of itself) if it was not there before.
  if [[ -f "$AIRGAP_STATE/netns.created" && -z "$(netns_list)" ]]; then
    umount /run/netns 2>/dev/null || true
    rmdir /run/netns 2>/dev/null && log "removed /run/netns"
  fi
  local dir
  while read -r dir; do mkdir -p "$dir"; done < <(cgroup_dirs)
  # No upstream resolver exists here: pods get only the cluster DNS.
  : >"$AIRGAP_STATE/resolv.conf"
  cat >"$AIRGAP_STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
address: "$NODE_IP"
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10348
tlsCertFile: "$PKI/kubelet.crt"
tlsPrivateKeyFile: "$PKI/kubelet.key"
cgroupDriver: cgroupfs
cgroupRoot: "$CGROUP_ROOT"
containerRuntimeEndpoint: "unix://$CONTAINERD_SOCK"
clusterDomain: cluster.local
clusterDNS: ["$NODE_IP"]
resolvConf: "$AIRGAP_STATE/resolv.conf"
failSwapOn: false
# Nothing can be pulled again: never garbage-collect images.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "200Mi", nodefs.available: "2%", imagefs.available: "2%", nodefs.inodesFree: "2%"}
serializeImagePulls: false
maxPods: 60
EOF
  start_process kubelet "$KUBE_BIN/kubelet" --config "$AIRGAP_STATE/kubelet.yaml" \
    --kubeconfig "$AIRGAP_STATE/kubelet.kubeconfig" --root-dir "$AIRGAP_STATE/kubelet" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP"
  wait_for "node $NODE_NAME Ready" 180 \
    "${KUBECTL[@]}" wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s
}

up_proxy() {
  # kube-proxy exits when its config file changes: write it only when it differs.
  write_if_changed "$AIRGAP_STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$AIRGAP_STATE/kube-proxy.kubeconfig"}
mode: iptables
hostnameOverride: "$NODE_NAME"
clusterCIDR: "$POD_CIDR"
# Pod-to-Service replies on the same bridge come back through the host this way.
iptables: {masqueradeAll: true}
conntrack: {maxPerCore: 0}
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10356
metricsBindAddress: 127.0.0.1:10349
EOF
  start_process kube-proxy "$KUBE_BIN/kube-proxy" --config "$AIRGAP_STATE/kube-proxy.yaml"
}

up_dns() {
  cat >"$AIRGAP_STATE/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $AIRGAP_STATE/coredns.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
EOF
  # CoreDNS reads Services and EndpointSlices as the system:kube-dns user would.
  "${KUBECTL[@]}" apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: simple-etl-airgap-coredns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:kube-dns}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: simple-etl-airgap-coredns}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: simple-etl-airgap-coredns-extra}
rules:
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
  - apiGroups: [""]
    resources: [namespaces]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: simple-etl-airgap-coredns-extra}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: simple-etl-airgap-coredns-extra}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: simple-etl-airgap-coredns}]
EOF
  start_process coredns "$KUBE_BIN/coredns" -conf "$AIRGAP_STATE/Corefile"
}

up_storage() {
  local i manifest=""
  for ((i = 0; i < VOLUMES; i++)); do
    mkdir -p "$AIRGAP_STATE/volumes/pv-$i" && chmod 0777 "$AIRGAP_STATE/volumes/pv-$i"
    manifest+="---
apiVersion: v1
kind: PersistentVolume
metadata: {name: simple-etl-airgap-pv-$i}
spec:
  capacity: {storage: 20Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: local
  hostPath: {path: $AIRGAP_STATE/volumes/pv-$i, type: Directory}
"
  done
  "${KUBECTL[@]}" apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
$manifest
EOF
  log "default StorageClass 'local' with $VOLUMES host-directory volumes"
}

smoke_test() {
  # A restricted pod from a stand-in image: the runtime, CNI and DNS really work.
  "${KUBECTL[@]}" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: airgap-smoke, namespace: default}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 65534, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: smoke
      image: $STANDIN_DEBIAN_REF
      imagePullPolicy: Never
      command: ["getent", "hosts", "kubernetes.default.svc.cluster.local"]
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, readOnlyRootFilesystem: true}
EOF
  wait_for "smoke pod (runtime, CNI, DNS)" 120 sh -c \
    "${KUBECTL[*]} get pod airgap-smoke -n default -o jsonpath='{.status.phase}' | grep -qx Succeeded"
  "${KUBECTL[@]}" delete pod airgap-smoke -n default --wait=false >/dev/null
}

up() {
  "$here/build-kubernetes.sh" kubelet kube-proxy coredns
  for tool in containerd ctr runc iptables conntrack; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install containerd runc iptables conntrack)"
  done
  [[ -x /usr/lib/cni/bridge ]] || die "CNI plugins are missing: apt-get install containernetworking-plugins"
  netns_list >"$AIRGAP_STATE/netns.before"
  [[ -d /run/netns ]] || touch "$AIRGAP_STATE/netns.created"
  set_sysctl net/bridge/bridge-nf-call-iptables 1
  set_sysctl net/ipv4/ip_forward 1
  up_containerd
  import_images
  up_kubelet
  up_proxy
  up_dns
  up_storage
  smoke_test
}

# The host's value is saved once (a second `up` must not save ours) and put back by `down`.
set_sysctl() { # key value
  local saved="$AIRGAP_STATE/sysctl.${1//\//.}"
  [[ -f $saved ]] || cat "/proc/sys/$1" >"$saved"
  echo "$2" >"/proc/sys/$1"
}

restore_sysctls() {
  local saved key
  for saved in "$AIRGAP_STATE"/sysctl.*; do
    [[ -f $saved ]] || continue
    key=${saved#"$AIRGAP_STATE"/sysctl.}
    key=${key//.//}
    cat "$saved" >"/proc/sys/$key" && log "restored $key to $(cat "$saved")" && rm -f "$saved"
  done
}

remove_kubelet_chains() {
  # The kubelet's own iptables chains (kube-proxy --cleanup leaves them), in the host's tables.
  local ipt table chain
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for table in filter nat mangle; do
      for chain in INPUT OUTPUT; do
        while "$ipt" -t "$table" -D "$chain" -j KUBE-FIREWALL 2>/dev/null; do :; done
      done
      for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
        if "$ipt" -t "$table" -F "$chain" 2>/dev/null; then "$ipt" -t "$table" -X "$chain" 2>/dev/null || true; fi
      done
    done
  done
}

stop() { # name
  local file="$PIDS/$1.pid" pid
  [[ -f $file ]] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    log "stopped $1 (pid $pid)"
  fi
  rm -f "$file"
}

down() {
  [[ -d $AIRGAP_STATE ]] || return 0
  if [[ -f "$PIDS/kubelet.pid" ]] && "${KUBECTL[@]}" get --raw /readyz >/dev/null 2>&1; then
    # Let the kubelet stop every pod properly (CNI DEL, unmounts) before it goes.
    "${KUBECTL[@]}" delete pods --all --all-namespaces --grace-period=5 --wait=false >/dev/null 2>&1 || true
    for _ in $(seq 60); do
      [[ -z $(ctr_ tasks list -q 2>/dev/null) ]] && break
      sleep 2
    done
  fi
  stop coredns
  stop kube-proxy
  if [[ -x $KUBE_BIN/kube-proxy ]]; then "$KUBE_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  stop kubelet
  remove_kubelet_chains
  if [[ -S $CONTAINERD_SOCK ]]; then
    local task
    for task in $(ctr_ tasks list -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true; done
    sleep 1
    for task in $(ctr_ tasks list -q 2>/dev/null); do ctr_ tasks delete -f "$task" >/dev/null 2>&1 || true; done
    for task in $(ctr_ containers list -q 2>/dev/null); do ctr_ containers delete "$task" >/dev/null 2>&1 || true; done
  fi
  stop containerd
  stop dockerd  # the image builder, started by images.sh
  # Whatever is still mounted under our directories (pod volumes, rootfs, netns) goes now.
  local mount
  for root in "$AIRGAP_STATE" "$AIRGAP_RUN" "$CONTAINERD_ROOT"; do
    while read -r mount; do
      umount -l "$mount" 2>/dev/null && log "unmounted $mount"
    done < <(awk -v r="$root" 'index($2, r) == 1 {print $2}' /proc/self/mounts | sort -r)
  done
  if [[ -f "$AIRGAP_STATE/netns.before" ]]; then
    local ns
    for ns in $(comm -13 "$AIRGAP_STATE/netns.before" <(netns_list)); do
      umount "/run/netns/$ns" 2>/dev/null || true
      rm -f "/run/netns/$ns" && log "removed network namespace $ns"
    done
  fi
  # containerd made /run/netns (a bind mount of itself) if it was not there before.
  if [[ -f "$AIRGAP_STATE/netns.created" && -z "$(netns_list)" ]]; then
    umount /run/netns 2>/dev/null || true
    rmdir /run/netns 2>/dev/null && log "removed /run/netns"
  fi
  local dir
  while read -r dir; do
    if [[ -d $dir ]]; then find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
  done < <(cgroup_dirs)
  restore_sysctls
  rm -rf "$AIRGAP_RUN"
}

# shellcheck disable=SC2034  # read in the heredocs above
PAUSE_IMAGE_REF=docker.io/simple-etl-airgap/pause:3.10
# shellcheck disable=SC2034
STANDIN_DEBIAN_REF=docker.io/simple-etl-airgap/debian:bookworm

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 up | down" ;;
esac
