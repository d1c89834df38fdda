#!/usr/bin/env bash
# Build the pinned Kubernetes components from the Go module proxy.
#
# The k8s.io/kubernetes module zip has no staging/ tree, but its go.mod replaces every
# k8s.io/<lib> with ./staging/src/k8s.io/<lib>; we copy the module into a build dir and
# point those replaces at the published k8s.io/<lib> v0.<minor>.<patch> modules instead.
# Binaries land in $AIRGAP_CACHE/k8s-$KUBE_VERSION/bin and are reused on the next run.
#
#   k8s/airgap/build-kubernetes.sh [component ...]   (default: every component)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=k8s/airgap/lib.sh
source "$here/lib.sh"

components=("$@")
[[ ${#components[@]} -gt 0 ]] || components=("${KUBE_COMPONENTS[@]}")

src="$KUBE_BUILD/src"
mkdir -p "$KUBE_BIN"

missing=()
for c in "${components[@]}"; do
  [[ -x "$KUBE_BIN/$c" ]] || missing+=("$c")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  log "kubernetes $KUBE_VERSION: ${components[*]} already built (cache $KUBE_BIN)"
  exit 0
fi

if [[ ! -f "$src/.prepared" && " ${missing[*]} " != " coredns " ]]; then
  log "fetching k8s.io/kubernetes@$KUBE_VERSION from the Go module proxy"
  moddir=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -d "$moddir" ]] || die "go mod download gave no module dir for k8s.io/kubernetes@$KUBE_VERSION"
  rm -rf "$src" && mkdir -p "$src"
  cp -a "$moddir/." "$src/" && chmod -R u+w "$src"
  staging_version="v0.${KUBE_VERSION#v1.}"
  # ./staging/src/k8s.io/X  ->  k8s.io/X v0.34.2 (the published copy of the same code)
  sed -i -E "s#^(\s*)(k8s\.io/[a-z0-9-]+) => \./staging/src/k8s\.io/[a-z0-9-]+\$#\1\2 => \2 $staging_version#" "$src/go.mod"
  if grep -q '=> ./staging' "$src/go.mod"; then
    die "go.mod still has staging replaces: $(grep '=> ./staging' "$src/go.mod" | head -3)"
  fi
  # The workspace file lists the staging dirs too; the replaces above replace it.
  rm -f "$src/go.work" "$src/go.work.sum"
  touch "$src/.prepared"
fi

# What `hack/lib/version.sh` stamps into release binaries: helm and kubectl read it.
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 \
-X $pkg.gitMinor=$(cut -d. -f2 <<<"$KUBE_VERSION") -X $pkg.gitTreeState=clean \
-X $pkg.buildDate=1970-01-01T00:00:00Z"
ldflags="$ldflags ${ldflags//k8s.io\/component-base\/version/k8s.io/client-go/pkg/version}"
ldflags="${ldflags/ -s -w -X k8s.io\/client-go/ -X k8s.io/client-go}"

for c in "${missing[@]}"; do
  if [[ $c == coredns ]]; then
    # Cluster DNS: CoreDNS at the version kubeadm $KUBE_VERSION ships, from the module proxy.
    log "building coredns $COREDNS_VERSION (nice 19, one package at a time)"
    start=$SECONDS
    GOBIN="$KUBE_BIN" CGO_ENABLED=0 GOFLAGS="-p=${AIRGAP_BUILD_JOBS:-1}" \
      nice -n 19 go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
    log "built coredns in $((SECONDS - start)) s"
    continue
  fi
  log "building $c $KUBE_VERSION (nice 19, one package at a time: the machine is shared)"
  start=$SECONDS
  (cd "$src" && GOWORK=off CGO_ENABLED=0 GOFLAGS="-p=${AIRGAP_BUILD_JOBS:-1} -mod=mod" \
    nice -n 19 go build -trimpath -ldflags "$ldflags" -o "$KUBE_BIN/$c.tmp" "./cmd/$c")
  mv "$KUBE_BIN/$c.tmp" "$KUBE_BIN/$c"
  log "built $c in $((SECONDS - start)) s"
done
