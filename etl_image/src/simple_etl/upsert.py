"""Into the warehouse: quarantine, the people upsert, the visits, the raw pages.

The loader COPYs each page's rows (transform.Transform) into a temporary staging table,
and one statement applies them: rejected records to quarantine with their reason,
valid ones upserted into people and a visit for each, except a known uuid whose
identity differs from the stored person's, which is quarantined as an identity
conflict (never counted returning, never overwriting). The staging table is typed, so
the COPY does the casting, and temporary, so it writes no WAL; it is emptied after each
page, which keeps it within Postgres' temporary buffers.
"""

from __future__ import annotations

import io
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import IO

from psycopg2.extensions import cursor

PERSON_COLUMNS = (
    "person_uuid, gender, title, first_name, last_name, email, username, phone, cell, born_at, "
    "registered_at, nationality, country, state, city, street_number, street_name, postcode, "
    "latitude, longitude, tz_offset, id_name, id_value"
)

# (page, seq, reason, payload) then the person's columns, in transform.typed_fields' order.
CREATE_STAGING = """
CREATE TEMPORARY TABLE staged (
    page integer NOT NULL, seq integer NOT NULL, reason text, payload json,
    person_uuid uuid, gender text, title text, first_name text, last_name text, email text,
    username text, phone text, cell text, born_at timestamptz, registered_at timestamptz,
    nationality text, country text, state text, city text, street_number integer,
    street_name text, postcode text, latitude numeric(9, 6), longitude numeric(9, 6),
    tz_offset text, id_name text, id_value text
) ON COMMIT DROP
"""

COPY_RAW = "COPY raw.pages (batch_id, shard, page, payload) FROM STDIN"
COPY_STAGED = "COPY staged FROM STDIN"

# Every value is a bound parameter. A person's attributes come from the first sighting
# (a uuid is one immutable person at the source); later sightings only move first/last
# seen, in (visited_at, batch_id) order. The first sighting decides who is new (0006):
# a visit is new iff its batch is the person's first_batch_id, so the upsert's own
# RETURNING counts this load's new visitors, with no second look at the visits.
#
# A staged uuid already stored with another identity (IDENTITY_COLUMNS) is not that
# person returning: the source hands one uuid to different people (the same seed and
# page under another nationality list). The upsert leaves such a row alone (its DO
# UPDATE's WHERE fails, so it returns nothing: no visit), and the quarantine takes every
# valid staged row the upsert did not return, with reason IDENTITY_CONFLICT. Decided
# by the upsert itself, it holds against a concurrent load of the same uuid too. Valid
# rows carry no payload (the transform keeps none); `fill_conflict_payloads` copies
# each one's record from the landed page.
IDENTITY_COLUMNS = "first_name, last_name, born_at, nationality, gender"
IDENTITY_CONFLICT = "identity_conflict"

APPLY = f"""
WITH people AS (
    INSERT INTO warehouse.people AS cur (
        {PERSON_COLUMNS}, first_seen_at, last_seen_at, first_batch_id, last_batch_id)
    SELECT {PERSON_COLUMNS}, %(visited_at)s, %(visited_at)s, %(batch_id)s, %(batch_id)s
      FROM staged WHERE reason IS NULL
    ON CONFLICT (person_uuid) DO UPDATE SET
        first_seen_at  = least(cur.first_seen_at, excluded.first_seen_at),
        first_batch_id = CASE WHEN (excluded.first_seen_at, excluded.first_batch_id)
                                   < (cur.first_seen_at, cur.first_batch_id)
                              THEN excluded.first_batch_id ELSE cur.first_batch_id END,
        last_seen_at   = greatest(cur.last_seen_at, excluded.last_seen_at),
        last_batch_id  = CASE WHEN (excluded.last_seen_at, excluded.last_batch_id)
                                   > (cur.last_seen_at, cur.last_batch_id)
                              THEN excluded.last_batch_id ELSE cur.last_batch_id END
      WHERE ({", ".join("cur." + c.strip() for c in IDENTITY_COLUMNS.split(","))})
            IS NOT DISTINCT FROM
            ({", ".join("excluded." + c.strip() for c in IDENTITY_COLUMNS.split(","))})
    RETURNING person_uuid, first_batch_id = %(batch_id)s AS is_new
), quarantined AS (
    INSERT INTO warehouse.quarantine (batch_id, shard, page, seq, reason, payload)
    SELECT %(batch_id)s, %(shard)s, s.page, s.seq, coalesce(s.reason, '{IDENTITY_CONFLICT}'),
           coalesce(s.payload, 'null'::json)
      FROM staged s
     WHERE s.reason IS NOT NULL
        OR NOT EXISTS (SELECT 1 FROM people p WHERE p.person_uuid = s.person_uuid)
    RETURNING reason
), visits AS (
    INSERT INTO warehouse.visits (batch_id, person_uuid, shard, visited_at)
    SELECT %(batch_id)s, person_uuid, %(shard)s, %(visited_at)s FROM people
    ON CONFLICT DO NOTHING
    RETURNING person_uuid
)
SELECT (SELECT count(*) FROM quarantined),
       (SELECT count(*) FILTER (WHERE reason = '{IDENTITY_CONFLICT}') FROM quarantined),
       (SELECT count(*) FROM visits),
       (SELECT count(*) FROM visits JOIN people USING (person_uuid) WHERE people.is_new)
"""  # noqa: S608 - composed of constants only

# The conflicting records' payloads, from the pages landed in the same transaction.
FILL_CONFLICT_PAYLOADS = f"""
UPDATE warehouse.quarantine q SET payload = r.payload -> q.seq
  FROM raw.pages r
 WHERE q.batch_id = %(batch_id)s AND q.shard = %(shard)s AND q.reason = '{IDENTITY_CONFLICT}'
   AND r.batch_id = q.batch_id AND r.shard = q.shard AND r.page = q.page
"""  # noqa: S608 - composed of constants only


@dataclass(frozen=True)
class Applied:
    quarantined: int = 0
    identity_conflicts: int = 0
    loaded: int = 0
    new_people: int = 0  # of the loaded: visits of the person's first batch, as of this load

    def __add__(self, other: Applied) -> Applied:
        return Applied(*(mine + theirs for mine, theirs in zip(astuple(self), astuple(other), strict=True)))


def create_staging(cur: cursor) -> None:
    cur.execute(CREATE_STAGING)


def apply(cur: cursor, staged: bytes, batch_id: str, shard: int, visited_at: datetime) -> Applied:
    """Stage one page's rows (transform.Transform.page_rows) and apply them."""
    cur.copy_expert(COPY_STAGED, io.BytesIO(staged), size=1 << 20)
    cur.execute(APPLY, {"batch_id": batch_id, "shard": shard, "visited_at": visited_at})
    row = cur.fetchone()
    assert row is not None
    cur.execute("TRUNCATE staged")
    return Applied(*row)


def land(cur: cursor, spool: IO[bytes]) -> None:
    """COPY the spooled pages (landing.copy_line) into raw.pages."""
    cur.copy_expert(COPY_RAW, spool, size=1 << 20)


def fill_conflict_payloads(cur: cursor, batch_id: str, shard: int) -> None:
    """After `land`: each identity conflict's quarantined payload is its landed record."""
    cur.execute(FILL_CONFLICT_PAYLOADS, {"batch_id": batch_id, "shard": shard})
