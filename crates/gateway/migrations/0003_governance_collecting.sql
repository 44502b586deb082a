-- The governance actions still collecting key-holder signatures, newest
-- first: what `GET /governance?pending=true` (and `boxctl governance list`,
-- the console's key-holder page) reads, so its cost follows what is open,
-- not the length of the governance history.
CREATE INDEX governance_collecting ON governance (created_at, hash) WHERE queued_at IS NULL;
