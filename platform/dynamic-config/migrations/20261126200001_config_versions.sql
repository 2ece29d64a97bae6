-- Every version of the dynamic configuration, whole: version 1 is the defaults, each change
-- adds the next. Rows are never updated, so history and diffs are exact.
CREATE TABLE IF NOT EXISTS config_versions (
    version    bigint      PRIMARY KEY CHECK (version > 0),
    document   jsonb       NOT NULL,
    author     text        NOT NULL,
    comment    text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
