#!/usr/bin/env bash
# The air-gapped test cluster: a real single-node Kubernetes started as plain processes
# from components built by build-kubernetes.sh (Go module proxy) and Debian packages.
#
#   k8s/airgap/cluster.sh up [api|node]   start the control plane (api), plus a node (node)
#   k8s/airgap/cluster.sh down            stop every process, unmount, delete devices and state
#   k8s/airgap/cluster.sh status          what runs, and the kubeconfig to use
#
# Stage "api": etcd (Debian etcd-server), kube-apiserver with Node,RBAC authorization and
# the default admission plugins (PodSecurity among them), kube-controller-manager and
# kube-scheduler. Workloads are validated, admitted and turned into Pods by the real
# controllers; with no node the Pods stay Pending.
# Stage "node": stage "api" plus (see node.sh) containerd + runc, the CNI bridge, the
# kubelet, kube-proxy, cluster DNS and a default StorageClass.
#
# Everything runs as root with its state under $AIRGAP_STATE; nothing is installed
# system-wide and `down` leaves no process, mount or network device behind.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=k8s/airgap/lib.sh
source "$here/lib.sh"

PKI="$AIRGAP_STATE/pki"
KUBECONFIG_ADMIN="$AIRGAP_STATE/admin.kubeconfig"

cert() { # name CN O kind(server|client) [SANs]
  local name=$1 cn=$2 org=$3 kind=$4 sans=${5:-}
  [[ -f "$PKI/$name.crt" ]] && return
  local ext="$PKI/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ $kind == server ]]; then echo "extendedKeyUsage=serverAuth,clientAuth"; else echo "extendedKeyUsage=clientAuth"; fi
    [[ -n $sans ]] && echo "subjectAltName=$sans"
  } >"$ext"
  local subj="/CN=$cn"
  [[ -n $org ]] && subj="/O=$org$subj"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 30 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

kubeconfig() { # file cert-name
  local file=$1 name=$2
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: $AIRGAP_CLUSTER
    cluster:
      server: https://$NODE_IP:$APISERVER_PORT
      certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
  - name: $name
    user:
      client-certificate-data: $(base64 -w0 "$PKI/$name.crt")
      client-key-data: $(base64 -w0 "$PKI/$name.key")
contexts:
  - name: $AIRGAP_CLUSTER
    context: {cluster: $AIRGAP_CLUSTER, user: $name}
current-context: $AIRGAP_CLUSTER
EOF
  chmod 600 "$file"
}

make_pki() {
  mkdir -p "$PKI"
  if [[ ! -f "$PKI/ca.crt" ]]; then
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -days 30 \
      -subj "/CN=$AIRGAP_CLUSTER-ca" -out "$PKI/ca.crt" 2>/dev/null
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  cert apiserver kube-apiserver "" server \
    "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$NODE_IP,IP:$KUBERNETES_SERVICE_IP"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters client
  cert admin "$AIRGAP_CLUSTER-admin" system:masters client
  cert controller-manager system:kube-controller-manager "" client
  cert scheduler system:kube-scheduler "" client
  cert kubelet "system:node:$NODE_NAME" system:nodes server "DNS:$NODE_NAME,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP"
  cert kube-proxy system:kube-proxy "" client
  cert coredns simple-etl-airgap-coredns "" client
  kubeconfig "$KUBECONFIG_ADMIN" admin
  for c in controller-manager scheduler kubelet kube-proxy coredns; do kubeconfig "$AIRGAP_STATE/$c.kubeconfig" "$c"; done
}

# The bridge the pods' CNI attaches to doubles as the node's address: the API server
# listens on it alone (never on the machine's own interfaces) and advertises it, so
# the `kubernetes` Service leads pods back to it.
make_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE"
    log "created bridge $BRIDGE ($NODE_IP)"
  fi
  ip link set "$BRIDGE" up
}

