-- The review-feed read model.
--
-- Display data from other sources (nicknames, avatars, place names) lives once, in copy tables
-- joined at query time: a nickname change or a place rename is one row write however many
-- reviews it touches, and a page joins at most 101 rows by primary key. The author's stars are
-- the exception: they are a sort key, so each review carries a copy that an index can order
-- by, kept in step with `stars` by the same statement that changes either.

-- What the members service said about each member, whichever of its events came first.
CREATE TABLE authors (
    member_id       uuid PRIMARY KEY,
    -- Null until the registration arrives.
    nickname        text,
    avatar_photo_id uuid,
    deactivated     boolean NOT NULL DEFAULT false
);

CREATE TABLE places (
    place_id uuid PRIMARY KEY,
    name     text NOT NULL
);

-- Each member's current stars for a place; a removed rating has no row.
CREATE TABLE stars (
    member_id uuid NOT NULL,
    place_id  uuid NOT NULL,
    stars     smallint NOT NULL,
    PRIMARY KEY (member_id, place_id)
);

-- Live reviews only: a deleted review's row is removed.
CREATE TABLE reviews (
    review_id  uuid PRIMARY KEY,
    place_id   uuid NOT NULL,
    author_id  uuid NOT NULL,
    title      text NOT NULL,
    body       text NOT NULL,
    -- In the author's order.
    photo_ids  uuid[] NOT NULL,
    written_at timestamptz NOT NULL,
    edited_at  timestamptz,
    -- Copy of stars(author_id, place_id).stars; null when unknown or removed.
    stars      smallint
);

-- A place's reviews, newest first.
CREATE INDEX reviews_by_place_newest ON reviews (place_id, written_at DESC, review_id DESC);
-- A place's reviews, most stars first, unknown stars last (as 0), then newest.
CREATE INDEX reviews_by_place_stars
    ON reviews (place_id, (coalesce(stars, 0)) DESC, written_at DESC, review_id DESC);
-- A member's reviews, newest first; also finds the review a rating of the member changes.
CREATE INDEX reviews_by_author ON reviews (author_id, written_at DESC, review_id DESC);
