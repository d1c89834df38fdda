#!/usr/bin/env bash
# Stand-in base images from a Debian root filesystem, and the project's images built on them.
#
#   k8s/airgap/images.sh build     build whatever is not cached yet, print the image list
#   k8s/airgap/images.sh save DIR  write each image as DIR/<name>.tar (for containerd)
#
# No registry is reachable, so `FROM python:…`, `FROM apache/airflow:…` and the chart's
# `postgres:…` cannot be pulled. debootstrap + `docker import` make a Debian bookworm base;
# small Dockerfiles in k8s/airgap/standins/ add what each upstream image's contract needs,
# and the project's own Dockerfiles build unchanged through their base-image build ARGs.
# Grafana has no Debian package and cannot be built from source here: it is a named gap.
#
# A private dockerd (own socket, data root under the cache, own bridge, no iptables) does the
# builds, so it never meets a developer's Docker; it is stopped again by `down`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=k8s/airgap/lib.sh
source "$here/lib.sh"

APP_VERSION=$(awk '/^appVersion:/ {gsub(/"/, "", $2); print $2}' "$AIRGAP_REPO/charts/simple-etl/Chart.yaml")
ROOTFS="$AIRGAP_CACHE/rootfs/bookworm.tar"
export DOCKER_HOST="unix://$AIRGAP_RUN/docker.sock"
# The legacy builder: BuildKit would try to pull the `# syntax=` frontend image.
export DOCKER_BUILDKIT=0

# name=reference of every image the air-gapped cluster needs, in build order.
STANDIN_DEBIAN="simple-etl-airgap/debian:bookworm"
STANDIN_PYTHON="simple-etl-airgap/python:3.11-bookworm"
STANDIN_AIRFLOW="simple-etl-airgap/airflow:3.3.2-python3.11"
STANDIN_POSTGRES="simple-etl-airgap/postgres:15-bookworm"
PAUSE_IMAGE="simple-etl-airgap/pause:3.10"
ETL_IMAGE="simple-etl:$APP_VERSION"
AIRFLOW_IMAGE="simple-etl-airflow:$APP_VERSION"

start_dockerd() {
  mkdir -p "$AIRGAP_RUN" "$AIRGAP_CACHE/docker" "$AIRGAP_STATE/pids" "$AIRGAP_STATE/logs"
  if docker info >/dev/null 2>&1; then return; fi
  command -v dockerd >/dev/null || die "dockerd is missing: apt-get install docker.io"
  # A bridge of its own (removed by `cluster.sh down`), never docker0; and the host's
  # ip_forward left alone: builds use the host network, nothing is routed.
  ip link show "$DOCKER_BRIDGE" >/dev/null 2>&1 || ip link add "$DOCKER_BRIDGE" type bridge
  setsid dockerd --host "$DOCKER_HOST" --data-root "$AIRGAP_CACHE/docker" \
    --exec-root "$AIRGAP_RUN/docker" --pidfile "$AIRGAP_RUN/docker.pid" \
    --bridge "$DOCKER_BRIDGE" --iptables=false --ip-masq=false --ip-forward=false \
    >"$AIRGAP_STATE/logs/dockerd.log" 2>&1 </dev/null &
  echo $! >"$AIRGAP_STATE/pids/dockerd.pid"
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || die "dockerd did not start (log $AIRGAP_STATE/logs/dockerd.log)"
  log "started a private dockerd (pid $(cat "$AIRGAP_STATE/pids/dockerd.pid"), $DOCKER_HOST)"
}

have() { docker image inspect "$1" >/dev/null 2>&1; }

build() { # image context [docker build args...]; a stand-in is built once, then cached
  local image=$1 context=$2
  shift 2
  if [[ $image == simple-etl-airgap/* ]] && have "$image"; then log "$image: cached"; return; fi
  log "building $image"
  local start=$SECONDS
  nice -n 19 docker build --network host -t "$image" "$@" "$context" >"$AIRGAP_STATE/logs/build-${image//[\/:]/_}.log" 2>&1 \
    || { tail -30 "$AIRGAP_STATE/logs/build-${image//[\/:]/_}.log" >&2; die "docker build of $image failed"; }
  log "built $image in $((SECONDS - start)) s"
}

build_all() {
  command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
  start_dockerd
  if ! have "$STANDIN_DEBIAN"; then
    if [[ ! -f $ROOTFS ]]; then
      log "debootstrap bookworm (minbase) from Debian's mirror"
      local tree="$AIRGAP_CACHE/rootfs/bookworm.tree"
      rm -rf "$tree" && mkdir -p "$tree"
      nice -n 19 debootstrap --variant=minbase bookworm "$tree" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
        >"$AIRGAP_STATE/logs/debootstrap.log" 2>&1 || die "debootstrap failed (log $AIRGAP_STATE/logs/debootstrap.log)"
      rm -rf "$tree"/var/cache/apt/archives/*.deb "$tree"/var/lib/apt/lists/*
      tar -C "$tree" --numeric-owner -cf "$ROOTFS.tmp" . && mv "$ROOTFS.tmp" "$ROOTFS"
      rm -rf "$tree"
    fi
    docker import "$ROOTFS" "$STANDIN_DEBIAN" >/dev/null
    log "imported $STANDIN_DEBIAN"
  fi
  build "$PAUSE_IMAGE" "$here/standins/pause" --build-arg "BASE=$STANDIN_DEBIAN"
  local context="$AIRGAP_CACHE/context/python"
  rm -rf "$context" && mkdir -p "$context/ca-certificates"
  cp "$here/standins/python/Dockerfile" "$context/"
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$context/ca-certificates/"
  fi
  build "$STANDIN_PYTHON" "$context" --build-arg "BASE=$STANDIN_DEBIAN"
  build "$STANDIN_POSTGRES" "$here/standins/postgres" --build-arg "BASE=$STANDIN_DEBIAN"
  build "$STANDIN_AIRFLOW" "$here/standins/airflow" --build-arg "BASE=$STANDIN_PYTHON"
  # The project's Dockerfiles, unchanged: only their base-image ARGs point at the stand-ins.
  # Always rebuilt (the layer cache makes an unchanged one quick), so edits are picked up.
  build "$ETL_IMAGE" "$AIRGAP_REPO/etl_image" --build-arg "PYTHON_IMAGE=$STANDIN_PYTHON"
  build "$AIRFLOW_IMAGE" "$AIRGAP_REPO/dags" --build-arg "AIRFLOW_IMAGE=$STANDIN_AIRFLOW"
}

save_all() { # dir
  local dir=$1 image file id
  mkdir -p "$dir"
  for image in "$PAUSE_IMAGE" "$STANDIN_DEBIAN" "$STANDIN_POSTGRES" "$ETL_IMAGE" "$AIRFLOW_IMAGE"; do
    file="$dir/${image//[\/:]/_}.tar"
    id=$(docker image inspect -f '{{.Id}}' "$image")
    # Saved again only when the image changed (a rebuilt project image).
    if [[ ! -f $file || "$(cat "$file.id" 2>/dev/null)" != "$id" ]]; then
      docker save "$image" -o "$file.tmp" && mv "$file.tmp" "$file" && echo "$id" >"$file.id"
    fi
    echo "$file"
  done
}

case "${1:-}" in
  build) build_all ;;
  save) start_dockerd && save_all "${2:?usage: $0 save DIR}" ;;
  list) printf '%s\n' "$PAUSE_IMAGE" "$STANDIN_POSTGRES" "$ETL_IMAGE" "$AIRFLOW_IMAGE" ;;
  *) die "usage: $0 build | save DIR | list" ;;
esac
