"""The quality gate: invariants a loaded warehouse must hold, each named when broken."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from psycopg2.extensions import cursor

from simple_etl.config import Settings
from simple_etl.landing import CREDENTIAL_KEYS


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
    ]
    return [check(cur, settings, batch_id) for check in checks]


def _batch_succeeded(cur: cursor, settings: Settings, batch_id: str) -> Finding:
    cur.execute(
        """
        SELECT max(shards), count(*), count(*) FILTER (WHERE status = 'succeeded'),
               string_agg(DISTINCT status, ',') FILTER (WHERE status <> 'succeeded')
          FROM warehouse.batches WHERE batch_id = %s
        """,
        (batch_id,),
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
    cur.execute(
        "SELECT count(*) FROM warehouse.people p "
        "WHERE NOT EXISTS (SELECT 1 FROM warehouse.visits v WHERE v.person_uuid = p.person_uuid)"
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
