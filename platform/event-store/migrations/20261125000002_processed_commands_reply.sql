-- A command can also succeed without appending (a change to private data such as a password
-- hash, or a command that changes nothing). Its reply must be stored all the same, so that a
-- redelivery gets it back instead of deciding again against a newer state.
ALTER TABLE processed_commands RENAME COLUMN rejection TO reply;

COMMENT ON COLUMN processed_commands.reply IS
    'The stored CommandReply of a command that appended nothing: a rejection, or a success without events.';
