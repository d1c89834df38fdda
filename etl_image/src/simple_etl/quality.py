"""The quality gate: invariants a loaded warehouse must hold, each named when broken.

Besides the checked batch's own invariants, two look at the whole ledger or name what
the load refused to guess: an attempt still `running` past its lease (a killed or
disconnected run nobody retried) fails the gate whichever batch is checked, and a
batch with identity conflicts (a known uuid carrying another person) fails it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from psycopg2.extensions import cursor

from simple_etl.config import Settings
from simple_etl.landing import CREDENTIAL_KEYS
from simple_etl.upsert import IDENTITY_CONFLICT


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str


def latest_batch(cur: cursor) -> str | None:
    cur.execute("SELECT batch_id FROM warehouse.batches ORDER BY started_at DESC LIMIT 1")
    row = cur.fetchone()
    return row[0] if row else None


def run_checks(cur: cursor, settings: Settings, batch_id: str) -> list[Finding]:
    checks: list[Callable[[cursor, Settings, str], Finding]] = [
        _batch_succeeded,
        _counts_reconcile,
        _reject_ratio,
        _freshness,
        _people_have_visits,
        _no_credentials,
        _no_abandoned_attempts,
        _no_identity_conflicts,
    ]
    return [check(cur, settings, batch_id) for check in checks]


def _batch_succeeded(cur: cursor, settings: Settings, batch_id: str) -> Finding:
    # The plan's shard count, not the rows': a shard that never started is missing too.
    cur.execute(
        """
        SELECT greatest(max(shards),
                        (SELECT shards FROM warehouse.batch_plans WHERE batch_id = %(batch_id)s)),
               count(*), count(*) FILTER (WHERE status = 'succeeded'),
               string_agg(DISTINCT status, ',') FILTER (WHERE status <> 'succeeded')
          FROM warehouse.batches WHERE batch_id = %(batch_id)s
        """,
        {"batch_id": batch_id},
    )
    shards, present, succeeded, other = cur.fetchone()
    if not present:
        return Finding("batch_succeeded", False, f"batch {batch_id} is not in the ledger")
    ok = present == shards == succeeded
    detail = f"{succeeded} of {shards} shards succeeded" + (f" (others: {other})" if other else "")
    return Finding("batch_succeeded", ok, detail)


def _counts_reconcile(cur: cursor, settings: Settings, batch_id: str) -> Finding:
    # Every extracted record is either a visit or quarantined, and the ledger agrees
    # with the tables it describes.
    cur.execute(
        """
        SELECT b.shard, b.extracted, b.loaded, b.quarantined,
               (SELECT coalesce(sum(json_array_length(r.payload)), 0) FROM raw.pages r
                 WHERE r.batch_id = b.batch_id AND r.shard = b.shard),
               (SELECT count(*) FROM warehouse.visits v
                 WHERE v.batch_id = b.batch_id AND v.shard = b.shard),
               (SELECT count(*) FROM warehouse.quarantine q
                 WHERE q.batch_id = b.batch_id AND q.shard = b.shard)
          FROM warehouse.batches b
         WHERE b.batch_id = %s AND b.status = 'succeeded'
         ORDER BY b.shard
        """,
        (batch_id,),
    )
    broken = [
        f"shard {shard}: ledger {extracted}/{loaded}/{quarantined}, tables {raw}/{visits}/{quarantine}"
        for shard, extracted, loaded, quarantined, raw, visits, quarantine in cur.fetchall()
        if not (extracted == raw and loaded == visits and quarantined == quarantine == extracted - loaded)
    ]
    detail = "; ".join(broken) if broken else "extracted = loaded + quarantined, ledger matches tables"
    return Finding("counts_reconcile", not broken, detail)


def _reject_ratio(cur: cursor, settings: Settings, batch_id: str) -> Finding:
    cur.execute(
        "SELECT coalesce(sum(extracted), 0), coalesce(sum(quarantined), 0) "
        "FROM warehouse.batches WHERE batch_id = %s AND status = 'succeeded'",
        (batch_id,),
    )
    extracted, quarantined = cur.fetchone()
    ratio = quarantined / extracted if extracted else 0.0
    ok = ratio <= settings.max_reject_ratio
    return Finding("reject_ratio", ok, f"{ratio:.4f} quarantined (limit {settings.max_reject_ratio})")


def _freshness(cur: cursor, settings: Settings, batch_id: str) -> Finding:
    cur.execute("SELECT seconds_since_success FROM reporting.freshness")
    (seconds,) = cur.fetchone()
    if seconds is None:
        return Finding("freshness", False, "no batch has ever succeeded")
    ok = seconds <= settings.max_staleness
    return Finding("freshness", ok, f"last success {seconds:.0f}s ago (limit {settings.max_staleness}s)")


def _people_have_visits(cur: cursor, settings: Settings, batch_id: str) -> Finding:
    # A person whose latest batch retention retired (retention.py) has no visit left, by
    # design; one whose latest batch is still kept must have at least that visit.
    cur.execute(
        "SELECT count(*) FROM warehouse.people p "
        "WHERE EXISTS (SELECT 1 FROM warehouse.batch_plans b WHERE b.batch_id = p.last_batch_id) "
        "AND NOT EXISTS (SELECT 1 FROM warehouse.visits v WHERE v.person_uuid = p.person_uuid)"
    )
    (orphans,) = cur.fetchone()
    return Finding("people_have_visits", orphans == 0, f"{orphans} people without any visit")


def _no_credentials(cur: cursor, settings: Settings, batch_id: str) -> Finding:
    cur.execute(
        # On the text: Postgres' JSON functions refuse a landed "\u0000", which is valid
        # JSON. A key is a quoted name right after "{" or ",": inside a string every quote
        # is escaped, so no value can look like one.
        "SELECT count(*) FROM raw.pages p, regexp_matches(p.payload::text, %s, 'g') m WHERE p.batch_id = %s",
        (rf'[{{,]\s*"({"|".join(CREDENTIAL_KEYS)})"\s*:', batch_id),
    )
    (leaked,) = cur.fetchone()
    return Finding("no_credentials", leaked == 0, f"{leaked} credential keys in the raw zone")


def _no_abandoned_attempts(cur: cursor, settings: Settings, batch_id: str) -> Finding:
    # Any batch: a stuck attempt of an older batch is as broken as one of this batch.
    # One whose shard another attempt loaded meanwhile is history, not a stuck batch
    # (the next run records it failed: ledger.SETTLE_ABANDONED).
    cur.execute(
        """
        SELECT count(*), string_agg(DISTINCT a.batch_id || ' shard ' || a.shard, ', ')
          FROM warehouse.batch_attempts a
          JOIN warehouse.batches b USING (batch_id, shard)
         WHERE a.status = 'running' AND a.lease_until < now() AND b.status <> 'succeeded'
        """
    )
    stuck, which = cur.fetchone()
    if stuck:
        detail = f"{stuck} attempts running past their lease (killed or disconnected; re-run them): {which}"
        return Finding("no_abandoned_attempts", False, detail)
    return Finding("no_abandoned_attempts", True, "no attempt is running past its lease")


def _no_identity_conflicts(cur: cursor, settings: Settings, batch_id: str) -> Finding:
    # A failure, not a warning: the records are kept (quarantined), but a known uuid
    # carrying another person means the visitor pool is not what it claims (a changed
    # nationality list under one API seed, or a source reusing uuids): returning counts
    # would be wrong without the quarantine, and a person must decide what the pool is.
    cur.execute(
        "SELECT count(*) FROM warehouse.quarantine WHERE batch_id = %s AND reason = %s",
        (batch_id, IDENTITY_CONFLICT),
    )
    (conflicts,) = cur.fetchone()
    detail = (
        f"{conflicts} records of batch {batch_id} reuse a known login.uuid with another identity "
        "(quarantined as identity_conflict; did SIMPLE_ETL_NAT or SIMPLE_ETL_SEED change?)"
        if conflicts
        else "no known uuid arrived with another identity"
    )
    return Finding("identity_conflicts", conflicts == 0, detail)
