-- box-gateway schema, version 1. Portable between SQLite and PostgreSQL:
-- hashes, addresses and canonical bytes are 0x-hex TEXT, instants are BIGINT
-- Unix seconds, amounts are decimal TEXT (base units, never floats).

CREATE TABLE people (
    address       TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    roles         TEXT NOT NULL,          -- comma-separated: employee,approver,auditor
    registered_by TEXT NOT NULL,
    registered_at BIGINT NOT NULL
);

CREATE TABLE escrow (
    address     TEXT PRIMARY KEY,
    keystore    TEXT NOT NULL,            -- client-encrypted keystore v3 JSON
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL
);

CREATE TABLE nonces (
    signer  TEXT NOT NULL,
    nonce   TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (signer, nonce)
);
CREATE INDEX nonces_seen_at ON nonces (seen_at);

CREATE TABLE flows (
    hash         TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    body         TEXT NOT NULL,           -- canonical BoxFlow
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    submitted_at BIGINT
);

CREATE TABLE transfers (
    id                  TEXT PRIMARY KEY, -- transfer id (EIP-712 hash of the request)
    flow_hash           TEXT NOT NULL,
    applicant           TEXT NOT NULL,
    asset               TEXT NOT NULL,
    destination         TEXT NOT NULL,
    amount              TEXT NOT NULL,
    request             TEXT NOT NULL,    -- canonical TransferRequest
    applicant_signature TEXT NOT NULL,
    level               BIGINT NOT NULL,  -- the open level, 1-based; levels + 1 once complete
    state               TEXT NOT NULL,    -- collecting | submitting | rejected
    reason              TEXT,
    rejected_by         TEXT,
    version             BIGINT NOT NULL,  -- optimistic concurrency
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX transfers_applicant ON transfers (applicant, created_at);
CREATE INDEX transfers_state ON transfers (state, created_at);

CREATE TABLE approvals (
    transfer_id TEXT NOT NULL,
    level       BIGINT NOT NULL,
    approver    TEXT NOT NULL,
    signature   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (transfer_id, approver)   -- a person counts once per transfer
);

CREATE TABLE governance (
    hash        TEXT PRIMARY KEY,         -- the action's EIP-712 signing hash
    action      TEXT NOT NULL,            -- canonical action struct
    description TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    queued_at   BIGINT
);

CREATE TABLE governance_signatures (
    hash      TEXT NOT NULL,
    signer    TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (hash, signer)
);

-- Subjects accepted for the chain, written in the same transaction as the
-- request that produced them; the relay submits them until a node accepts.
CREATE TABLE outbox (
    subject_id TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,             -- canonical Subject
    created_at BIGINT NOT NULL,
    attempts   BIGINT NOT NULL,
    last_error TEXT,
    relayed_at BIGINT,
    outcome    TEXT,                      -- submitted | duplicate | refused: <reason>
    seq        BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (relayed_at, seq);

-- Sealed blocks as fetched from the nodes (canonical Block), verified in order.
CREATE TABLE blocks (
    height BIGINT PRIMARY KEY,
    body   TEXT NOT NULL
);
