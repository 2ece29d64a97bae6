-- The members service's private data: what a member logs in with. None of it is ever in an
-- event; a row is written in the same transaction as the events of the command that changes
-- it, so the table and the member streams always agree.
CREATE TABLE credentials (
    member_id        uuid PRIMARY KEY,
    -- As the member typed it (trimmed): mail goes to their own spelling.
    email            text NOT NULL,
    -- The reservation: two members may not differ only in letter case.
    email_normalized text NOT NULL CONSTRAINT credentials_email_unique UNIQUE,
    -- argon2id in PHC string format: algorithm, parameters and salt travel with the hash.
    password_hash    text NOT NULL,
    admin            boolean NOT NULL,
    -- Set once, by MemberDeactivated; a deactivated member cannot log in.
    deactivated_at   timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
