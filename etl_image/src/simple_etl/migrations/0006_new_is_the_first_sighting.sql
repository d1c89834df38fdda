-- The one rule of 0005, read from where the load already keeps it: a person's
-- (first_seen_at, first_batch_id) is the least (visited_at, batch_id) of their visits
-- (the upsert's tuple comparison), so a visit is new iff it is of the person's first
-- batch (one visit per person per batch: the shard never breaks a tie). One lookup by
-- primary key instead of a probe for an earlier visit, and no second index on visits to
-- maintain on every load. It also survives retention: a person whose first visit was
-- dropped is still returning, not new again.
--
-- Loads before 0005 kept the first loaded batch on a tie of visited_at; set every
-- person's first sighting from their visits, once, so the two rules agree on old rows.
UPDATE warehouse.people p
   SET first_seen_at = f.visited_at, first_batch_id = f.batch_id
  FROM (SELECT DISTINCT ON (person_uuid) person_uuid, visited_at, batch_id
          FROM warehouse.visits
         ORDER BY person_uuid, visited_at, batch_id) f
 WHERE f.person_uuid = p.person_uuid
   AND (p.first_seen_at, p.first_batch_id) IS DISTINCT FROM (f.visited_at, f.batch_id);

CREATE OR REPLACE VIEW warehouse.classified_visits AS
SELECT
    v.batch_id,
    v.person_uuid,
    v.shard,
    v.visited_at,
    v.batch_id = p.first_batch_id AS is_new
FROM warehouse.visits v
JOIN warehouse.people p USING (person_uuid);

DROP INDEX warehouse.visits_person_order;
