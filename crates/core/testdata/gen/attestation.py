#!/usr/bin/env python3
"""Independent generator of the state-attestation vectors (testdata/attestation.json).

Written from crates/core/README.md, "State attestations", with eth-account
(EIP-712) and eth-keys (recovery) only: the type string, type hash, struct
hash and signing digest of a StateAttestation under domain `main` for the
block of state.json; signatures by the three node keys; invalid ones (an
unregistered signer, a field edited after signing) with the address they
recover to; and lists of attestations with whether they certify the
statement for the registry {node-1, node-2, node-3}. Nothing is copied from
box-core's output.

Usage:  python attestation.py [OUTPUT_DIR]   (after state.py: it reads state.json)
"""

from __future__ import annotations

import json
import os
import sys

from eth_utils import keccak

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate import KEYS, MAIN, TYPES, encode_type, hx, recover, unhex, write  # noqa: E402

# README "State attestations": the struct, as it is hashed.
TYPES["StateAttestation"] = [("height", "uint64"), ("blockHash", "bytes32"), ("stateRoot", "bytes32")]
ENCODE_TYPE = "StateAttestation(uint64 height,bytes32 blockHash,bytes32 stateRoot)"

REGISTRY = ["node-1", "node-2", "node-3"]


def attest(key: str, statement: dict) -> dict:
    digest = MAIN.digest("StateAttestation", statement)
    sig = KEYS[key].sign(digest)
    return {"attestation": statement, "signature": hx(sig), "signer": KEYS[key].address}


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..")
    with open(os.path.join(out, "state.json")) as f:
        block = json.load(f)["block"]
    header = block["header"]
    block_hash = MAIN.digest("BlockHeader", header)
    assert hx(block_hash) == block["hash"]
    statement = {"height": header["height"], "blockHash": hx(block_hash), "stateRoot": header["stateHash"]}

    assert encode_type("StateAttestation") == ENCODE_TYPE
    struct_hash, digest = MAIN.hashes("StateAttestation", statement)
    # By hand: hashStruct = keccak(typeHash ‖ be256(height) ‖ blockHash ‖ stateRoot).
    type_hash = keccak(ENCODE_TYPE.encode())
    manual = keccak(type_hash + header["height"].to_bytes(32, "big") + block_hash + unhex(header["stateHash"]))
    assert manual == struct_hash

    valid = {k: attest(k, statement) for k in REGISTRY}

    # Invalid: signed by an account that is not registered.
    wrong_signer = attest("mallory", statement)
    # Invalid: node-2's signature with a field edited afterwards (recovers to some other account).
    edited = []
    for field, value in [("stateRoot", hx(keccak(b"another state"))), ("height", header["height"] + 1),
                         ("blockHash", hx(keccak(b"another block")))]:
        changed = dict(statement, **{field: value})
        sig = unhex(valid["node-2"]["signature"])
        who = recover(MAIN.digest("StateAttestation", changed), sig)
        assert who not in [KEYS[k].address for k in REGISTRY]
        edited.append({"field": field, "attestation": changed, "signature": valid["node-2"]["signature"],
                       "recovers": who})
    # A valid signature by node-2 over another block's statement.
    other = dict(statement, height=header["height"] + 1, blockHash=hx(keccak(b"block 4")))
    other_block = attest("node-2", other)

    items = {"node-1": valid["node-1"], "node-2": valid["node-2"], "node-3": valid["node-3"],
             "mallory": wrong_signer, "edited-root": dict(edited[0], signer=None),
             "other-block": other_block}
    certify = [
        {"name": "two of three", "items": ["node-1", "node-2"], "certified": True},
        {"name": "all three", "items": ["node-3", "node-1", "node-2"], "certified": True},
        {"name": "one of three", "items": ["node-1"], "certified": False},
        {"name": "none", "items": [], "certified": False},
        {"name": "one account twice", "items": ["node-1", "node-1"], "certified": False},
        {"name": "an unregistered signer", "items": ["node-1", "mallory"], "certified": False},
        {"name": "an edited root", "items": ["node-1", "edited-root"], "certified": False},
        {"name": "another block", "items": ["node-1", "other-block"], "certified": False},
        {"name": "two of three and noise", "items": ["mallory", "node-1", "edited-root", "node-3"],
         "certified": True},
    ]
    write(os.path.join(out, "attestation.json"), {
        "description": "State attestations (crates/core/README.md, 'State attestations'): the EIP-712 type "
                       "of StateAttestation under domain main, the statement of state.json's block, "
                       "signatures by node-1..3, invalid ones (an unregistered signer, a field edited after "
                       "signing, with the account it recovers to), and lists with whether they certify the "
                       "statement for the registry of node-1..3 (strict majority of distinct registered "
                       "signers of exactly that statement).",
        "domain": "main",
        "encodeType": ENCODE_TYPE,
        "typeHash": hx(type_hash),
        "statement": statement,
        "hashStruct": hx(struct_hash),
        "digest": hx(digest),
        "registry": [KEYS[k].address for k in REGISTRY],
        "valid": [valid[k] for k in REGISTRY],
        "wrongSigner": wrong_signer,
        "edited": edited,
        "items": items,
        "certify": certify,
    })


if __name__ == "__main__":
    main()
