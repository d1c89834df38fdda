"""One batch shard end to end: plan → extract → transform and apply → land → settle the ledger.

The first attempt of a batch fixes its plan (shards, visited_at); every attempt holds a
lease that a background thread renews (ledger.Lease), and ends `succeeded`, `skipped`
or `failed` with its reason, recorded on a fresh connection since the run's own may be
what broke. A killed run cannot record anything: its lease runs out, and the next
attempt and the quality gate see it abandoned.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import IO, Any

from simple_etl import db, ledger, overlap, upsert
from simple_etl.client import RandomUserClient
from simple_etl.config import Settings
from simple_etl.errors import EtlError
from simple_etl.landing import extract, read_pages
from simple_etl.log import JsonLogger
from simple_etl.plan import batch_pages, shard_pages
from simple_etl.transform import Transform


@dataclass(frozen=True)
class BatchRequest:
    batch_id: str
    shard: int
    shards: int
    # A proposal: the batch's first attempt fixes it in the plan (None: now); a later
    # attempt stamps its visits with the planned one (ledger.begin).
    visited_at: datetime | None


def run_batch(settings: Settings, request: BatchRequest, log: JsonLogger) -> dict[str, Any]:
    started = time.monotonic()
    pages = shard_pages(batch_pages(settings, request.batch_id), request.shard, request.shards)
    log = log.bind(batch_id=request.batch_id, shard=request.shard, shards=request.shards)
    conn = db.connect("simple-etl run", settings)
    try:
        with db.database_errors("recording the batch start"):
            attempt = ledger.begin(
                conn,
                request.batch_id,
                request.shard,
                request.shards,
                request.visited_at,
                settings.lease_seconds,
            )
        if attempt is None:
            log.info("run.skipped", reason="batch shard already succeeded")
            return {"status": "skipped", **_ids(request)}
        planned = replace(request, visited_at=attempt.visited_at)
        log.info(
            "run.started", attempt=attempt.number, pages=pages, visited_at=attempt.visited_at.isoformat()
        )
        lease = ledger.Lease(
            lambda: db.connect("simple-etl lease", settings),
            request.batch_id,
            request.shard,
            attempt.number,
            settings.lease_seconds,
            on_error=lambda reason: log.warning("run.lease_not_renewed", reason=reason),
        )
        try:
            with lease:
                counts = _extract_and_load(settings, planned, attempt.number, pages, conn, log)
        except EtlError as error:
            _record_failure(settings, planned, attempt.number, f"{error.kind}: {error}", log)
            raise
        except Exception as error:  # a bug: still never leave the attempt running
            _record_failure(settings, planned, attempt.number, f"error: {db.first_line(error)}", log)
            raise
        if counts is None:
            _record_skip(settings, planned, attempt.number, log)
            log.info("run.skipped", reason="a concurrent run loaded this batch shard")
            return {"status": "skipped", **_ids(request)}
        seconds = round(time.monotonic() - started, 3)
        log.info("run.finished", seconds=seconds, **asdict(counts))
        return {"status": "succeeded", **_ids(request), **asdict(counts), "seconds": seconds}
    finally:
        conn.close()


def _extract_and_load(
    settings: Settings, request: BatchRequest, attempt: int, pages: list[int], conn: Any, log: JsonLogger
) -> ledger.Counts | None:
    with RandomUserClient(settings, log) as client:
        spool, extracted = extract(client, pages, request.batch_id, request.shard, log)
    with spool:
        return load(conn, request, spool, len(pages), extracted, attempt=attempt)


def load(
    conn: Any,
    request: BatchRequest,
    spool: IO[bytes],
    pages: int,
    extracted: int,
    *,
    attempt: int | None = None,
) -> ledger.Counts | None:
    """The load transaction: lock the ledger row, transform and apply page after page,
    land the raw pages, settle the ledger and the attempt (None: the shard's latest).

    `request.visited_at` must be the plan's (ledger.begin's Attempt). None when a
    concurrent run of this batch shard got there first. The benchmark (bench/) calls
    this directly, so what it measures is exactly what `run` executes.
    """
    assert request.visited_at is not None, "load the plan's visited_at (ledger.begin)"
    with db.database_errors("loading the batch"), conn, conn.cursor() as cur, overlap.no_cyclic_gc():
        status = ledger.lock(cur, request.batch_id, request.shard)
        if status == "succeeded":  # a concurrent run of this shard got there first
            return None
        upsert.create_staging(cur)
        applied = upsert.Applied()
        # The next page is transformed while the server applies this one.
        with overlap.ahead(_transformed(spool)) as transformed:
            for staged in transformed:
                applied += upsert.apply(cur, staged, request.batch_id, request.shard, request.visited_at)
        # Landed last, in one COPY, once no transform competes with it for the CPU.
        spool.seek(0)
        upsert.land(cur, spool)
        if applied.identity_conflicts:
            upsert.fill_conflict_payloads(cur, request.batch_id, request.shard)
        counts = ledger.Counts(
            pages=pages,
            extracted=extracted,
            loaded=applied.loaded,
            quarantined=applied.quarantined,
            new_people=applied.new_people,
            returning_people=applied.loaded - applied.new_people,
            identity_conflicts=applied.identity_conflicts,
        )
        ledger.succeed(cur, request.batch_id, request.shard, attempt, counts)
    return counts


def _transformed(spool: IO[bytes]) -> Iterator[bytes]:
    """Each spooled page's staging rows."""
    transform = Transform()
    for page in read_pages(spool):
        yield transform.page_rows(page)


def _record_failure(
    settings: Settings, request: BatchRequest, attempt: int, error: str, log: JsonLogger
) -> None:
    """On a fresh connection: the run's own may be what failed (a database restart)."""
    try:
        with db.database_errors("recording the failure"):
            conn = db.connect("simple-etl run", settings)
            try:
                ledger.fail(conn, request.batch_id, request.shard, attempt, error)
            finally:
                conn.close()
    except EtlError as ledger_error:  # the database may be the thing that failed
        log.warning(
            "run.failure_not_recorded", reason=str(ledger_error), lease_seconds=settings.lease_seconds
        )


def _record_skip(settings: Settings, request: BatchRequest, attempt: int, log: JsonLogger) -> None:
    try:
        with db.database_errors("recording the skip"):
            conn = db.connect("simple-etl run", settings)
            try:
                ledger.skip(conn, request.batch_id, request.shard, attempt)
            finally:
                conn.close()
    except EtlError as ledger_error:  # the lease then expires; the data is sound
        log.warning("run.skip_not_recorded", reason=str(ledger_error))


def _ids(request: BatchRequest) -> dict[str, Any]:
    return {"batch_id": request.batch_id, "shard": request.shard, "shards": request.shards}
