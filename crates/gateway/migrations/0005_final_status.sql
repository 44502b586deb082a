-- box-gateway schema, version 5: the final status of each transfer and the
-- decision on each governed subject, recorded when the verified block that
-- made it final is applied, so that the views still show it after it
-- retires from the live notary state (box-core README "Retirement").
-- kind: 'transfer' (id = transfer id) or 'subject' (id = subject id);
-- body: the JSON of box-core's TransferStatus with its detail, or of its
-- SubjectStatus.
CREATE TABLE final_status (
    kind   TEXT NOT NULL,
    id     TEXT NOT NULL,
    height BIGINT NOT NULL,
    body   TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
