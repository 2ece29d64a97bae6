-- Member profiles: members as the members service describes them, and what the reviews and
-- ratings services say each member wrote and gave. Reviews and ratings may arrive before
-- their author's registration (sources interleave freely), so their rows never depend on the
-- member row existing; the counts are read from them when a profile is asked for.

CREATE TABLE members (
    member_id   uuid PRIMARY KEY,
    nickname    text NOT NULL,
    -- The avatar's photo id; NULL until the member sets one.
    avatar      uuid,
    joined_at   timestamptz NOT NULL,
    deactivated boolean NOT NULL DEFAULT false
);

-- The live reviews and their authors: a deletion removes exactly the row its writing added.
CREATE TABLE reviews (
    review_id uuid PRIMARY KEY,
    author_id uuid NOT NULL
);

-- A profile counts its author's reviews through this index alone.
CREATE INDEX reviews_by_author ON reviews (author_id);

-- Each member's current stars per place: a new rating replaces the old, a removal deletes it.
-- The primary key leads with the member, so a profile's count and average read one range.
CREATE TABLE ratings (
    member_id uuid NOT NULL,
    place_id  uuid NOT NULL,
    stars     smallint NOT NULL,
    PRIMARY KEY (member_id, place_id)
);
