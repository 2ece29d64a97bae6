-- What a command service knows of places and members it does not own, copied from their
-- events. Each row carries the checkpoint of the event that last set it, so events applied
-- out of order (a retried message behind a newer one) never overwrite newer state.
CREATE TABLE known_places (
    place_id       uuid PRIMARY KEY,
    open           boolean NOT NULL,
    transaction_id bigint NOT NULL,
    position       bigint NOT NULL
);

CREATE TABLE known_members (
    member_id      uuid PRIMARY KEY,
    active         boolean NOT NULL,
    transaction_id bigint NOT NULL,
    position       bigint NOT NULL
);

-- The newest event applied per source: how far behind the copy is, for health and status.
CREATE TABLE local_copy_checkpoints (
    source         text PRIMARY KEY,
    transaction_id bigint NOT NULL,
    position       bigint NOT NULL,
    recorded_at    timestamptz NOT NULL,
    applied_at     timestamptz NOT NULL DEFAULT now()
);
