"""The set-based transform: landed raw JSON → typed warehouse rows, in one statement.

Validation, de-duplication, quarantine, the people upsert and the visits insert run
inside Postgres over the rows just landed, so no record crosses the wire twice and
every row is checked before it is cast. A record failing a check goes to quarantine
with the first reason it fails; it never aborts the batch.

Where the time goes, and why the statement is shaped the way it is (bench/README.md
has the measurements):
* every field is read out of the jsonb once, in `landed`, and checked and cast from
  there; the payload itself is not carried along (only quarantine needs it, and it
  fetches the few rejected ones back by key);
* duplicates within the batch are found by hashing the valid uuids, not by sorting
  every row by uuid, and looked up per row rather than joined;
* visits are the people rows the upsert returns, so nothing is read twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg2.extensions import cursor

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

# Each source field once, as text, under the name of the column it becomes.
FIELDS = """
    jsonb_typeof(p) AS kind,
    p #>> '{login,uuid}' AS person_uuid, p ->> 'gender' AS gender, p #>> '{name,title}' AS title,
    p #>> '{name,first}' AS first_name, p #>> '{name,last}' AS last_name, p ->> 'email' AS email,
    p #>> '{login,username}' AS username, p ->> 'phone' AS phone, p ->> 'cell' AS cell,
    p #>> '{dob,date}' AS born_at, p #>> '{registered,date}' AS registered_at,
    p ->> 'nat' AS nationality, p #>> '{location,country}' AS country,
    p #>> '{location,state}' AS state, p #>> '{location,city}' AS city,
    p #>> '{location,street,number}' AS street_number, p #>> '{location,street,name}' AS street_name,
    p #>> '{location,postcode}' AS postcode,  -- int or string at the source; text here
    p #>> '{location,coordinates,latitude}' AS latitude,
    p #>> '{location,coordinates,longitude}' AS longitude,
    p #>> '{location,timezone,offset}' AS tz_offset,
    p #>> '{id,name}' AS id_name, p #>> '{id,value}' AS id_value
"""

# The first matching reason wins; the order runs from structure to detail.
REASONS = f"""
    CASE
        WHEN kind <> 'object' THEN 'payload is not a JSON object'
        WHEN coalesce(person_uuid, '') !~ '{UUID_PATTERN}' THEN 'login.uuid is missing or not a UUID'
        WHEN coalesce(first_name, '') = '' OR coalesce(last_name, '') = ''
            THEN 'name.first or name.last is missing'
        WHEN coalesce(gender, '') NOT IN ('female', 'male') THEN 'gender is not female or male'
        WHEN coalesce(nationality, '') !~ '^[A-Z]{{2}}$' THEN 'nat is not a two-letter country code'
        WHEN coalesce(country, '') = '' THEN 'location.country is missing'
        WHEN NOT warehouse.is_timestamp(born_at) THEN 'dob.date is not an ISO-8601 timestamp'
        WHEN NOT warehouse.is_timestamp(registered_at)
            THEN 'registered.date is not an ISO-8601 timestamp'
        WHEN NOT (warehouse.is_coordinate(latitude, 90) AND warehouse.is_coordinate(longitude, 180))
            THEN 'location.coordinates are not a latitude/longitude in range'
        WHEN street_number !~ '^-?[0-9]{{1,9}}$' THEN 'location.street.number is not an integer'
    END
"""

# Composed of the constants above only; every value is a bound parameter. The statement
# has no joins on purpose: its plan cannot go wrong on a table without statistics yet.
APPLY = f"""
WITH landed AS (
    SELECT f.*, page::bigint << 32 | seq AS place, {REASONS} AS reason
      FROM (SELECT page, seq, {FIELDS}
              FROM (SELECT page, seq, payload AS p FROM raw.user_payloads
                     WHERE batch_id = %(batch_id)s AND shard = %(shard)s) r
            OFFSET 0) f  -- a fence: each field is extracted once, not once per reference
), repeated AS (
    -- Every uuid found more than once among the valid rows, with the place (page, seq)
    -- of its first row: the one that stays. Usually empty; a lookup, not a join.
    SELECT coalesce(jsonb_object_agg(uuid, first), '{{}}') AS first
      FROM (SELECT lower(person_uuid) AS uuid, min(place) AS first
              FROM landed WHERE reason IS NULL
             GROUP BY 1 HAVING count(*) > 1) d
), quarantined AS (
    INSERT INTO warehouse.quarantine (batch_id, shard, page, seq, reason, payload)
    SELECT %(batch_id)s, %(shard)s, l.page, l.seq,
           coalesce(l.reason, 'duplicate login.uuid within the batch'),
           (SELECT r.payload FROM raw.user_payloads r
             WHERE r.batch_id = %(batch_id)s AND r.shard = %(shard)s AND r.page = l.page AND r.seq = l.seq)
      FROM landed l
     WHERE l.reason IS NOT NULL
        OR ((SELECT first FROM repeated) ->> lower(l.person_uuid))::bigint <> l.place
    RETURNING 1
), people AS (
    -- A person's attributes come from the first sighting (a uuid is one immutable
    -- person at the source); later sightings only move first/last seen.
    INSERT INTO warehouse.people AS cur (
        person_uuid, gender, title, first_name, last_name, email, username, phone, cell,
        born_at, registered_at, nationality, country, state, city, street_number, street_name,
        postcode, latitude, longitude, tz_offset, id_name, id_value,
        first_seen_at, last_seen_at, first_batch_id, last_batch_id)
    SELECT person_uuid::uuid, gender, title, first_name, last_name, email, username, phone, cell,
           born_at::timestamptz, registered_at::timestamptz, nationality, country, state, city,
           street_number::integer, street_name, postcode, latitude::numeric, longitude::numeric,
           tz_offset, nullif(id_name, ''), id_value,
           %(visited_at)s, %(visited_at)s, %(batch_id)s, %(batch_id)s
      FROM landed l
     WHERE l.reason IS NULL
       AND coalesce(((SELECT first FROM repeated) ->> lower(l.person_uuid))::bigint, l.place) = l.place
    ON CONFLICT (person_uuid) DO UPDATE SET
        first_seen_at  = least(cur.first_seen_at, excluded.first_seen_at),
        first_batch_id = CASE WHEN excluded.first_seen_at < cur.first_seen_at
                              THEN excluded.first_batch_id ELSE cur.first_batch_id END,
        last_seen_at   = greatest(cur.last_seen_at, excluded.last_seen_at),
        last_batch_id  = CASE WHEN excluded.last_seen_at > cur.last_seen_at
                              THEN excluded.last_batch_id ELSE cur.last_batch_id END
    RETURNING person_uuid, (xmax = 0) AS inserted
), visits AS (
    INSERT INTO warehouse.visits (batch_id, person_uuid, shard, visited_at)
    SELECT %(batch_id)s, person_uuid, %(shard)s, %(visited_at)s FROM people
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM quarantined),
       (SELECT count(*) FILTER (WHERE inserted) FROM people),
       (SELECT count(*) FILTER (WHERE NOT inserted) FROM people),
       (SELECT count(*) FROM visits)
"""  # noqa: S608


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
