-- Switchboard store schema (PostgreSQL). Several engine processes share these tables; workers
-- claim deliveries with FOR UPDATE SKIP LOCKED.

CREATE TABLE events (
    namespace   TEXT        NOT NULL,
    id          TEXT        NOT NULL,
    event_type  TEXT        NOT NULL,
    source      TEXT        NOT NULL,
    payload     TEXT        NOT NULL, -- JSON text, kept as written (key order included)
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (namespace, id)
);

CREATE TABLE deliveries (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY, -- UUIDv7: sorts by creation time
    event_namespace  TEXT        NOT NULL,
    event_id         TEXT        NOT NULL,
    target_namespace TEXT        NOT NULL,
    target_kind      TEXT        NOT NULL,
    target_name      TEXT        NOT NULL,
    status           TEXT        NOT NULL, -- Pending | Delivering | Delivered | Failed | Dead
    attempts         INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ,
    lease_until      TIMESTAMPTZ,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ,
    FOREIGN KEY (event_namespace, event_id) REFERENCES events (namespace, id)
);

-- Claiming: Pending by due time, Delivering by lease expiry.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'Pending';
CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE status = 'Delivering';
-- Listing and counting per target, newest first.
CREATE INDEX deliveries_target ON deliveries (target_namespace, target_kind, target_name, id);
-- Purging finished deliveries and finding events left without any.
CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX deliveries_event ON deliveries (event_namespace, event_id);

CREATE TABLE attempts (
    delivery_id      TEXT COLLATE "C" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    n                INTEGER     NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    duration_ms      BIGINT      NOT NULL,
    request          TEXT        NOT NULL,
    response_status  INTEGER,
    response_headers JSONB       NOT NULL, -- array of [name, value]
    response_body    TEXT        NOT NULL, -- at most 16 KiB
    error            TEXT,
    PRIMARY KEY (delivery_id, n)
);

CREATE TABLE dedup_keys (
    namespace  TEXT        NOT NULL,
    scope      TEXT        NOT NULL,
    key        TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (namespace, scope, key)
);
CREATE INDEX dedup_keys_expiry ON dedup_keys (expires_at);

CREATE TABLE sync_state (
    namespace            TEXT NOT NULL,
    schedule             TEXT NOT NULL,
    watermark            TEXT,
    last_schedule_time   TIMESTAMPTZ,
    last_successful_time TIMESTAMPTZ,
    PRIMARY KEY (namespace, schedule)
);

CREATE TABLE objects (
    kind      TEXT  NOT NULL,
    namespace TEXT  NOT NULL,
    name      TEXT  NOT NULL,
    value     JSONB NOT NULL,
    PRIMARY KEY (kind, namespace, name)
);
