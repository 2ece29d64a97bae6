-- The event store of one service. Applied migrations are never edited: add a new file instead.

CREATE TABLE events (
    -- Assigned at insert time from a sequence. Sequences do NOT commit in order, so position
    -- alone is not a safe cursor: readers order by (transaction_id, position) instead.
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The writing transaction. Every transaction that can still commit has an id at or above
    -- pg_snapshot_xmin(pg_current_snapshot()), which is what makes the commit-order read gap-free.
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL CHECK (schema_version > 0),
    payload         jsonb       NOT NULL,
    correlation_id  uuid        NOT NULL,
    -- The command that caused the event.
    causation_id    uuid,
    -- Actor and trace context at creation, so the trace continues through the relay.
    metadata        jsonb       NOT NULL DEFAULT '{}',
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- Optimistic concurrency: two writers at the same expected version clash here.
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

CREATE INDEX events_commit_order ON events (transaction_id, position);

-- Command id -> outcome, written in the same transaction as the events it produced, so a
-- redelivered command returns its first reply and appends nothing.
CREATE TABLE processed_commands (
    command_id      uuid        PRIMARY KEY,
    -- Set when the command appended events.
    stream_id       text,
    version         bigint,
    transaction_id  xid8,
    position        bigint,
    -- Set when the command was refused (the stored CommandReply as JSON).
    rejection       jsonb,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT processed_commands_outcome CHECK (
        (rejection IS NULL AND stream_id IS NOT NULL AND version IS NOT NULL
            AND transaction_id IS NOT NULL AND position IS NOT NULL)
        OR (rejection IS NOT NULL AND stream_id IS NULL)
    )
);

-- How far each relay has published, as the (transaction id, position) pair of the last
-- confirmed event.
CREATE TABLE relay_checkpoints (
    relay           text        PRIMARY KEY,
    transaction_id  xid8        NOT NULL,
    position        bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
