-- The plan of a batch, fixed atomically by its first attempt: how many shards it is
-- split into and the instant its visits are stamped with. Every later attempt (a retry,
-- another shard, a racing run) reads it back and must agree, so two runs with different
-- --shards can never both load, and a retry cannot restamp the visits.
CREATE TABLE warehouse.batch_plans (
    batch_id   text        PRIMARY KEY CHECK (batch_id <> ''),
    shards     integer     NOT NULL CHECK (shards > 0),
    visited_at timestamptz NOT NULL,
    planned_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Batches that ran before plans existed: their shard count and first visit time.
INSERT INTO warehouse.batch_plans (batch_id, shards, visited_at, planned_at)
SELECT batch_id, max(shards), min(visited_at), min(started_at)
  FROM warehouse.batches
 GROUP BY batch_id;

ALTER TABLE warehouse.batches
    ADD FOREIGN KEY (batch_id) REFERENCES warehouse.batch_plans;

-- One row per attempt of a batch shard, with the attempt's lease. A running attempt
-- renews lease_until from a connection of its own; the load transaction locks the
-- ledger row (warehouse.batches), never this one until it settles it, so the renewal
-- never waits on the load. An attempt still `running` past lease_until was abandoned
-- (killed, disconnected): the next attempt records it failed, and the quality gate
-- fails while it stays so. `skipped`: a concurrent attempt loaded the shard first.
CREATE TABLE warehouse.batch_attempts (
    batch_id     text        NOT NULL,
    shard        integer     NOT NULL,
    attempt      integer     NOT NULL CHECK (attempt > 0),
    status       text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    lease_until  timestamptz NOT NULL,
    finished_at  timestamptz,
    error        text,
    PRIMARY KEY (batch_id, shard, attempt),
    FOREIGN KEY (batch_id, shard) REFERENCES warehouse.batches,
    CHECK ((status = 'running') = (finished_at IS NULL))
);
-- The gate's and the next attempt's question: which attempts are running, and until when.
CREATE INDEX batch_attempts_running ON warehouse.batch_attempts (lease_until) WHERE status = 'running';

-- Each existing ledger row becomes its last attempt. One still running had no lease:
-- it gets the default lease (120 s) from its start, so a long-dead one is abandoned
-- at once and the next run of its shard may proceed.
INSERT INTO warehouse.batch_attempts
    (batch_id, shard, attempt, status, started_at, heartbeat_at, lease_until, finished_at, error)
SELECT batch_id, shard, attempts, status, started_at, started_at, started_at + interval '120 seconds',
       CASE WHEN status = 'running' THEN NULL ELSE coalesce(finished_at, started_at) END, error
  FROM warehouse.batches;
