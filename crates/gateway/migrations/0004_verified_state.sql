-- box-gateway schema, version 4: the verified notary state, persisted now and
-- then so that a restart resumes from it and verifies only the blocks after
-- it (box-core's checkpoint JSON; one row, replaced in one statement).
CREATE TABLE verified_state (
    id       BIGINT PRIMARY KEY,
    height   BIGINT NOT NULL,
    root     TEXT NOT NULL,
    body     TEXT NOT NULL,
    saved_at BIGINT NOT NULL
);
