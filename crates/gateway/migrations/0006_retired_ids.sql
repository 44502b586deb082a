-- box-gateway schema, version 6: the retired ids the persisted verified state
-- leaves to the store (box-core checkpoint version 2): replay protection for
-- every transfer and subject that ever finished, looked up by id when a block
-- needs it instead of read whole at every start. Written in the same
-- transaction as the verified state that counts them.
CREATE TABLE retired_ids (
    id  TEXT PRIMARY KEY,
    tag BIGINT NOT NULL
);