up_api() {
  command -v etcd >/dev/null || die "etcd is missing: apt-get install etcd-server"
  command -v openssl >/dev/null || die "openssl is missing: apt-get install openssl"
  "$here/build-kubernetes.sh" kube-apiserver kube-controller-manager kube-scheduler kubectl
  mkdir -p "$PIDS" "$LOGS" "$AIRGAP_STATE/etcd"
  make_bridge
  make_pki

  start_process etcd etcd --name "$AIRGAP_CLUSTER" --data-dir "$AIRGAP_STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "$AIRGAP_CLUSTER=http://127.0.0.1:$((ETCD_PORT + 1))"
  wait_for etcd 60 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

  start_process kube-apiserver "$KUBE_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$NODE_IP" --secure-port "$APISERVER_PORT" --advertise-address "$NODE_IP" \
    --service-cluster-ip-range "$SERVICE_CIDR" --service-node-port-range 30000-32767 \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true \
    --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
    --service-account-issuer "https://kubernetes.default.svc.cluster.local" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --api-audiences "https://kubernetes.default.svc.cluster.local"
  wait_for kube-apiserver 180 "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" get --raw /readyz

  start_process kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
    --kubeconfig "$AIRGAP_STATE/controller-manager.kubeconfig" --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port 0 \
    --use-service-account-credentials --service-account-private-key-file "$PKI/sa.key" \
    --root-ca-file "$PKI/ca.crt" --cluster-signing-cert-file "$PKI/ca.crt" \
    --cluster-signing-key-file "$PKI/ca.key" --service-cluster-ip-range "$SERVICE_CIDR" \
    --cluster-name "$AIRGAP_CLUSTER"
  start_process kube-scheduler "$KUBE_BIN/kube-scheduler" \
    --kubeconfig "$AIRGAP_STATE/scheduler.kubeconfig" --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port 0
  # The token controller's default ServiceAccount shows the controllers work.
  wait_for "kube-controller-manager" 120 "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" \
    get serviceaccount default --namespace default
}

stop_pid_file() {
  local file=$1 name pid
  name=$(basename "$file" .pid)
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$file"
}

down() {
  # The node first (its pods and mounts), then the control plane in reverse order.
  if [[ -x "$here/node.sh" ]]; then "$here/node.sh" down || true; fi
  for name in kube-scheduler kube-controller-manager kube-apiserver etcd; do
    [[ -f "$PIDS/$name.pid" ]] && stop_pid_file "$PIDS/$name.pid"
  done
  if [[ -d $PIDS ]]; then
    for file in "$PIDS"/*.pid; do [[ -e $file ]] && stop_pid_file "$file"; done
  fi
  local bridge
  for bridge in "$BRIDGE" "$DOCKER_BRIDGE"; do
    if ip link show "$bridge" >/dev/null 2>&1; then
      ip link delete "$bridge" && log "deleted bridge $bridge"
    fi
  done
  if [[ -d $AIRGAP_STATE ]]; then
    if grep -q " $AIRGAP_STATE" /proc/self/mounts; then die "mounts remain under $AIRGAP_STATE: not deleting it"; fi
    rm -rf "$AIRGAP_STATE"
    log "removed $AIRGAP_STATE"
  fi
}

status() {
  if [[ -d $PIDS ]]; then
    for file in "$PIDS"/*.pid; do
      [[ -e $file ]] || continue
      if kill -0 "$(cat "$file")" 2>/dev/null; then state=running; else state=dead; fi
      printf '%-24s pid %-8s %s\n' "$(basename "$file" .pid)" "$(cat "$file")" "$state"
    done
  fi
  [[ -f $KUBECONFIG_ADMIN ]] && echo "export KUBECONFIG=$KUBECONFIG_ADMIN"
}

[[ $EUID -eq 0 ]] || die "run as root (it starts etcd, the API server and, for a node, the kubelet)"
case "${1:-}" in
  up)
    case "${2:-api}" in
      api) up_api ;;
      node) up_api && "$here/node.sh" up ;;
      *) die "usage: $0 up [api|node]" ;;
    esac
    log "cluster up: export KUBECONFIG=$KUBECONFIG_ADMIN"
    ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up [api|node] | down | status" ;;
esac
