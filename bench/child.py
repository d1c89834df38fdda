"""What every contender process shares: read the job, measure, print one JSON line.

A contender runs in a process of its own so that its peak RSS is its own, and so that
nothing one contender imports (dlt, for one) changes another's conditions.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from collections.abc import Callable
from typing import Any

Job = dict[str, Any]
Result = dict[str, Any]


class CpuClock:
    """CPU seconds of this process and of one Postgres backend (by its pid, from /proc).

    Wall time on a shared machine moves with the neighbours' load; CPU time shows where
    the work is: on the client or on the server.
    """

    def __init__(self, backend_pid: int) -> None:
        self._stat = f"/proc/{backend_pid}/stat"

    @classmethod
    def of(cls, conn: Any) -> CpuClock:
        """The clock of this process and of the backend serving `conn` (left outside a transaction)."""
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            clock = cls(cur.fetchone()[0])
        conn.commit()
        return clock

    def client(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def server(self) -> float:
        try:
            with open(self._stat) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # the server runs elsewhere, or under another user
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(measure: Callable[[Job], Result]) -> None:
    job = json.loads(sys.stdin.read())
    # The warehouse to use, as libpq variables: what a pod gets from its ConfigMap and Secret.
    os.environ.update(job.get("env", {}))
    result = measure(job)
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result), flush=True)
