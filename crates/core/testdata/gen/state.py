#!/usr/bin/env python3
"""Independent generator of the state-commitment vectors (testdata/state.json).

Written from crates/core/README.md, "State commitment", with eth-abi and
eth-utils only: the trie, row keys, leaf encodings, row proofs, the state root
of a genesis state, a transfer row's proof, an entries Merkle root and a block
hash. Nothing is copied from box-core's output. Shares the sample values and
the ABI/EIP-712 helpers of generate.py (same directory).

Usage:  python state.py [OUTPUT_DIR]     (default: the testdata/ directory above this file)
"""

from __future__ import annotations

import json
import os
import sys

import eth_abi
from eth_utils import keccak

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate import A, EIP712_CASES, MAIN, abi_encode_struct, addr_rep, b32, hx, unhex, write  # noqa: E402

H = keccak
ZERO = b"\x00" * 32

# Row tags (README table).
META, NODE, ASSET, FROZEN, BLOCKED, EQUIVOCATOR, CEREMONY, ADDRESS_BOOK = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
RETIRED = 0x08
FLOW, TRANSFER, SUBJECT = 0x10, 0x11, 0x12

META_LEAF = "(bytes32,uint64,bool,string,bytes,bytes32)"
NODE_LEAF = "(uint64,string)"
ASSET_LEAF = "(string,uint8)"
ADDRESS_BOOK_LEAF = "(string,bytes32)"
RETIRED_LEAF = "(uint64,bytes32)"
TRANSFER_LEAF = "(bytes32,bytes32,address,uint256,uint256,address,uint64,uint32,uint8,bytes32,uint64,string)"
TRANSFER_STATUS = {"submitted": 0, "notarized": 1, "broadcast": 2, "confirmed": 3, "rejected": 4, "refused": 5,
                   "failed": 6}


def abi(t: str, v: tuple) -> bytes:
    """abi.encode of the struct as the single parameter."""
    return eth_abi.encode([t], [v])


def row_key(tag: int, ident: bytes) -> bytes:
    assert len(ident) == 32
    return H(bytes([tag]) + ident)


def address_id(address: str) -> bytes:
    return b"\x00" * 12 + unhex(address)


