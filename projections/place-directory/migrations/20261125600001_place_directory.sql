-- The place directory: places as the places service describes them, and what the ratings and
-- reviews services say about them. Ratings and reviews may arrive before their place (sources
-- interleave freely), so their rows never depend on the place row existing.

CREATE TABLE places (
    place_id    uuid PRIMARY KEY,
    name        text NOT NULL,
    category    text NOT NULL,
    address     text NOT NULL,
    description text NOT NULL,
    added_at    timestamptz NOT NULL,
    closed      boolean NOT NULL DEFAULT false,
    -- The 'simple' configuration: names are proper nouns in any language, which English
    -- stemming and stop words would mangle ("The Bar" must be found by "the").
    search      tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('simple', name), 'A')
                 || setweight(to_tsvector('simple', description), 'B')
                ) STORED
);

CREATE INDEX places_search ON places USING gin (search);
CREATE INDEX places_name_prefix ON places (lower(name) text_pattern_ops);
CREATE INDEX places_newest ON places (added_at DESC, place_id DESC);

-- Kept apart from `places` so that a rating or a review updates a narrow row with three small
-- indexes, never the text, the tsvector or its GIN index. A row appears with the place or
-- with its first rating or review, whichever comes first.
CREATE TABLE place_stats (
    place_id      uuid PRIMARY KEY,
    -- The histogram is the one source of truth; count and average derive from it.
    stars_1       integer NOT NULL DEFAULT 0,
    stars_2       integer NOT NULL DEFAULT 0,
    stars_3       integer NOT NULL DEFAULT 0,
    stars_4       integer NOT NULL DEFAULT 0,
    stars_5       integer NOT NULL DEFAULT 0,
    rating_count  integer GENERATED ALWAYS AS (stars_1 + stars_2 + stars_3 + stars_4 + stars_5) STORED,
    -- NULL while unrated.
    average_stars double precision GENERATED ALWAYS AS (
                      (stars_1 + 2 * stars_2 + 3 * stars_3 + 4 * stars_4 + 5 * stars_5)::double precision
                    / nullif(stars_1 + stars_2 + stars_3 + stars_4 + stars_5, 0)
                  ) STORED,
    review_count  integer NOT NULL DEFAULT 0
);

-- Unrated places sort as 0, below every real average (at least 1).
CREATE INDEX place_stats_by_rating ON place_stats ((coalesce(average_stars, 0)) DESC, place_id DESC);
CREATE INDEX place_stats_by_reviews ON place_stats (review_count DESC, place_id DESC);

-- Each member's current stars for a place: a change or removal must know what it replaces.
CREATE TABLE ratings (
    place_id  uuid NOT NULL,
    member_id uuid NOT NULL,
    stars     smallint NOT NULL,
    PRIMARY KEY (place_id, member_id)
);

-- The live reviews and their places: a deletion counts down only a review that was counted.
CREATE TABLE reviews (
    review_id uuid PRIMARY KEY,
    place_id  uuid NOT NULL
);
