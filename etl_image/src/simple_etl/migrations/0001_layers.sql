-- The three layers. raw lands API payloads (credentials already stripped), warehouse
-- holds the modelled data, reporting exposes PII-free views to dashboards.
CREATE SCHEMA raw;
CREATE SCHEMA warehouse;
CREATE SCHEMA reporting;

-- Nothing in raw or warehouse is for anyone but the owner (the ETL writer).
REVOKE ALL ON SCHEMA raw, warehouse, reporting FROM PUBLIC;

-- The ledger: one row per batch shard, written before the load starts and settled by
-- the load's own transaction, so a crashed attempt stays visible as "running".
CREATE TABLE warehouse.batches (
    batch_id         text        NOT NULL CHECK (batch_id <> ''),
    shard            integer     NOT NULL CHECK (shard >= 0),
    shards           integer     NOT NULL CHECK (shards > shard),
    status           text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    attempts         integer     NOT NULL DEFAULT 1,
    visited_at       timestamptz NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    pages            integer,
    extracted        integer,
    loaded           integer,
    quarantined      integer,
    new_people       integer,
    returning_people integer,
    error            text,
    PRIMARY KEY (batch_id, shard)
);

CREATE TABLE raw.user_payloads (
    batch_id  text        NOT NULL,
    shard     integer     NOT NULL,
    page      integer     NOT NULL,
    seq       integer     NOT NULL,
    payload   jsonb       NOT NULL,
    landed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch_id, shard, page, seq),
    FOREIGN KEY (batch_id, shard) REFERENCES warehouse.batches
);

-- One row per person: login.uuid is the only key the API guarantees unique
-- (emails and usernames repeat across people).
CREATE TABLE warehouse.people (
    person_uuid     uuid        PRIMARY KEY,
    gender          text        NOT NULL CHECK (gender IN ('female', 'male')),
    title           text,
    first_name      text        NOT NULL,
    last_name       text        NOT NULL,
    email           text,
    username        text,
    phone           text,
    cell            text,
    born_at         timestamptz NOT NULL,
    registered_at   timestamptz NOT NULL,
    nationality     text        NOT NULL CHECK (nationality ~ '^[A-Z]{2}$'),
    country         text        NOT NULL,
    state           text,
    city            text,
    street_number   integer,
    street_name     text,
    postcode        text,
    latitude        numeric(9, 6) CHECK (latitude BETWEEN -90 AND 90),
    longitude       numeric(9, 6) CHECK (longitude BETWEEN -180 AND 180),
    tz_offset       text,
    id_name         text,
    id_value        text,
    first_seen_at   timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    first_batch_id  text        NOT NULL,
    last_batch_id   text        NOT NULL,
    CHECK (first_seen_at <= last_seen_at)
);

-- One row per person per batch: a batch is one wave of visits.
CREATE TABLE warehouse.visits (
    batch_id    text        NOT NULL,
    person_uuid uuid        NOT NULL REFERENCES warehouse.people,
    shard       integer     NOT NULL,
    visited_at  timestamptz NOT NULL,
    PRIMARY KEY (batch_id, person_uuid),
    FOREIGN KEY (batch_id, shard) REFERENCES warehouse.batches
);
CREATE INDEX visits_visited_at ON warehouse.visits (visited_at);

-- A record that fails validation is kept here with its reason; it never vanishes.
CREATE TABLE warehouse.quarantine (
    batch_id       text        NOT NULL,
    shard          integer     NOT NULL,
    page           integer     NOT NULL,
    seq            integer     NOT NULL,
    reason         text        NOT NULL,
    payload        jsonb       NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch_id, shard, page, seq),
    FOREIGN KEY (batch_id, shard) REFERENCES warehouse.batches
);

-- True when `value` is an ISO-8601 timestamp with an explicit zone that casts to
-- timestamptz without error. Written with CASE (evaluated in order, no exception
-- block) so the set-based transform can test every row cheaply before casting.
CREATE FUNCTION warehouse.is_timestamp(value text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN value IS NULL THEN false
        WHEN value !~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])$'
            THEN false
        WHEN substr(value, 1, 4) = '0000' THEN false
        ELSE substr(value, 9, 2)::integer <= extract(day FROM
            make_date(substr(value, 1, 4)::integer, substr(value, 6, 2)::integer, 1)
            + interval '1 month - 1 day')
    END
$$;

-- True when latitude/longitude are decimal strings within range (the API sends strings).
CREATE FUNCTION warehouse.is_coordinate(value text, bound numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN value IS NULL OR value !~ '^-?[0-9]{1,3}(\.[0-9]{1,12})?$' THEN false
        ELSE abs(value::numeric) <= bound
    END
$$;
