#!/bin/bash
# The part of apache/airflow's /entrypoint the chart relies on: wait for the metadata
# database (CONNECTION_CHECK_MAX_COUNT tries, CONNECTION_CHECK_SLEEP_TIME apart), then exec.
set -euo pipefail
tries=${CONNECTION_CHECK_MAX_COUNT:-20}
if ((tries > 0)); then
  for ((i = 1; ; i++)); do
    if airflow db check >/dev/null 2>&1; then break; fi
    if ((i >= tries)); then echo "entrypoint: the database is not reachable after $tries tries" >&2; exit 1; fi
    sleep "${CONNECTION_CHECK_SLEEP_TIME:-3}"
  done
fi
exec "$@"
