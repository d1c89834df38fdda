-- New or returning, by one rule that no load order can change: a visit is new iff it is
-- the person's first visit in (visited_at, batch_id, shard) order. The ledger used to
-- store the counts its own load saw (a later wave loaded first made an earlier batch's
-- visitors "returning"), and reporting.visits compared timestamps (two batches at one
-- instant were both "new"). Both now read this view; the stored counts go.
CREATE INDEX visits_person_order ON warehouse.visits (person_uuid, visited_at, batch_id, shard);

CREATE VIEW warehouse.classified_visits AS
SELECT
    v.batch_id,
    v.person_uuid,
    v.shard,
    v.visited_at,
    NOT EXISTS (
        SELECT 1 FROM warehouse.visits earlier
         WHERE earlier.person_uuid = v.person_uuid
           AND (earlier.visited_at, earlier.batch_id, earlier.shard) < (v.visited_at, v.batch_id, v.shard)
    ) AS is_new
FROM warehouse.visits v;

-- Same columns, same order: the dashboards read them.
CREATE OR REPLACE VIEW reporting.visits AS
SELECT
    c.batch_id,
    c.visited_at,
    c.is_new,
    p.gender,
    p.nationality,
    p.country,
    p.state,
    p.city,
    round(p.latitude, 1)                                           AS latitude,
    round(p.longitude, 1)                                          AS longitude,
    extract(year FROM age(c.visited_at, p.born_at))::integer       AS age,
    extract(year FROM p.registered_at)::integer                    AS registered_year
FROM warehouse.classified_visits c
JOIN warehouse.people p USING (person_uuid);

DROP VIEW reporting.batches;
ALTER TABLE warehouse.batches DROP COLUMN new_people, DROP COLUMN returning_people;

-- The columns of 0002 in their order, then the latest attempt's lease. An attempt still
-- `running` past its lease was abandoned (killed, disconnected): it shows as `failed`
-- with the reason, never as running forever.
CREATE VIEW reporting.batches AS
SELECT
    b.batch_id,
    b.shard,
    b.shards,
    CASE WHEN abandoned THEN 'failed' ELSE b.status END                  AS status,
    b.attempts,
    b.visited_at,
    b.started_at,
    b.finished_at,
    extract(epoch FROM b.finished_at - b.started_at)::double precision   AS duration_seconds,
    b.pages,
    b.extracted,
    b.loaded,
    b.quarantined,
    k.new_people,
    k.returning_people,
    CASE WHEN b.extracted > 0 THEN b.quarantined::double precision / b.extracted END AS reject_ratio,
    CASE WHEN abandoned THEN 'abandoned: lease expired at ' || a.lease_until ELSE b.error END AS error,
    a.lease_until
FROM warehouse.batches b
LEFT JOIN LATERAL (
    SELECT l.lease_until, b.status = 'running' AND l.lease_until < now() AS abandoned
      FROM warehouse.batch_attempts l
     WHERE l.batch_id = b.batch_id AND l.shard = b.shard
     ORDER BY l.attempt DESC
     LIMIT 1
) a ON true
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE c.is_new)     AS new_people,
           count(*) FILTER (WHERE NOT c.is_new) AS returning_people
      FROM warehouse.classified_visits c
     WHERE c.batch_id = b.batch_id AND c.shard = b.shard AND b.status = 'succeeded'
    HAVING b.status = 'succeeded'
) k ON true;
