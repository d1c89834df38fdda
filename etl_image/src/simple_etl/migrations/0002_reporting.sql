-- Dashboard views: no names, emails, phones, usernames, ids or street addresses;
-- coordinates are rounded to about 10 km.

CREATE VIEW reporting.visits AS
SELECT
    v.batch_id,
    v.visited_at,
    v.visited_at = p.first_seen_at                                 AS is_new,
    p.gender,
    p.nationality,
    p.country,
    p.state,
    p.city,
    round(p.latitude, 1)                                           AS latitude,
    round(p.longitude, 1)                                          AS longitude,
    extract(year FROM age(v.visited_at, p.born_at))::integer       AS age,
    extract(year FROM p.registered_at)::integer                    AS registered_year
FROM warehouse.visits v
JOIN warehouse.people p USING (person_uuid);

CREATE VIEW reporting.people AS
SELECT
    p.gender,
    p.nationality,
    p.country,
    extract(year FROM age(p.last_seen_at, p.born_at))::integer     AS age,
    p.registered_at,
    p.first_seen_at,
    p.last_seen_at,
    coalesce(v.visits, 0)                                          AS visits
FROM warehouse.people p
-- One aggregate over visits, not a count per person: the view stays one scan of each table.
LEFT JOIN (SELECT person_uuid, count(*) AS visits FROM warehouse.visits GROUP BY person_uuid) v
    USING (person_uuid);

CREATE VIEW reporting.batches AS
SELECT
    batch_id,
    shard,
    shards,
    status,
    attempts,
    visited_at,
    started_at,
    finished_at,
    extract(epoch FROM finished_at - started_at)::double precision AS duration_seconds,
    pages,
    extracted,
    loaded,
    quarantined,
    new_people,
    returning_people,
    CASE WHEN extracted > 0 THEN quarantined::double precision / extracted END AS reject_ratio,
    error
FROM warehouse.batches;

CREATE VIEW reporting.quarantine AS
SELECT batch_id, shard, quarantined_at, reason
FROM warehouse.quarantine;

CREATE VIEW reporting.freshness AS
SELECT
    max(finished_at)                                              AS last_success_at,
    extract(epoch FROM now() - max(finished_at))::double precision AS seconds_since_success
FROM warehouse.batches
WHERE status = 'succeeded';
