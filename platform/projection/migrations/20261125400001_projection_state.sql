-- A read model's own bookkeeping, in its database beside its tables.

-- How far the model has applied each source's events, in the source's commit order. Written in
-- the same transaction as the rows those events produced.
CREATE TABLE projection_checkpoints (
    source         text PRIMARY KEY,
    transaction_id bigint NOT NULL,
    position       bigint NOT NULL,
    -- When the last applied event was recorded at its source: lag in seconds.
    recorded_at    timestamptz NOT NULL,
    applied_at     timestamptz NOT NULL DEFAULT now()
);

-- Events this build could not apply. Each was dead-lettered; while one is unresolved the
-- model reports itself degraded.
CREATE TABLE projection_poisoned (
    event_id       uuid PRIMARY KEY,
    source         text NOT NULL,
    event_type     text NOT NULL,
    transaction_id bigint NOT NULL,
    position       bigint NOT NULL,
    reason         text NOT NULL,
    poisoned_at    timestamptz NOT NULL DEFAULT now()
);
