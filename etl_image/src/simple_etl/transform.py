"""The set-based transform: landed raw JSON → typed warehouse rows, in one statement.

Validation, de-duplication, quarantine, the people upsert and the visits insert run
inside Postgres over the rows just landed, so no record crosses the wire twice and
every row is checked before it is cast. A record failing a check goes to quarantine
with the first reason it fails; it never aborts the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg2.extensions import cursor

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

# The first matching reason wins; the order runs from structure to detail.
REASONS = f"""
    CASE
        WHEN jsonb_typeof(p) <> 'object' THEN 'payload is not a JSON object'
        WHEN coalesce(p #>> '{{login,uuid}}', '') !~ '{UUID_PATTERN}'
            THEN 'login.uuid is missing or not a UUID'
        WHEN coalesce(p #>> '{{name,first}}', '') = '' OR coalesce(p #>> '{{name,last}}', '') = ''
            THEN 'name.first or name.last is missing'
        WHEN coalesce(p ->> 'gender', '') NOT IN ('female', 'male') THEN 'gender is not female or male'
        WHEN coalesce(p ->> 'nat', '') !~ '^[A-Z]{{2}}$' THEN 'nat is not a two-letter country code'
        WHEN coalesce(p #>> '{{location,country}}', '') = '' THEN 'location.country is missing'
        WHEN NOT warehouse.is_timestamp(p #>> '{{dob,date}}')
            THEN 'dob.date is not an ISO-8601 timestamp'
        WHEN NOT warehouse.is_timestamp(p #>> '{{registered,date}}')
            THEN 'registered.date is not an ISO-8601 timestamp'
        WHEN NOT (warehouse.is_coordinate(p #>> '{{location,coordinates,latitude}}', 90)
                  AND warehouse.is_coordinate(p #>> '{{location,coordinates,longitude}}', 180))
            THEN 'location.coordinates are not a latitude/longitude in range'
        WHEN (p #>> '{{location,street,number}}') !~ '^-?[0-9]{{1,9}}$'
            THEN 'location.street.number is not an integer'
    END
"""

APPLY = f"""
WITH landed AS (
    SELECT page, seq, payload AS p
      FROM raw.user_payloads
     WHERE batch_id = %(batch_id)s AND shard = %(shard)s
), checked AS (
    SELECT page, seq, p, {REASONS} AS reason FROM landed
), ranked AS (
    SELECT page, seq, p,
           CASE WHEN reason IS NULL AND row_number() OVER (
                    PARTITION BY CASE WHEN reason IS NULL THEN lower(p #>> '{{login,uuid}}') END
                    ORDER BY page, seq) > 1
                THEN 'duplicate login.uuid within the batch'
                ELSE reason
           END AS reason
      FROM checked
), quarantined AS (
    INSERT INTO warehouse.quarantine (batch_id, shard, page, seq, reason, payload)
    SELECT %(batch_id)s, %(shard)s, page, seq, reason, p FROM ranked WHERE reason IS NOT NULL
    RETURNING 1
), people AS (
    -- A person's attributes come from the first sighting (a uuid is one immutable
    -- person at the source); later sightings only move first/last seen.
    INSERT INTO warehouse.people AS cur (
        person_uuid, gender, title, first_name, last_name, email, username, phone, cell,
        born_at, registered_at, nationality, country, state, city, street_number, street_name,
        postcode, latitude, longitude, tz_offset, id_name, id_value,
        first_seen_at, last_seen_at, first_batch_id, last_batch_id)
    SELECT (p #>> '{{login,uuid}}')::uuid, p ->> 'gender', p #>> '{{name,title}}',
           p #>> '{{name,first}}', p #>> '{{name,last}}', p ->> 'email', p #>> '{{login,username}}',
           p ->> 'phone', p ->> 'cell',
           (p #>> '{{dob,date}}')::timestamptz, (p #>> '{{registered,date}}')::timestamptz,
           p ->> 'nat', p #>> '{{location,country}}', p #>> '{{location,state}}',
           p #>> '{{location,city}}', (p #>> '{{location,street,number}}')::integer,
           p #>> '{{location,street,name}}',
           p #>> '{{location,postcode}}',  -- int or string at the source; text here
           (p #>> '{{location,coordinates,latitude}}')::numeric,
           (p #>> '{{location,coordinates,longitude}}')::numeric,
           p #>> '{{location,timezone,offset}}',
           nullif(p #>> '{{id,name}}', ''), p #>> '{{id,value}}',
           %(visited_at)s, %(visited_at)s, %(batch_id)s, %(batch_id)s
      FROM ranked WHERE reason IS NULL
    ON CONFLICT (person_uuid) DO UPDATE SET
        first_seen_at  = least(cur.first_seen_at, excluded.first_seen_at),
        first_batch_id = CASE WHEN excluded.first_seen_at < cur.first_seen_at
                              THEN excluded.first_batch_id ELSE cur.first_batch_id END,
        last_seen_at   = greatest(cur.last_seen_at, excluded.last_seen_at),
        last_batch_id  = CASE WHEN excluded.last_seen_at > cur.last_seen_at
                              THEN excluded.last_batch_id ELSE cur.last_batch_id END
    RETURNING (xmax = 0) AS inserted
), visits AS (
    INSERT INTO warehouse.visits (batch_id, person_uuid, shard, visited_at)
    SELECT %(batch_id)s, (p #>> '{{login,uuid}}')::uuid, %(shard)s, %(visited_at)s
      FROM ranked WHERE reason IS NULL
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM quarantined),
       (SELECT count(*) FILTER (WHERE inserted) FROM people),
       (SELECT count(*) FILTER (WHERE NOT inserted) FROM people),
       (SELECT count(*) FROM visits)
"""


@dataclass(frozen=True)
class Applied:
    quarantined: int
    new_people: int
    returning_people: int
    loaded: int


def apply(cur: cursor, batch_id: str, shard: int, visited_at: datetime) -> Applied:
    cur.execute(APPLY, {"batch_id": batch_id, "shard": shard, "visited_at": visited_at})
    row = cur.fetchone()
    assert row is not None
    return Applied(*row)