def bit(key: bytes, d: int) -> int:
    return (key[d // 8] >> (7 - d % 8)) & 1


def leaf(key: bytes, value: bytes) -> bytes:
    return H(b"\x00" + key + H(value))


def branch(left: bytes, right: bytes) -> bytes:
    return H(b"\x01" + left + right)


def root(rows: dict[bytes, bytes], d: int = 0) -> bytes:
    """root(S, d) exactly as defined: rows = {key: value bytes}."""
    if not rows:
        return ZERO
    if len(rows) == 1:
        (k, v), = rows.items()
        return leaf(k, v)
    zero = {k: v for k, v in rows.items() if bit(k, d) == 0}
    one = {k: v for k, v in rows.items() if bit(k, d) == 1}
    return branch(root(zero, d + 1), root(one, d + 1))


def prove(rows: dict[bytes, bytes], key: bytes) -> list[bytes]:
    """Siblings from the root down to key's leaf."""
    assert key in rows
    siblings, d, here = [], 0, rows
    while len(here) > 1:
        same = {k: v for k, v in here.items() if bit(k, d) == bit(key, d)}
        other = {k: v for k, v in here.items() if bit(k, d) != bit(key, d)}
        siblings.append(root(other, d + 1))
        here, d = same, d + 1
    return siblings


def verify(root_hash: bytes, key: bytes, value: bytes, siblings: list[bytes]) -> bool:
    if len(siblings) > 256:
        return False
    acc = leaf(key, value)
    for d in reversed(range(len(siblings))):
        acc = branch(siblings[d], acc) if bit(key, d) else branch(acc, siblings[d])
    return acc == root_hash


def proof_json(name: str, root_hash: bytes, key: bytes, value: bytes, siblings: list[bytes]) -> dict:
    return {"name": name, "root": hx(root_hash), "key": hx(key), "value": hx(value),
            "siblings": [hx(s) for s in siblings], "valid": verify(root_hash, key, value, siblings)}


def tries() -> tuple[list, list]:
    cases, proofs = [], []

    def add(name: str, rows: dict[bytes, bytes]) -> bytes:
        r = root(rows)
        cases.append({"name": name, "rows": [{"key": hx(k), "value": hx(v)} for k, v in sorted(rows.items())],
                      "root": hx(r)})
        return r

    add("empty", {})
    add("one row", {H(b"a"): b"\x01"})
    add("two rows", {H(b"a"): b"\x01", H(b"b"): b"value b"})
    # Keys 0x00…00 and 0x00…01 share 255 bits: a 256-deep split, an empty side at every level.
    deep = {ZERO: b"first", b"\x00" * 31 + b"\x01": b""}
    deep_root = add("two keys sharing 255 bits", deep)
    many = {H(i.to_bytes(8, "big")): H(i.to_bytes(8, "little")) + bytes(i % 5) for i in range(64)}
    many_root = add("64 rows", many)

    key = H((7).to_bytes(8, "big"))
    good = prove(many, key)
    proofs.append(proof_json("a row of 64", many_root, key, many[key], good))
    proofs.append(proof_json("the deepest row", deep_root, b"\x00" * 31 + b"\x01", b"",
                             prove(deep, b"\x00" * 31 + b"\x01")))
    proofs.append(proof_json("another value", many_root, key, many[key] + b"\x00", good))
    other = H((8).to_bytes(8, "big"))
    proofs.append(proof_json("another row's key", many_root, other, many[key], good))
    proofs.append(proof_json("a sibling dropped", many_root, key, many[key], good[:-1]))
    proofs.append(proof_json("a sibling added", many_root, key, many[key], good + [ZERO]))
    flipped = list(good)
    flipped[0] = bytes([flipped[0][0] ^ 1]) + flipped[0][1:]
    proofs.append(proof_json("a sibling flipped", many_root, key, many[key], flipped))
    proofs.append(proof_json("another root", H(b"root"), key, many[key], good))
    assert [p["valid"] for p in proofs] == [True, True, False, False, False, False, False, False]
    return cases, proofs


def genesis_rows(genesis: dict) -> dict[bytes, tuple[int, bytes, bytes]]:
    """The rows of NotaryState::new(genesis): the meta row, one per node, one per asset."""
    rows = {}
    meta = abi(META_LEAF, (H(abi_encode_struct("Genesis", genesis)), 0, False, "", b"", ZERO))
    rows[row_key(META, ZERO)] = (META, ZERO, meta)
    for n in genesis["nodes"]:
        ident = address_id(n["account"])
        rows[row_key(NODE, ident)] = (NODE, ident, abi(NODE_LEAF, (n["nodeId"], n["endpoint"])))
    for a in genesis["assets"]:
        ident = address_id(a["token"])
        rows[row_key(ASSET, ident)] = (ASSET, ident, abi(ASSET_LEAF, (a["symbol"], a["decimals"])))
    return rows


def genesis_state() -> tuple[dict, dict[bytes, bytes]]:
    genesis = dict(EIP712_CASES[-1][4])
    rows = genesis_rows(genesis)
    plain = {k: v for k, (_, _, v) in rows.items()}
    return {
        "genesis": genesis,
        "rows": [{"tag": t, "id": hx(i), "key": hx(k), "value": hx(v)} for k, (t, i, v) in sorted(rows.items())],
        "root": hx(root(plain)),
    }, plain


def transfer_leaf(fields: dict, status: str, nonce: int, reason: str) -> bytes:
    """A transfer row's value: `fields` with the given status, nonce and reason."""
    return abi(TRANSFER_LEAF, (
        unhex(fields["subject"]), unhex(fields["flow"]), unhex(fields["asset"]), int(fields["amount"]),
        int(fields["maxFee"]), unhex(fields["applicant"]), fields["submittedAt"], fields["open"],
        TRANSFER_STATUS[status], unhex(fields["txHash"]), nonce, reason))


def proven_transfer(genesis_plain: dict[bytes, bytes], transfer_id: bytes, fields: dict,
                    other: bytes, other_name: str) -> dict:
    """`fields`' row added to the genesis rows, with its proof against the new root; `other` (another
    value of the same row) does not verify with that proof and is written as `other_name`."""
    value = transfer_leaf(fields, fields["status"], fields["nonce"], fields["reason"])
    key = row_key(TRANSFER, transfer_id)
    rows = dict(genesis_plain)
    rows[key] = value
    r = root(rows)
    siblings = prove(rows, key)
    assert verify(r, key, value, siblings)
    assert not verify(r, key, other, siblings)
    return {"transferId": hx(transfer_id), "fields": fields, "key": hx(key), "value": hx(value),
            "stateRoot": hx(r), "siblings": [hx(s) for s in siblings], other_name: hx(other)}


def transfer(genesis_plain: dict[bytes, bytes]) -> dict:
    """A broadcast transfer's row added to the genesis rows, with its proof; the same proof with the
    row changed to "confirmed" is refused."""
    fields = {
        "subject": b32(0x5B), "flow": b32(0xF1), "asset": addr_rep(0x70), "amount": "2500000",
        "maxFee": str(10**16), "applicant": A("alice"), "submittedAt": 1_800_000_100, "open": 0,
        "status": "broadcast", "txHash": b32(0x7A), "nonce": 42, "reason": "",
    }
    forged = transfer_leaf(fields, "confirmed", 0, "")
    return proven_transfer(genesis_plain, H(b"BOX state vectors transfer"), fields, forged, "forgedConfirmedValue")


def address_book() -> list[dict]:
    """Address-book rows (tag 0x07, id the destination): one listed for one flow, one for every flow."""
    out = []
    for destination, label, flow in [(addr_rep(0xAB), "Supplier GmbH — compte EUR", b32(0xF1)),
                                     (addr_rep(0xAC), "payroll", b32(0x00))]:
        ident = address_id(destination)
        out.append({"destination": destination, "label": label, "flowHash": flow, "id": hx(ident),
                    "key": hx(row_key(ADDRESS_BOOK, ident)), "value": hx(abi(ADDRESS_BOOK_LEAF, (label, unhex(flow))))})
    return out


def confirmed_transfer(genesis_plain: dict[bytes, bytes]) -> dict:
    """A confirmed transfer's row whose `reason` holds the confirmed report's
    detail (a token that kept a fee), added to the genesis rows, with its proof;
    the same row without its detail is another value, refused by the proof."""
    fields = {
        "subject": b32(0x5C), "flow": b32(0xF1), "asset": addr_rep(0x70), "amount": str(250 * 10**18),
        "maxFee": str(10**16), "applicant": A("alice"), "submittedAt": 1_800_000_100, "open": 0,
        "status": "confirmed", "txHash": b32(0x7B), "nonce": 0,
        "reason": "shortfall: delivered 247.5 of 250 FEE; 2.5 FEE did not arrive (the token takes a fee on transfer)",
    }
    bare = transfer_leaf(fields, "confirmed", 0, "")
    transfer_id = H(b"BOX state vectors confirmed transfer")
    return proven_transfer(genesis_plain, transfer_id, fields, bare, "withoutDetailValue")


def retired_fold(ids: list[tuple[int, bytes]]) -> bytes:
    """chain_0 = 32 zero bytes; chain_i = H(chain_{i-1} || tag_i || id_i)."""
    chain = ZERO
    for tag, ident in ids:
        chain = H(chain + bytes([tag]) + ident)
    return chain


def retired(genesis_plain: dict[bytes, bytes]) -> dict:
    """Three retired ids (two transfers, one subject) in retirement order: their RetiredLeaf row
    (tag 0x08, id zero), the state root of the genesis rows plus that row, and wrong lists whose
    fold is not the chain (a state carrying one with that chain is refused)."""
    ids = [(TRANSFER, H(b"BOX state vectors retired transfer 1")),
           (SUBJECT, H(b"BOX state vectors retired subject")),
           (TRANSFER, H(b"BOX state vectors retired transfer 2"))]
    chain = retired_fold(ids)
    value = abi(RETIRED_LEAF, (len(ids), chain))
    key = row_key(RETIRED, ZERO)
    rows = dict(genesis_plain)
    rows[key] = value
    wrong = []
    for name, w in [("an id dropped", ids[1:]), ("two ids swapped", [ids[1], ids[0], ids[2]]),
                    ("a subject id filed as a transfer", [ids[0], (TRANSFER, ids[1][1]), ids[2]])]:
        f = retired_fold(w)
        assert f != chain
        wrong.append({"name": name, "ids": [[t, hx(i)] for t, i in w], "fold": hx(f)})
    return {"ids": [[t, hx(i)] for t, i in ids], "count": len(ids), "chain": hx(chain), "key": hx(key),
            "value": hx(value), "stateRoot": hx(root(rows)), "wrongFolds": wrong}


def merkle_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return ZERO
    level = list(leaves)
    while len(level) > 1:
        level = [branch(level[i], level[i + 1]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
    return level[0]


def block(state_root: str) -> dict:
    """Entries from encoding.json (generated by generate.py), their root, and the header's hash."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "encoding.json")) as f:
        cases = json.load(f)["cases"]
    entries = [c["encoded"] for c in cases if c["entry"] in ("submit", "vote")][:5]
    logged = [{"index": 10 + 3 * i, "time": 1_800_000_200 + i, "entry": e} for i, e in enumerate(entries)]
    leaves = [H(b"\x00" + e["index"].to_bytes(8, "big") + e["time"].to_bytes(8, "big") + unhex(e["entry"]))
              for e in logged]
    header = {"height": 3, "parent": hx(H(b"block 2")), "entriesRoot": hx(merkle_root(leaves)),
              "stateHash": state_root, "time": 1_800_000_205, "firstIndex": 10, "entryCount": len(logged)}
    return {"domain": "main", "entries": logged, "leaves": [hx(x) for x in leaves], "header": header,
            "hash": hx(MAIN.digest("BlockHeader", header))}


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    trie_cases, proofs = tries()
    genesis, genesis_plain = genesis_state()
    t = transfer(genesis_plain)
    write(os.path.join(out, "state.json"), {
        "description": "State commitment (crates/core/README.md, 'State commitment'): tries {key: value} with "
                       "their roots; row proofs with whether they verify; the rows and root of the state a "
                       "genesis makes; a broadcast transfer's row added to it, with its proof against that "
                       "root and a forged 'confirmed' value; address-book rows; a confirmed transfer's row carrying its confirmed "
                       "report's detail in `reason`, with its proof and the same row without the detail; a "
                       "block's entries root and hash under domain main; retired ids with their RetiredLeaf "
                       "row, the genesis state root with that row, and wrong folds.",
        "tries": trie_cases,
        "proofs": proofs,
        "genesisState": genesis,
        "transfer": t,
        "addressBook": address_book(),
        "confirmedTransfer": confirmed_transfer(genesis_plain),
        "block": block(t["stateRoot"]),
        "retired": retired(genesis_plain),
    })


if __name__ == "__main__":
    main()
