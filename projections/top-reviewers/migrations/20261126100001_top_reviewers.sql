-- Top reviewers: members ranked by their live reviews, then by the average stars on them.
--
-- A review's stars are its author's own rating of the reviewed place, which the ratings
-- service owns. Reviews and ratings arrive in any interleaving, so a member's review of a
-- place and their rating of it share one row of `contributions`, whichever came first. Every
-- statement that changes what a contribution counts changes its member's counters by the same
-- amount, so the counters always equal the aggregate of the member's contributions, and the
-- ranking is one ordered scan of an index over them.

-- What a member has said about a place: their live review, their stars, or both. The row is
-- removed when neither is left, so the table holds only live reviews and current ratings.
CREATE TABLE contributions (
    member_id uuid NOT NULL,
    place_id  uuid NOT NULL,
    -- The member's live review of the place (a member reviews a place at most once at a
    -- time); null when there is none.
    review_id uuid,
    -- The member's current rating of the place; null when there is none.
    stars     smallint,
    PRIMARY KEY (member_id, place_id),
    CHECK (review_id IS NOT NULL OR stars IS NOT NULL)
);

-- Each member as the members service describes them, with their counters. The row appears
-- with the member's first members event or first review, whichever comes first.
CREATE TABLE members (
    member_id          uuid PRIMARY KEY,
    -- Null until the members service's registration arrives.
    nickname           text,
    deactivated        boolean NOT NULL DEFAULT false,
    -- Contributions with a review: the member's live reviews.
    review_count       integer NOT NULL DEFAULT 0,
    -- Of those, the ones with stars, and the sum of those stars.
    rated_review_count integer NOT NULL DEFAULT 0,
    stars_sum          integer NOT NULL DEFAULT 0,
    -- The average stars received; null while no review has stars. The sum of small integers
    -- is exact, so the mean is the correctly rounded quotient.
    average_stars      float8 GENERATED ALWAYS AS
                           (stars_sum::float8 / nullif(rated_review_count, 0)) STORED
);

-- The ranking, in its order: most reviews, then highest average (none last), then member id.
-- Only members with a live review are ranked, so the index holds reviewers only.
CREATE INDEX members_ranking
    ON members (review_count DESC, average_stars DESC NULLS LAST, member_id)
    WHERE review_count > 0;
