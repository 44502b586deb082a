-- box-gateway schema, version 2: an admin-issued keystore is claimed once,
-- unsigned, with a download token; afterwards only signed reads serve it.
-- keccak256 of the token (0x hex); NULL once claimed, and for keystores
-- uploaded without one (served only to signed reads).
ALTER TABLE escrow ADD COLUMN download_token_hash TEXT;
