#!/usr/bin/env bash
# Usage: preflight.sh TOOL... — stop at once, naming what is missing and how to get it.
# Checked before anything slow runs, so a missing tool costs the user no time.
# (Plain bash 3: macOS ships it.)
set -euo pipefail

how_to_get() {
  case "$1" in
    docker) echo "install Docker Engine (Debian: apt-get install docker.io) or Docker Desktop" ;;
    kind | helm | kubectl | skaffold) echo "run 'make tools' (installs the pinned $1 into .tools/bin)" ;;
    *) echo "install it" ;;
  esac
}

missing=0
for tool in "$@"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "preflight: $tool not found: $(how_to_get "$tool")" >&2
    missing=1
  fi
done
[ "$missing" -eq 0 ] || exit 1

for tool in "$@"; do
  if [ "$tool" = docker ] && ! docker info >/dev/null 2>&1; then
    echo "preflight: the Docker daemon is not running: start it (systemctl start docker, or Docker Desktop)" >&2
    exit 1
  fi
done
