"""Fault injection: what can go wrong with the live API, on demand and reproducibly.

`Faults` is an immutable description; a running server holds one `FaultPlan`, which
hands out the next fault to each request under a lock. Replacing a server's faults
starts a fresh plan, so a test that sets `schedule=("429", "500")` gets exactly those
two faults on its next two requests, whatever happened before.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from typing import Any

# status 429 + Retry-After | 500 | 503 | 200 with results [] but info.results = n |
# a delay before a normal answer | half of the body, correctly framed | an HTML page
# instead of JSON | the chunked gzip transfer cut off mid-body (the connection drops) |
# page 1's people and info.page 1 whatever page was asked
FAULT_KINDS: tuple[str, ...] = (
    "429", "500", "503", "empty", "slow", "truncated", "garbage", "cut", "wrongpage",
)  # fmt: skip
# A schedule entry for a normal answer, so a fault can be placed on, say, the third request.
NO_FAULT = "ok"

# Each corrupted record is broken in exactly one of these ways, in this order.
CORRUPTIONS: tuple[str, ...] = ("uuid", "name", "dob", "coordinates", "nat", "gender")


@dataclass(frozen=True, slots=True)
class Faults:
    schedule: tuple[str, ...] = ()  # faults (or "ok") for the next requests, in order, then normal answers
    retry_after: int = 1  # seconds, sent in the Retry-After header of a 429
    slow_seconds: float = 2.0  # delay of a "slow" answer
    rate: float = 0.0  # probability of a fault on any request once the schedule is used up
    random_kinds: tuple[str, ...] = FAULT_KINDS  # what `rate` draws from
    rate_seed: int = 0  # makes the `rate` draws reproducible
    corrupt: int = 0  # records per successful answer that are broken on purpose
    cut_at: float = 0.5  # how much of the compressed body a "cut" answer sends before dropping

    def __post_init__(self) -> None:
        # Tuples are what make the dataclass immutable; accept lists for convenience.
        object.__setattr__(self, "schedule", tuple(self.schedule))
        object.__setattr__(self, "random_kinds", tuple(self.random_kinds))
        unknown = sorted(
            {kind for kind in self.schedule if kind not in (*FAULT_KINDS, NO_FAULT)}
            | {kind for kind in self.random_kinds if kind not in FAULT_KINDS}
        )
        if unknown:
            raise ValueError(
                f"unknown fault kind(s) {', '.join(unknown)}; known: {', '.join(FAULT_KINDS)}, {NO_FAULT}"
            )
        if not _is_whole(self.retry_after) or self.retry_after < 0:
            raise ValueError(f"retry_after must be a whole number of seconds >= 0, got {self.retry_after!r}")
        if not (math.isfinite(self.slow_seconds) and self.slow_seconds >= 0):
            raise ValueError(f"slow_seconds must be >= 0, got {self.slow_seconds!r}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {self.rate!r}")
        if self.rate > 0 and not self.random_kinds:
            raise ValueError("rate > 0 needs at least one kind in random_kinds")
        if not (isinstance(self.cut_at, int | float) and 0 < self.cut_at < 1):
            raise ValueError(f"cut_at must be between 0 and 1 (exclusive), got {self.cut_at!r}")
        if not _is_whole(self.corrupt) or self.corrupt < 0:
            raise ValueError(f"corrupt must be a whole number >= 0, got {self.corrupt!r}")


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class FaultPlan:
    """Hands out one fault decision per request; safe to share between handler threads."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._position = 0
        self._rng = random.Random(faults.rate_seed)  # noqa: S311 - reproducible drills, not secrets
        self._lock = threading.Lock()

    def next_fault(self) -> str | None:
        faults = self.faults
        with self._lock:
            if self._position < len(faults.schedule):
                self._position += 1
                kind = faults.schedule[self._position - 1]
                return None if kind == NO_FAULT else kind
            if faults.rate and self._rng.random() < faults.rate:
                return faults.random_kinds[int(self._rng.random() * len(faults.random_kinds))]
            return None


def corrupt_records(records: list[dict[str, Any]], count: int) -> None:
    """Break `count` records in place, spread evenly, each in exactly one way.

    Broken fields are replaced, never mutated, so nested objects shared with other
    records stay intact. A record whose target field was left out by inc/exc stays valid.
    """
    count = min(count, len(records))
    for n in range(count):
        record = records[n * len(records) // count]
        how = CORRUPTIONS[n % len(CORRUPTIONS)]
        if how == "uuid" and "login" in record:
            record["login"] = {**record["login"], "uuid": "not-a-uuid"}
        elif how == "name":
            record.pop("name", None)
        elif how == "dob" and "dob" in record:
            record["dob"] = {**record["dob"], "date": "yesterday"}
        elif how == "coordinates" and "location" in record:
            coordinates = {**record["location"]["coordinates"], "latitude": "north"}
            record["location"] = {**record["location"], "coordinates": coordinates}
        elif how == "nat" and "nat" in record:
            record["nat"] = "XX1"
        elif how == "gender" and "gender" in record:
            record["gender"] = "robot"
