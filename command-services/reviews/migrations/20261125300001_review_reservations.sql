-- One review per member per place. A review is a stream of its own, so no aggregate sees a
-- member's other reviews: this row, written in the transaction that appends ReviewWritten and
-- removed in the one that appends ReviewDeleted, is what makes a second review collide.
CREATE TABLE review_reservations (
    author_id uuid NOT NULL,
    place_id  uuid NOT NULL,
    review_id uuid NOT NULL,
    PRIMARY KEY (author_id, place_id)
);
