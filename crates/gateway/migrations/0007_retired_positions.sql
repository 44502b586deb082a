-- box-gateway schema, version 7: each retired id's position in retirement
-- order (0 for the first id that ever retired), so that a resume checks with
-- two indexed lookups that the index runs from position 0 to exactly the
-- count its persisted state leaves to it (crate::resume) instead of counting
-- every row. The version-6 rows carry no position: the table is made again
-- empty, and a state persisted with ids in it is then discarded once at the
-- next start (the index no longer holds them), which replays the stored
-- blocks or bootstraps again and writes every id with its position.
DROP TABLE retired_ids;
CREATE TABLE retired_ids (
    id  TEXT PRIMARY KEY,
    tag BIGINT NOT NULL,
    seq BIGINT NOT NULL UNIQUE
);
