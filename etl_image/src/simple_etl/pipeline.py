"""One batch shard end to end: plan → extract → transform and apply → land → settle the ledger."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
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
    visited_at: datetime


def run_batch(settings: Settings, request: BatchRequest, log: JsonLogger) -> dict[str, Any]:
    started = time.monotonic()
    pages = shard_pages(batch_pages(settings, request.batch_id), request.shard, request.shards)
    log = log.bind(batch_id=request.batch_id, shard=request.shard, shards=request.shards)
    conn = db.connect("simple-etl run", settings)
    try:
        with db.database_errors("recording the batch start"):
            attempt = ledger.begin(conn, request.batch_id, request.shard, request.shards, request.visited_at)
        if attempt is None:
            log.info("run.skipped", reason="batch shard already succeeded")
            return {"status": "skipped", **_ids(request)}
        log.info("run.started", attempt=attempt, pages=pages)
        try:
            counts = _extract_and_load(settings, request, pages, conn, log)
        except EtlError as error:
            _record_failure(conn, request, error, log)
            raise
        if counts is None:
            log.info("run.skipped", reason="a concurrent run loaded this batch shard")
            return {"status": "skipped", **_ids(request)}
        seconds = round(time.monotonic() - started, 3)
        log.info("run.finished", seconds=seconds, **asdict(counts))
        return {"status": "succeeded", **_ids(request), **asdict(counts), "seconds": seconds}
    finally:
        conn.close()


def _extract_and_load(
    settings: Settings, request: BatchRequest, pages: list[int], conn: Any, log: JsonLogger
) -> ledger.Counts | None:
    with RandomUserClient(settings, log) as client:
        spool, extracted = extract(client, pages, request.batch_id, request.shard, log)
    with spool:
        return load(conn, request, spool, len(pages), extracted)


def load(
    conn: Any, request: BatchRequest, spool: IO[bytes], pages: int, extracted: int
) -> ledger.Counts | None:
    """The load transaction: lock the ledger row, transform and apply page after page,
    land the raw pages, settle the ledger.

    None when a concurrent run of this batch shard got there first. The benchmark
    (bench/) calls this directly, so what it measures is exactly what `run` executes.
    """
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
        counts = ledger.Counts(
            pages=pages,
            extracted=extracted,
            loaded=applied.loaded,
            quarantined=applied.quarantined,
            new_people=applied.new_people,
            returning_people=applied.returning_people,
        )
        ledger.succeed(cur, request.batch_id, request.shard, counts)
    return counts


def _transformed(spool: IO[bytes]) -> Iterator[bytes]:
    """Each spooled page's staging rows."""
    transform = Transform()
    for page in read_pages(spool):
        yield transform.page_rows(page)


def _record_failure(conn: Any, request: BatchRequest, error: EtlError, log: JsonLogger) -> None:
    try:
        with db.database_errors("recording the failure"):
            ledger.fail(conn, request.batch_id, request.shard, f"{error.kind}: {error}")
    except EtlError as ledger_error:  # the database may be the thing that failed
        log.warning("run.failure_not_recorded", reason=str(ledger_error))


def _ids(request: BatchRequest) -> dict[str, Any]:
    return {"batch_id": request.batch_id, "shard": request.shard, "shards": request.shards}
