#!/usr/bin/env python3
"""Independent generator of box-core's committed test vectors.

Nothing here is copied from Rust output: every expected value is computed by
Python libraries (argon2-cffi, eth-account, eth-abi, eth-keys, eth-utils)
from the formats as documented in crates/core/src (keys.rs, typed.rs,
encoding.rs, transbox.rs, quorum.rs, notary/subject.rs). See README.md.

Usage:  python generate.py [OUTPUT_DIR]     (default: the testdata/ directory above this file)

Output is deterministic: running it twice gives identical files.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any

import eth_abi
import unicodedata

from argon2.low_level import Type, hash_secret_raw
from eth_account import Account
from eth_account.hdaccount.deterministic import HDPath
from eth_account.messages import encode_typed_data
from eth_keys import keys as eth_keys_keys
from eth_utils import keccak, to_checksum_address

# ---------------------------------------------------------------------------
# Constants from the documented formats
# ---------------------------------------------------------------------------

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = SECP256K1_N // 2

ARGON2_M_KIB = 65536
ARGON2_T = 3
ARGON2_P = 1
ARGON2_LEN = 32
ARGON2_VERSION = 0x13
WALLET_PATH = "m/44'/60'/0'/0/0"
MIN_PHRASE_CHARS = 16
MIN_DISTINCT_CHARS = 8

ENCODING_VERSION = 1
KIND = {
    "Flow": 1,
    "FlowAuthorization": 2,
    "TransferRequest": 3,
    "Approval": 4,
    "TransBox": 5,
    "NodeVote": 6,
    "QuorumCertificate": 7,
    "SignerReport": 8,
    "Governance": 9,
    "Genesis": 10,
    "FreezeEmployee": 11,
    "BlockDestination": 12,
    "RegisterAsset": 13,
    "NodeChange": 14,
    "PauseTransfers": 15,
    "UnsignedNodeVote": 16,
    "Block": 17,
    "Equivocation": 20,
    "AddressBookEntry": 21,
    "VoteBatch": 22,
}

# EIP-712 struct definitions, field order as declared in typed.rs.
TYPES: dict[str, list[tuple[str, str]]] = {
    "AssetLimit": [
        ("asset", "address"),
        ("perTransfer", "uint256"),
        ("perPeriod", "uint256"),
        ("periodSeconds", "uint64"),
        ("maxFee", "uint256"),
    ],
    "ApprovalLevel": [("name", "string"), ("approvers", "address[]"), ("threshold", "uint32")],
    "BoxFlow": [
        ("name", "string"),
        ("employees", "address[]"),
        ("levels", "ApprovalLevel[]"),
        ("limits", "AssetLimit[]"),
        ("nonce", "uint64"),
        ("addressBookOnly", "bool"),
    ],
    "FlowAuthorization": [("flowHash", "bytes32"), ("enable", "bool")],
    "TransferRequest": [
        ("requestId", "bytes32"),
        ("flowHash", "bytes32"),
        ("applicant", "address"),
        ("asset", "address"),
        ("to", "address"),
        ("amount", "uint256"),
        ("maxFee", "uint256"),
        ("chainId", "uint64"),
        ("timestamp", "uint64"),
    ],
    "Approval": [("request", "TransferRequest"), ("level", "uint32"), ("below", "bytes32")],
    "NodeVote": [("subject", "bytes32"), ("contentHash", "bytes32"), ("accept", "bool"), ("reason", "string")],
    "SignerReport": [
        ("subject", "bytes32"),
        ("status", "uint8"),
        ("txHash", "bytes32"),
        ("nonce", "uint64"),
        ("detail", "string"),
    ],
    "FreezeEmployee": [("employee", "address"), ("frozen", "bool"), ("reason", "string"), ("nonce", "uint64")],
    "BlockDestination": [("destination", "address"), ("blocked", "bool"), ("reason", "string"), ("nonce", "uint64")],
    "RegisterAsset": [
        ("token", "address"),
        ("symbol", "string"),
        ("decimals", "uint8"),
        ("registered", "bool"),
        ("nonce", "uint64"),
    ],
    "NodeChange": [
        ("account", "address"),
        ("nodeId", "uint64"),
        ("endpoint", "string"),
        ("add", "bool"),
        ("nonce", "uint64"),
    ],
    "PauseTransfers": [("paused", "bool"), ("reason", "string"), ("nonce", "uint64")],
    "AddressBookEntry": [
        ("destination", "address"),
        ("label", "string"),
        ("flowHash", "bytes32"),
        ("listed", "bool"),
        ("nonce", "uint64"),
    ],
    # block.rs: what the leader seals.
    "BlockHeader": [
        ("height", "uint64"),
        ("parent", "bytes32"),
        ("entriesRoot", "bytes32"),
        ("stateHash", "bytes32"),
        ("time", "uint64"),
        ("firstIndex", "uint64"),
        ("entryCount", "uint64"),
    ],
    "GenesisAsset": [("token", "address"), ("symbol", "string"), ("decimals", "uint8")],
    "GenesisNode": [("nodeId", "uint64"), ("endpoint", "string"), ("account", "address")],
    "Genesis": [
        ("deploymentId", "bytes32"),
        ("chainId", "uint64"),
        ("keyHolders", "address[]"),
        ("nodes", "GenesisNode[]"),
        ("signer", "address"),
        ("assets", "GenesisAsset[]"),
        ("time", "uint64"),
    ],
}

# Wire structs of encoding.rs (not EIP-712 types; ABI only).
WIRE_SIGNED = "(bytes,bytes)"  # SignedWire { bytes value; bytes signature; }
WIRE_CERT = "(bytes32,bytes32,bytes[])"  # CertificateWire
WIRE_ACTION = "(uint8,bytes,bytes[])"  # ActionWire
# EquivocationWire { BlockHeader first; bytes firstSignature; BlockHeader second; bytes secondSignature; }
WIRE_EQUIVOCATION = "(" + ",".join(["(uint64,bytes32,bytes32,bytes32,uint64,uint64,uint64)", "bytes"] * 2) + ")"

SUBJECT_TAGS = {
    "flow": b"BOX/subject/flow",
    "flow_authorization": b"BOX/subject/flow-authorization",
    "transfer": b"BOX/subject/transfer",
    "governance": b"BOX/subject/governance",
    "signer_report": b"BOX/subject/signer-report",
}

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def hx(b: bytes) -> str:
    return "0x" + b.hex()


def unhex(s: str) -> bytes:
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


def b32(byte: int) -> str:
    return hx(bytes([byte]) * 32)


def addr_rep(byte: int) -> str:
    return to_checksum_address(bytes([byte]) * 20)


ZERO_ADDR = to_checksum_address(b"\x00" * 20)
U64_MAX = 2**64 - 1
U256_MAX = 2**256 - 1


class Key:
    """A fixed test key: sha256 of a label (test-only, as secret as its label)."""

    def __init__(self, label: str):
        self.label = label
        self.secret = hashlib.sha256(b"BOX test vectors/" + label.encode()).digest()
        assert 0 < int.from_bytes(self.secret, "big") < SECP256K1_N
        self.address = Account.from_key(self.secret).address

    def sign(self, digest: bytes) -> bytes:
        """65 bytes r || s || v with v in {27, 28}, low-s (eth-keys normalises)."""
        signed = Account.unsafe_sign_hash(digest, self.secret)
        r, s, v = signed.r, signed.s, signed.v
        assert s <= HALF_N, "eth-keys is expected to produce low-s signatures"
        assert v in (27, 28)
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])
        assert sig == bytes(signed.signature)
        # Independent check with eth-keys' recovery.
        assert recover(digest, sig) == self.address
        return sig


def recover(digest: bytes, sig65: bytes) -> str:
    v = sig65[64]
    parity = v - 27 if v >= 27 else v
    sig = eth_keys_keys.Signature(vrs=(parity, int.from_bytes(sig65[:32], "big"), int.from_bytes(sig65[32:64], "big")))
    return sig.recover_public_key_from_msg_hash(digest).to_checksum_address()


KEYS = {
    label: Key(label)
    for label in [
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
        "frank",
        "mallory",
        "key-holder-1",
        "key-holder-2",
        "key-holder-3",
        "node-1",
        "node-2",
        "node-3",
        "signer",
    ]
}


def A(label: str) -> str:
    return KEYS[label].address


# ---------------------------------------------------------------------------
# Values: one JSON form (what the vector files hold), converted to the forms
# eth-account (EIP-712) and eth-abi (ABI) want.
#   address -> EIP-55 string, bytes32 -> 0x hex, uint256 -> decimal string,
#   smaller uints -> JSON number, bool, string, arrays -> lists, structs -> objects.
# ---------------------------------------------------------------------------


def is_struct(t: str) -> bool:
    return t in TYPES


def abi_type(t: str) -> str:
    if t.endswith("[]"):
        return abi_type(t[:-2]) + "[]"
    if is_struct(t):
        return "(" + ",".join(abi_type(ft) for _, ft in TYPES[t]) + ")"
    return t


def to_abi(t: str, v: Any) -> Any:
    if t.endswith("[]"):
        return [to_abi(t[:-2], x) for x in v]
    if is_struct(t):
        assert set(v.keys()) == {n for n, _ in TYPES[t]}, (t, v.keys())
        return tuple(to_abi(ft, v[fn]) for fn, ft in TYPES[t])
    if t == "bytes32":
        b = unhex(v)
        assert len(b) == 32
        return b
    if t == "uint256":
        return int(v)
    if t == "address":
        return unhex(v)
    return v


def to_eip712(t: str, v: Any) -> Any:
    if t.endswith("[]"):
        return [to_eip712(t[:-2], x) for x in v]
    if is_struct(t):
        return {fn: to_eip712(ft, v[fn]) for fn, ft in TYPES[t]}
    if t == "uint256":
        return int(v)
    if t == "bytes32":
        return unhex(v)
    return v


def deps(t: str, acc: set[str] | None = None) -> set[str]:
    acc = set() if acc is None else acc
    for _, ft in TYPES[t]:
        base = ft[:-2] if ft.endswith("[]") else ft
        if is_struct(base) and base not in acc:
            acc.add(base)
            deps(base, acc)
    return acc


def abi_encode_struct(t: str, v: Any) -> bytes:
    """alloy's `SolValue::abi_encode` of a struct == eth_abi.encode of a
    one-element list holding the tuple (so a dynamic struct starts with the
    0x20 offset word)."""
    return eth_abi.encode([abi_type(t)], [to_abi(t, v)])


class Domain:
    def __init__(self, name: str, chain_id: int, deployment: str):
        self.name = name
        self.chain_id = chain_id
        self.deployment = deployment
        self.data = {"name": "BOX", "version": "1", "chainId": chain_id, "salt": unhex(deployment)}

    def typed(self, t: str, v: Any) -> dict:
        types = {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "salt", "type": "bytes32"},
            ]
        }
        for s in [t, *sorted(deps(t))]:
            types[s] = [{"name": fn, "type": ft} for fn, ft in TYPES[s]]
        return {"types": types, "primaryType": t, "domain": self.data, "message": to_eip712(t, v)}

    def separator(self) -> bytes:
        # Any struct will do to get the header; cross-checked by hand below.
        msg = encode_typed_data(full_message=self.typed("FlowAuthorization", {"flowHash": b32(0), "enable": False}))
        sep = bytes(msg.header)
        type_hash = keccak(b"EIP712Domain(string name,string version,uint256 chainId,bytes32 salt)")
        manual = keccak(
            type_hash
            + keccak(b"BOX")
            + keccak(b"1")
            + self.chain_id.to_bytes(32, "big")
            + unhex(self.deployment)
        )
        assert sep == manual
        return sep

    def hashes(self, t: str, v: Any) -> tuple[bytes, bytes]:
        """(hashStruct, signing digest)."""
        msg = encode_typed_data(full_message=self.typed(t, v))
        assert msg.version == b"\x01"
        assert bytes(msg.header) == self.separator()
        struct_hash = bytes(msg.body)
        digest = keccak(b"\x19\x01" + bytes(msg.header) + struct_hash)
        return struct_hash, digest

    def digest(self, t: str, v: Any) -> bytes:
        return self.hashes(t, v)[1]

    def json(self) -> dict:
        return {
            "name": self.name,
            "chainId": self.chain_id,
            "deploymentId": self.deployment,
            "encodeType": "EIP712Domain(string name,string version,uint256 chainId,bytes32 salt)",
            "separator": hx(self.separator()),
        }


def encode_type(t: str) -> str:
    def one(s: str) -> str:
        return s + "(" + ",".join(f"{ft} {fn}" for fn, ft in TYPES[s]) + ")"

    return one(t) + "".join(one(s) for s in sorted(deps(t)))


DOMAINS = [
    Domain("main", 31337, b32(0xB0)),
    Domain("mainnet", 1, hx(keccak(b"BOX test vectors deployment"))),
    Domain("max-chain", U64_MAX, b32(0x00)),
]
DOMAIN = {d.name: d for d in DOMAINS}
MAIN = DOMAIN["main"]

# ---------------------------------------------------------------------------
# Sample values
# ---------------------------------------------------------------------------


def eth(units: int) -> str:
    return str(units * 10**18)


FLOW = {
    "name": "Payments",
    "employees": [A("alice"), A("bob")],
    "levels": [
        {"name": "Team lead", "approvers": [A("carol"), A("dave")], "threshold": 1},
        {"name": "Finance", "approvers": [A("erin"), A("frank")], "threshold": 2},
    ],
    "limits": [
        {"asset": ZERO_ADDR, "perTransfer": eth(10), "perPeriod": eth(25), "periodSeconds": 86400,
         "maxFee": str(10**16)},
        {"asset": addr_rep(0x70), "perTransfer": "1000000000", "perPeriod": "5000000000", "periodSeconds": 86400,
         "maxFee": str(5 * 10**15)},
    ],
    "nonce": 1,
    "addressBookOnly": False,
}
FLOW_HASH = hx(MAIN.digest("BoxFlow", FLOW))

FLOW_EDGE = {
    "name": "审批流 — Zahlungen €",
    "employees": [],
    "levels": [{"name": "", "approvers": [], "threshold": 0}],
    "limits": [{"asset": addr_rep(0xFF), "perTransfer": str(U256_MAX), "perPeriod": "0", "periodSeconds": U64_MAX,
                "maxFee": str(U256_MAX)}],
    "nonce": U64_MAX,
    "addressBookOnly": True,
}

REQUEST = {
    "requestId": b32(0x01),
    "flowHash": FLOW_HASH,
    "applicant": A("alice"),
    "asset": ZERO_ADDR,
    "to": addr_rep(0xD5),
    "amount": eth(3),
    "maxFee": str(10**16),
    "chainId": 31337,
    "timestamp": 1_800_000_000,
}

REQUEST_EDGE = {
    "requestId": b32(0xFF),
    "flowHash": b32(0x00),
    "applicant": ZERO_ADDR,
    "asset": addr_rep(0x70),
    "to": addr_rep(0xFF),
    "amount": str(U256_MAX),
    "maxFee": "0",
    "chainId": U64_MAX,
    "timestamp": 0,
}


def below_digest(applicant_sig: bytes, lower_levels: list[list[bytes]]) -> bytes:
    """transbox.rs: keccak("BOX/below/v1" || applicant sig), then per lower
    level keccak(prev || sig_1 || ... || sig_k)."""
    d = keccak(b"BOX/below/v1" + applicant_sig)
    for level in lower_levels:
        d = keccak(d + b"".join(level))
    return d


# ---------------------------------------------------------------------------
# 1. Key derivation
# ---------------------------------------------------------------------------


def phrase_hash(phrase: str, d: bytes, index: int) -> bytes:
    return hash_secret_raw(
        secret=unicodedata.normalize("NFKD", phrase).encode("utf-8"),
        salt=d + index.to_bytes(4, "big"),
        time_cost=ARGON2_T,
        memory_cost=ARGON2_M_KIB,
        parallelism=ARGON2_P,
        hash_len=ARGON2_LEN,
        type=Type.ID,
        version=ARGON2_VERSION,
    )


def root_key(d: bytes, hashes: list[bytes]) -> bytes:
    assert len(hashes) >= 3
    counter = 0
    while True:
        data = d + b"".join(hashes) + (counter.to_bytes(4, "big") if counter > 0 else b"")
        k = hashlib.sha256(data).digest()
        if 0 < int.from_bytes(k, "big") < SECP256K1_N:
            return k
        counter += 1


def wallet(root: bytes) -> tuple[bytes, str]:
    key = HDPath(WALLET_PATH).derive(root)
    return key, Account.from_key(key).address


def keys_vectors() -> tuple[dict, dict]:
    derivations = []
    for name, d, phrases in [
        (
            "three ascii phrases",
            bytes(range(32)),
            ["correct horse battery staple", "purple monkey dishwasher 42", "the quick brown fox jumps"],
        ),
        (
            "four phrases with unicode",
            keccak(b"BOX deployment d #2"),
            ["Grüße aus Zürich, Straße 7", "审批流需要三把钥匙才能打开", "żółw pije kawę o świcie", "emoji 🔑 and 🗝 keys here"],
        ),
        (
            # Same phrase for every holder: the index in the salt keeps the hashes apart.
            "three equal phrases",
            b"\xff" * 32,
            ["same phrase for everyone!", "same phrase for everyone!", "same phrase for everyone!"],
        ),
    ]:
        hashes = [phrase_hash(p, d, i + 1) for i, p in enumerate(phrases)]
        if len(set(phrases)) == 1:
            assert len(set(hashes)) == len(hashes)
        k = root_key(d, hashes)
        wk, waddr = wallet(k)
        derivations.append(
            {
                "name": name,
                "d": hx(d),
                "phrases": phrases,
                "phraseHashes": [hx(h) for h in hashes],
                "rootKey": hx(k),
                "walletKey": hx(wk),
                "walletAddress": waddr,
            }
        )

    # root_key and wallet_key on given phrase hashes (no Argon2: cheap).
    root_keys = []
    for n in (3, 4, 5, 8):
        d = keccak(b"root-key d " + str(n).encode())
        hashes = [keccak(b"phrase hash " + str(n).encode() + b"/" + str(i).encode()) for i in range(n)]
        k = root_key(d, hashes)
        wk, waddr = wallet(k)
        root_keys.append(
            {
                "name": f"{n} phrase hashes",
                "d": hx(d),
                "phraseHashes": [hx(h) for h in hashes],
                "rootKey": hx(k),
                "walletKey": hx(wk),
                "walletAddress": waddr,
            }
        )

    strong = [
        "correct horse battery staple",
        "purple monkey dishwasher 42",
        "Grüße aus Zürich, Straße 7",
        "emoji 🔑 and 🗝 keys here",
        "abcdefghij zebra 1q2w3e4r",  # 9 sequential steps of 25: under half
    ]
    for p in strong:
        assert strength(p) is None, p

    weak_inputs = [
        "",
        "short",
        "fifteen chars!!",  # 15 characters
        "äöüßäöüßäöüß",  # 12 characters (24 bytes): counted in characters
        "aaaaaaaaaaaaaaaaaaaa",
        "AaAaBbBbCcCcDdDdEeEe",  # case-folded: 5 distinct
        "abcdefghijklmnopqrst",
        "zyxwvutsrqponmlkjihg",
        "1234567890abcdefghij",
        " correct horse battery",
        "correct horse battery\t",
        "\u00a0correct horse battery",  # no-break space is whitespace too
        "correct horse battery\n",
    ]
    weak = []
    for p in weak_inputs:
        err = strength(p)
        assert err is not None, p
        weak.append({"phrase": p, "error": err[0], "value": err[1]})

    valid = {
        "description": "Key derivation (keys.rs): H(m_i) = Argon2id(m_i, salt = d || be32(i)), "
        "k = SHA256(d || H(m_1) || ... || H(m_N)), wallet = BIP-32(seed k) at m/44'/60'/0'/0/0.",
        "argon2": {
            "variant": "argon2id",
            "version": ARGON2_VERSION,
            "memoryKiB": ARGON2_M_KIB,
            "passes": ARGON2_T,
            "lanes": ARGON2_P,
            "outputLen": ARGON2_LEN,
        },
        "walletPath": WALLET_PATH,
        "derivations": derivations,
        "rootKeys": root_keys,
        "strongPhrases": strong,
    }
    invalid = {
        "description": "Phrases refused by check_phrase_strength (error = WeakPhrase variant, value = its payload "
        "or null), and derivations with fewer than 3 phrases (DerivationError::TooFewPhrases).",
        "weakPhrases": weak,
        "tooFewPhrases": [
            {"d": b32(0x11), "phrases": []},
            {"d": b32(0x11), "phrases": ["correct horse battery staple"]},
            {"d": b32(0x11), "phrases": ["correct horse battery staple", "purple monkey dishwasher 42"]},
        ],
        "tooFewPhraseHashes": [
            {"d": b32(0x22), "phraseHashes": []},
            {"d": b32(0x22), "phraseHashes": [b32(1), b32(2)]},
        ],
    }
    return valid, invalid


def strength(p: str) -> tuple[str, int | None] | None:
    """The rules documented on keys::check_phrase_strength, re-implemented."""
    if p.strip() != p:
        return ("EdgeWhitespace", None)
    if len(p) < MIN_PHRASE_CHARS:
        return ("TooShort", len(p))
    distinct = set("".join(c.lower() for c in p))
    if len(distinct) < MIN_DISTINCT_CHARS:
        return ("TooRepetitive", len(distinct))
    lower = [ord(c.lower()) if c.isascii() else ord(c) for c in p]
    steps = sum(1 for a, b in zip(lower, lower[1:]) if b == a or b == a + 1 or a == b + 1)
    if steps * 2 > len(lower):
        return ("Sequence", None)
    return None


# ---------------------------------------------------------------------------
# 2. EIP-712
# ---------------------------------------------------------------------------

EIP712_CASES: list[tuple[str, str, str, str, dict]] = [
    # (name, struct, domain, signer, message)
    ("flow", "BoxFlow", "main", "key-holder-1", FLOW),
    ("flow with edge values", "BoxFlow", "mainnet", "key-holder-2", FLOW_EDGE),
    ("empty flow", "BoxFlow", "max-chain", "key-holder-3",
     {"name": "", "employees": [], "levels": [], "limits": [], "nonce": 0, "addressBookOnly": False}),
    ("enable flow", "FlowAuthorization", "main", "key-holder-1", {"flowHash": FLOW_HASH, "enable": True}),
    ("disable flow", "FlowAuthorization", "mainnet", "key-holder-2", {"flowHash": b32(0xAB), "enable": False}),
    ("request", "TransferRequest", "main", "alice", REQUEST),
    ("request with edge values", "TransferRequest", "max-chain", "bob", REQUEST_EDGE),
    ("approval level 1", "Approval", "main", "carol",
     {"request": REQUEST, "level": 1, "below": hx(keccak(b"below"))}),
    ("approval max level", "Approval", "mainnet", "erin",
     {"request": REQUEST_EDGE, "level": 2**32 - 1, "below": b32(0x00)}),
    ("accept vote", "NodeVote", "main", "node-1",
     {"subject": b32(0x5A), "contentHash": b32(0xC0), "accept": True, "reason": ""}),
    ("reject vote", "NodeVote", "mainnet", "node-2",
     {"subject": b32(0x5B), "contentHash": b32(0xC1), "accept": False,
      "reason": "the amount 30 ETH exceeds the per-transfer limit 10 ETH — refusé"}),
    ("broadcast report", "SignerReport", "main", "signer",
     {"subject": b32(0x7E), "status": 1, "txHash": b32(0x7A), "nonce": 7, "detail": ""}),
    ("refused report", "SignerReport", "max-chain", "signer",
     {"subject": b32(0x7F), "status": 255, "txHash": b32(0x00), "nonce": U64_MAX, "detail": "insufficient funds"}),
    ("freeze", "FreezeEmployee", "main", "key-holder-1",
     {"employee": A("bob"), "frozen": True, "reason": "left the company — clé révoquée", "nonce": 1}),
    ("unfreeze", "FreezeEmployee", "mainnet", "key-holder-3",
     {"employee": ZERO_ADDR, "frozen": False, "reason": "", "nonce": 0}),
    ("block", "BlockDestination", "main", "key-holder-2",
     {"destination": addr_rep(0xBA), "blocked": True, "reason": "phishing report #7", "nonce": 2}),
    ("unblock", "BlockDestination", "max-chain", "key-holder-2",
     {"destination": addr_rep(0xBA), "blocked": False, "reason": "", "nonce": U64_MAX}),
    ("register asset", "RegisterAsset", "main", "key-holder-1",
     {"token": addr_rep(0x71), "symbol": "USDC", "decimals": 6, "registered": True, "nonce": 3}),
    ("remove asset", "RegisterAsset", "mainnet", "key-holder-1",
     {"token": addr_rep(0x72), "symbol": "", "decimals": 255, "registered": False, "nonce": 4}),
    ("add node", "NodeChange", "main", "node-1",
     {"account": A("node-3"), "nodeId": 4, "endpoint": "10.0.0.4:7000", "add": True, "nonce": 5}),
    ("remove node", "NodeChange", "max-chain", "node-2",
     {"account": A("node-1"), "nodeId": U64_MAX, "endpoint": "", "add": False, "nonce": 6}),
    ("pause", "PauseTransfers", "main", "key-holder-3",
     {"paused": True, "reason": "incident #12: suspected phishing", "nonce": 7}),
    ("resume", "PauseTransfers", "mainnet", "key-holder-3", {"paused": False, "reason": "", "nonce": 8}),
    ("list in the address book", "AddressBookEntry", "main", "key-holder-1",
     {"destination": addr_rep(0xAB), "label": "Supplier GmbH — compte EUR", "flowHash": FLOW_HASH, "listed": True,
      "nonce": 9}),
    ("list for every flow", "AddressBookEntry", "mainnet", "key-holder-2",
     {"destination": addr_rep(0xAC), "label": "payroll", "flowHash": b32(0x00), "listed": True, "nonce": U64_MAX}),
    ("remove from the address book", "AddressBookEntry", "max-chain", "key-holder-3",
     {"destination": addr_rep(0xAB), "label": "", "flowHash": b32(0x00), "listed": False, "nonce": 0}),
    ("genesis", "Genesis", "main", "signer",
     {
         "deploymentId": MAIN.deployment,
         "chainId": 31337,
         "keyHolders": [A("key-holder-1"), A("key-holder-2"), A("key-holder-3")],
         "nodes": [
             {"nodeId": 1, "endpoint": "127.0.0.1:7000", "account": A("node-1")},
             {"nodeId": 2, "endpoint": "127.0.0.1:7001", "account": A("node-2")},
             {"nodeId": 3, "endpoint": "127.0.0.1:7002", "account": A("node-3")},
         ],
         "signer": A("signer"),
         "assets": [{"token": addr_rep(0x70), "symbol": "TKN", "decimals": 6}],
         "time": 1_800_000_000,
     }),
]


def eip712_vectors() -> tuple[dict, dict]:
    cases = []
    for name, struct, dom, signer, msg in EIP712_CASES:
        d = DOMAIN[dom]
        struct_hash, digest = d.hashes(struct, msg)
        key = KEYS[signer]
        sig = key.sign(digest)
        cases.append(
            {
                "name": name,
                "struct": struct,
                "domain": dom,
                "message": msg,
                "encodeType": encode_type(struct),
                "typeHash": hx(keccak(encode_type(struct).encode())),
                "hashStruct": hx(struct_hash),
                "digest": hx(digest),
                "signerKey": hx(key.secret),
                "signer": key.address,
                "signature": hx(sig),
            }
        )
    valid = {
        "description": "EIP-712 under the BOX domain {name: BOX, version: 1, chainId, salt: deploymentId}. "
        "digest = keccak256(0x1901 || separator || hashStruct); signature = 65 bytes r || s || v (v = 27/28), "
        "RFC 6979, low-s.",
        "domains": [d.json() for d in DOMAINS],
        "cases": cases,
    }

    # Invalid signatures.
    digest = MAIN.digest("FlowAuthorization", {"flowHash": FLOW_HASH, "enable": True})
    good = KEYS["key-holder-1"].sign(digest)
    other = KEYS["mallory"].sign(digest)
    r = int.from_bytes(good[:32], "big")
    s = int.from_bytes(good[32:64], "big")
    v = good[64]
    high_s = good[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    # The high-s twin is a valid ECDSA signature of the same key (eth-keys agrees)...
    assert recover(digest, high_s) == KEYS["key-holder-1"].address
    half = good[:32] + HALF_N.to_bytes(32, "big") + bytes([v])
    try:
        half_recovers: str | None = recover(digest, half)
    except Exception:  # noqa: BLE001 - eth-keys raises BadSignature
        half_recovers = None
    sigs = [
        {
            "name": "signed by another key",
            "signature": hx(other),
            "fromBytes": "ok",
            "recover": "ok",
            "recovers": KEYS["mallory"].address,
        },
        {
            "name": "high-s twin of a valid signature",
            "signature": hx(high_s),
            "fromBytes": "NonCanonical",
            "recover": "NonCanonical",
        },
        {
            "name": "s = n - 1",
            "signature": hx(good[:32] + (SECP256K1_N - 1).to_bytes(32, "big") + bytes([v])),
            "fromBytes": "NonCanonical",
            "recover": "NonCanonical",
        },
        {
            "name": "s = n/2 + 1 (smallest high s)",
            "signature": hx(good[:32] + (HALF_N + 1).to_bytes(32, "big") + bytes([v])),
            "fromBytes": "NonCanonical",
            "recover": "NonCanonical",
        },
        {
            "name": "s = 0",
            "signature": hx(good[:32] + bytes(32) + bytes([v])),
            "fromBytes": "Malformed",
            "recover": "Malformed",
        },
        {
            "name": "r = 0",
            "signature": hx(bytes(32) + good[32:]),
            "fromBytes": "Malformed",
            "recover": "Malformed",
        },
        {
            "name": "64 bytes (v missing)",
            "signature": hx(good[:64]),
            "fromBytes": "Malformed",
        },
        {
            "name": "66 bytes",
            "signature": hx(good + b"\x00"),
            "fromBytes": "Malformed",
        },
        {
            "name": "empty",
            "signature": "0x",
            "fromBytes": "Malformed",
        },
        {
            "name": "v = 2 (no parity encoding uses it)",
            "signature": hx(good[:64] + b"\x02"),
            "fromBytes": "Malformed",
        },
        {
            # ecrecover requires 1 <= r < n.
            "name": "r = n",
            "signature": hx(SECP256K1_N.to_bytes(32, "big") + good[32:]),
            "fromBytes": "Malformed",
            "recover": "Malformed",
        },
        {
            "name": "r = 2^256 - 1",
            "signature": hx(b"\xff" * 32 + good[32:]),
            "fromBytes": "Malformed",
            "recover": "Malformed",
        },
        {
            "name": "r not an x coordinate on the curve",
            # x = 5: 5^3 + 7 = 132 is not a square mod p.
            "signature": hx((5).to_bytes(32, "big") + good[32:]),
            "fromBytes": "ok",
            "recover": "Unrecoverable",
        },
    ]
    assert half_recovers is not None
    sigs.append(
        {
            "name": "s = n/2 exactly (largest low s) is accepted",
            "signature": hx(half),
            "fromBytes": "ok",
            "recover": "ok",
            "recovers": half_recovers,
        }
    )
    # Python-side sanity of the "not on curve" claim.
    p = 2**256 - 2**32 - 977
    assert pow(5**3 + 7, (p - 1) // 2, p) != 1
    invalid = {
        "description": "Signatures that must not verify as key-holder-1's over `digest`. fromBytes = result of "
        "crypto::signature_from_bytes, recover = result of crypto::recover(digest, sig) (SignatureError variant "
        "or ok; recovers = the address it must recover to, never `expectedSigner`).",
        "domain": "main",
        "struct": "FlowAuthorization",
        "message": {"flowHash": FLOW_HASH, "enable": True},
        "digest": hx(digest),
        "expectedSigner": KEYS["key-holder-1"].address,
        "validSignature": hx(good),
        "cases": sigs,
    }
    assert r and v
    return valid, invalid


# ---------------------------------------------------------------------------
# 3. Canonical encoding
# ---------------------------------------------------------------------------


def header(kind: str) -> bytes:
    return bytes([ENCODING_VERSION, KIND[kind]])


def signed(struct: str, dom: Domain, key: str, value: dict) -> tuple[dict, bytes, bytes]:
    """A Signed<T>: JSON value, its canonical bytes, and the signing digest."""
    digest = dom.digest(struct, value)
    sig = KEYS[key].sign(digest)
    body = eth_abi.encode([WIRE_SIGNED], [(abi_encode_struct(struct, value), sig)])
    return {"value": value, "signature": hx(sig), "signer": KEYS[key].address}, body, digest


def subject_id(kind: str, key: bytes) -> str:
    return hx(keccak(SUBJECT_TAGS[kind] + key))


def encoding_vectors() -> tuple[dict, dict]:
    cases: list[dict] = []

    def add(name: str, type_: str, value: Any, encoded: bytes, subject: dict | None = None, entry: str | None = None):
        cases.append(
            {
                "name": name,
                "type": type_,
                "value": value,
                "encoded": hx(encoded),
                "contentHash": hx(keccak(encoded)),
                "subject": subject,
                "entry": entry,
            }
        )

    # Plain structs (sol_body!).
    flow_enc = header("Flow") + abi_encode_struct("BoxFlow", FLOW)
    add("flow", "BoxFlow", FLOW, flow_enc,
        {"kind": "flow", "id": subject_id("flow", MAIN.digest("BoxFlow", FLOW))}, "submit")
    add("flow with edge values", "BoxFlow", FLOW_EDGE, header("Flow") + abi_encode_struct("BoxFlow", FLOW_EDGE),
        {"kind": "flow", "id": subject_id("flow", MAIN.digest("BoxFlow", FLOW_EDGE))}, "submit")
    add("request", "TransferRequest", REQUEST, header("TransferRequest") + abi_encode_struct("TransferRequest", REQUEST))
    add("request with edge values", "TransferRequest", REQUEST_EDGE,
        header("TransferRequest") + abi_encode_struct("TransferRequest", REQUEST_EDGE))
    approval = {"request": REQUEST, "level": 2, "below": hx(keccak(b"below"))}
    add("approval", "Approval", approval, header("Approval") + abi_encode_struct("Approval", approval))
    vote = {"subject": b32(0x5A), "contentHash": b32(0xC0), "accept": False, "reason": "over the limit — 超限"}
    add("node vote", "NodeVote", vote, header("UnsignedNodeVote") + abi_encode_struct("NodeVote", vote))
    genesis = dict(EIP712_CASES[-1][4])
    add("genesis", "Genesis", genesis, header("Genesis") + abi_encode_struct("Genesis", genesis))
    genesis_empty = {
        "deploymentId": b32(0x00),
        "chainId": 0,
        "keyHolders": [],
        "nodes": [],
        "signer": ZERO_ADDR,
        "assets": [],
        "time": 0,
    }
    add("genesis with empty lists", "Genesis", genesis_empty, header("Genesis") + abi_encode_struct("Genesis", genesis_empty))

    actions = [
        ("FreezeEmployee", {"employee": A("bob"), "frozen": True, "reason": "on leave", "nonce": 1}, ["key-holder-1"]),
        ("BlockDestination", {"destination": addr_rep(0xBA), "blocked": False, "reason": "", "nonce": 2},
         ["key-holder-1", "key-holder-2", "key-holder-3"]),
        ("RegisterAsset", {"token": addr_rep(0x71), "symbol": "USDC", "decimals": 6, "registered": True, "nonce": 3},
         ["key-holder-2", "key-holder-3"]),
        ("NodeChange", {"account": A("node-3"), "nodeId": 3, "endpoint": "127.0.0.1:7002", "add": False, "nonce": 4},
         ["node-1", "node-2"]),
        ("PauseTransfers", {"paused": True, "reason": "incident #12", "nonce": 5}, ["key-holder-3"]),
        ("AddressBookEntry", {"destination": addr_rep(0xAB), "label": "Supplier GmbH", "flowHash": FLOW_HASH,
                              "listed": True, "nonce": 6}, ["key-holder-1", "key-holder-2", "key-holder-3"]),
    ]
    for struct, value, _ in actions:
        add(f"{struct} alone", struct, value, header(struct) + abi_encode_struct(struct, value))

    # Signed<T>.
    auth, body, digest = signed("FlowAuthorization", MAIN, "key-holder-1", {"flowHash": FLOW_HASH, "enable": True})
    add("signed flow authorization", "Signed<FlowAuthorization>", auth, header("FlowAuthorization") + body,
        {"kind": "flow_authorization", "id": subject_id("flow_authorization", digest + unhex(A("key-holder-1")))},
        "submit")
    sv, body, _ = signed("NodeVote", MAIN, "node-2", vote)
    add("signed node vote", "Signed<NodeVote>", sv, header("NodeVote") + body, None, "vote")
    # VoteBatch (README "Canonical encoding"): 1 to 256 whole signed-vote encodings in one entry.
    vote_b = {"subject": b32(0x5B), "contentHash": b32(0xC1), "accept": True, "reason": ""}
    sv_b, body_b, _ = signed("NodeVote", MAIN, "node-2", vote_b)
    batch_items = [header("NodeVote") + body, header("NodeVote") + body_b]
    add("vote batch", "VoteBatch", [sv, sv_b], header("VoteBatch") + eth_abi.encode(["(bytes[])"], [(batch_items,)]),
        None, "votes")
    report = {"subject": FLOW_HASH, "status": 5, "txHash": b32(0xA1), "nonce": 0, "detail": "anchored in block 19000000"}
    sr, body, digest = signed("SignerReport", MAIN, "signer", report)
    add("signed signer report", "Signed<SignerReport>", sr, header("SignerReport") + body,
        {"kind": "signer_report", "id": subject_id("signer_report", digest)}, "submit")

    # TransBox: alice applies; carol and dave approve level 1 (ascending by
    # address), erin approves level 2.
    request_digest = MAIN.digest("TransferRequest", REQUEST)
    applicant_sig = KEYS["alice"].sign(request_digest)
    levels: list[list[bytes]] = []
    approvers: list[list[str]] = []
    for level_no, signers in enumerate([["carol", "dave"], ["erin"]], start=1):
        approval_value = {"request": REQUEST, "level": level_no, "below": hx(below_digest(applicant_sig, levels))}
        h = MAIN.digest("Approval", approval_value)
        ordered = sorted(signers, key=lambda k: unhex(A(k)))
        levels.append([KEYS[k].sign(h) for k in ordered])
        approvers.append([A(k) for k in ordered])
    transbox = {
        "request": REQUEST,
        "applicantSignature": hx(applicant_sig),
        "levels": [[hx(s) for s in lvl] for lvl in levels],
        "approvers": approvers,
    }
    tb_abi_type = "(" + abi_type("TransferRequest") + ",bytes,bytes[][])"
    tb_enc = header("TransBox") + eth_abi.encode([tb_abi_type], [(to_abi("TransferRequest", REQUEST), applicant_sig, levels)])
    # A transfer's subject is its whole transbox (keccak256 of the canonical
    # encoding), not its request: a transbox the nodes refuse must not take
    # the id a valid one for the same request needs.
    add("transbox with two levels", "TransBox", transbox, tb_enc,
        {"kind": "transfer", "id": subject_id("transfer", keccak(tb_enc))}, "submit")
    edge_request = dict(REQUEST_EDGE, applicant=A("bob"))
    edge_sig = KEYS["bob"].sign(MAIN.digest("TransferRequest", edge_request))
    tb_empty = {"request": edge_request, "applicantSignature": hx(edge_sig), "levels": [], "approvers": []}
    tb_empty_enc = header("TransBox") + eth_abi.encode(
        [tb_abi_type], [(to_abi("TransferRequest", edge_request), edge_sig, [])]
    )
    add("transbox without approvals", "TransBox", tb_empty, tb_empty_enc,
        {"kind": "transfer", "id": subject_id("transfer", keccak(tb_empty_enc))}, "submit")
    tb_gap = {"request": REQUEST, "applicantSignature": hx(applicant_sig), "levels": [[], [hx(levels[1][0])]],
              "approvers": None}
    tb_gap_enc = header("TransBox") + eth_abi.encode(
        [tb_abi_type], [(to_abi("TransferRequest", REQUEST), applicant_sig, [[], [levels[1][0]]])]
    )
    add("transbox with an empty level", "TransBox", tb_gap, tb_gap_enc,
        {"kind": "transfer", "id": subject_id("transfer", keccak(tb_gap_enc))}, "submit")

    # QuorumCertificate over the transbox subject.
    cert_subject = unhex(subject_id("transfer", keccak(tb_enc)))
    cert_content = keccak(tb_enc)
    accept = {"subject": hx(cert_subject), "contentHash": hx(cert_content), "accept": True, "reason": ""}
    vote_digest = MAIN.digest("NodeVote", accept)
    voters = sorted(["node-1", "node-2", "node-3"], key=lambda k: unhex(A(k)))
    votes = [KEYS[k].sign(vote_digest) for k in voters]
    add("quorum certificate", "QuorumCertificate",
        {"subject": hx(cert_subject), "contentHash": hx(cert_content), "votes": [hx(v) for v in votes],
         "voters": [A(k) for k in voters]},
        header("QuorumCertificate") + eth_abi.encode([WIRE_CERT], [(cert_subject, cert_content, votes)]))
    add("quorum certificate without votes", "QuorumCertificate",
        {"subject": b32(0x00), "contentHash": b32(0xFF), "votes": [], "voters": []},
        header("QuorumCertificate") + eth_abi.encode([WIRE_CERT], [(b"\x00" * 32, b"\xff" * 32, [])]))

    # SignedAction, one per action kind.
    action_encodings = {}
    for struct, value, signers in actions:
        h = MAIN.digest(struct, value)
        sigs = [KEYS[k].sign(h) for k in signers]
        enc = header("Governance") + eth_abi.encode(
            [WIRE_ACTION], [(KIND[struct], abi_encode_struct(struct, value), sigs)]
        )
        action_encodings[struct] = enc
        add(f"governance {struct}", "SignedAction",
            {"action": {"type": struct, "action": value}, "signatures": [hx(s) for s in sigs],
             "signers": [A(k) for k in signers]},
            enc, {"kind": "governance", "id": subject_id("governance", h)}, "submit")
    unsigned = {"paused": False, "reason": "", "nonce": 0}
    add("governance without signatures", "SignedAction",
        {"action": {"type": "PauseTransfers", "action": unsigned}, "signatures": [], "signers": []},
        header("Governance") + eth_abi.encode([WIRE_ACTION], [(KIND["PauseTransfers"], abi_encode_struct("PauseTransfers", unsigned), [])]),
        {"kind": "governance", "id": subject_id("governance", MAIN.digest("PauseTransfers", unsigned))}, "submit")

    # Equivocation (evidence.rs): node-1 seals two headers at height 7 that
    # differ only in time; canonical order = the headers' ABI bytes ascending.
    def sealed_header(key: str, value: dict) -> dict:
        return {"header": value, "signature": hx(KEYS[key].sign(MAIN.digest("BlockHeader", value)))}

    block_header = {"height": 7, "parent": b32(0x01), "entriesRoot": b32(0x02), "stateHash": b32(0x03),
                    "time": 1_800_000_100, "firstIndex": 40, "entryCount": 3}
    later = dict(block_header, time=1_800_000_101)
    pair = sorted([sealed_header("node-1", later), sealed_header("node-1", block_header)],
                  key=lambda x: abi_encode_struct("BlockHeader", x["header"]))

    def equivocation_bytes(a: dict, b: dict) -> bytes:
        return header("Equivocation") + eth_abi.encode([WIRE_EQUIVOCATION], [(
            to_abi("BlockHeader", a["header"]), unhex(a["signature"]),
            to_abi("BlockHeader", b["header"]), unhex(b["signature"]))])

    equivocation_enc = equivocation_bytes(pair[0], pair[1])
    add("equivocation", "Equivocation", {"first": pair[0], "second": pair[1], "sealer": A("node-1")},
        equivocation_enc, None, "evidence")

    valid = {
        "description": "Canonical encodings (encoding.rs): [version 1][kind][alloy abi_encode of the value or wire "
        "struct]. Signatures are 65 bytes r || s || v (v = 27/28). subject = what Subject::decode gives (kind and "
        "Subject::id under domain `main`), null if the bytes are not a subject; entry = what Entry::decode gives.",
        "domain": "main",
        "domainChainId": MAIN.chain_id,
        "domainDeploymentId": MAIN.deployment,
        "cases": cases,
    }

    # ---- invalid encodings --------------------------------------------------
    inv: list[dict] = []

    def bad(name: str, decode_as: str, encoded: bytes, errors: list[str], contains: str | None = None):
        inv.append({"name": name, "decodeAs": decode_as, "encoded": hx(encoded), "errors": errors,
                    "messageContains": contains})

    req_enc = header("TransferRequest") + abi_encode_struct("TransferRequest", REQUEST)
    freeze_value = actions[0][1]
    freeze_enc = header("FreezeEmployee") + abi_encode_struct("FreezeEmployee", freeze_value)
    sv_enc = next(c for c in cases if c["name"] == "signed node vote")["encoded"]
    sv_enc_b = unhex(sv_enc)
    # RegisterAsset (dynamic): [0x20][token][symbol offset][decimals][registered][nonce][len][data]
    reg_value = actions[2][1]
    reg_enc = header("RegisterAsset") + abi_encode_struct("RegisterAsset", reg_value)
    tb_empty_enc = unhex(next(c for c in cases if c["name"] == "transbox without approvals")["encoded"])

    batch_enc = unhex(next(c for c in cases if c["name"] == "vote batch")["encoded"])
    bad("empty vote batch", "VoteBatch", header("VoteBatch") + eth_abi.encode(["(bytes[])"], [([],)]), ["Invalid"],
        "1 to 256 votes")
    bad("empty vote batch as entry", "Entry", header("VoteBatch") + eth_abi.encode(["(bytes[])"], [([],)]), ["Invalid"],
        "1 to 256 votes")
    bad("a transfer request inside a vote batch", "VoteBatch",
        header("VoteBatch") + eth_abi.encode(["(bytes[])"], [([sv_enc_b, req_enc],)]), ["WrongKind"])
    bad("trailing byte after a vote batch", "Entry", batch_enc + b"\x00", ["Malformed", "NonCanonical"])
    for t in ["TransferRequest", "BoxFlow", "TransBox", "Signed<NodeVote>", "SignedAction", "Subject", "Entry"]:
        bad(f"empty input as {t}", t, b"", ["TooShort"])
    bad("one byte", "TransferRequest", b"\x01", ["TooShort"])
    bad("header only", "TransferRequest", header("TransferRequest"), ["Malformed"])
    bad("unknown version 2", "TransferRequest", b"\x02" + req_enc[1:], ["UnknownVersion"])
    bad("unknown version 0", "RegisterAsset", b"\x00" + reg_enc[1:], ["UnknownVersion"])
    bad("unknown version 2 as subject", "Subject", b"\x02" + reg_enc[1:], ["UnknownVersion"])
    bad("unknown kind 0", "TransferRequest", b"\x01\x00" + req_enc[2:], ["UnknownKind"])
    bad("unknown kind 200", "TransferRequest", b"\x01\xc8" + req_enc[2:], ["UnknownKind"])
    bad("unknown kind 255 as entry", "Entry", b"\x01\xff" + req_enc[2:], ["UnknownKind"])
    bad("node vote decoded as a transfer request", "TransferRequest",
        header("UnsignedNodeVote") + abi_encode_struct("NodeVote", vote), ["WrongKind"])
    bad("transfer request decoded as a transbox", "TransBox", req_enc, ["WrongKind"])
    bad("register asset decoded as a signed flow authorization", "Signed<FlowAuthorization>", reg_enc, ["WrongKind"])
    bad("transfer request is not a subject", "Subject", req_enc, ["Invalid"], "not a subject")
    bad("quorum certificate is not an entry", "Entry", unhex(next(c for c in cases if c["name"] == "quorum certificate without votes")["encoded"]),
        ["Invalid"], "not a subject")
    bad("request body with the flow kind byte", "BoxFlow", header("Flow") + req_enc[2:], ["Malformed", "NonCanonical"])
    bad("truncated by one byte", "TransferRequest", req_enc[:-1], ["Malformed"])
    bad("truncated by one word", "TransferRequest", req_enc[:-32], ["Malformed"])
    # Cutting only into the zero padding after the last string leaves a body
    # alloy can read; it is refused because it does not re-encode to itself.
    bad("dynamic struct truncated inside the final padding", "RegisterAsset", reg_enc[:-1], ["Malformed", "NonCanonical"])
    bad("dynamic struct truncated into string data", "RegisterAsset", reg_enc[:-29], ["Malformed"])
    bad("transbox truncated mid-signature", "TransBox", tb_empty_enc[:-40], ["Malformed"])
    bad("trailing zero byte", "TransferRequest", req_enc + b"\x00", ["Malformed", "NonCanonical"])
    bad("trailing zero word", "TransferRequest", req_enc + bytes(32), ["Malformed", "NonCanonical"])
    bad("trailing byte after a dynamic struct", "RegisterAsset", reg_enc + b"\x00", ["Malformed", "NonCanonical"])
    bad("trailing byte after a signed vote", "Signed<NodeVote>", sv_enc_b + b"\x00", ["Malformed", "NonCanonical"])
    bad("trailing byte as an entry", "Entry", sv_enc_b + b"\x00", ["Malformed", "NonCanonical"])

    bad("equivocation out of canonical order", "Equivocation", equivocation_bytes(pair[1], pair[0]), ["NonCanonical"])
    bad("equivocation out of canonical order as an entry", "Entry", equivocation_bytes(pair[1], pair[0]),
        ["NonCanonical"])
    bad("equivocation of one header twice", "Equivocation", equivocation_bytes(pair[0], pair[0]), ["Invalid"],
        "the same")
    short_sig = dict(pair[1], signature=pair[1]["signature"][:-2])
    bad("equivocation with a 64-byte signature", "Equivocation", equivocation_bytes(pair[0], short_sig), ["Invalid"],
        "65 bytes")

    # FreezeEmployee is static: words 0 = employee, 1 = frozen, 2 = nonce.
    def poke(b: bytes, at: int, val: int) -> bytes:
        out = bytearray(b)
        out[at] = val
        return bytes(out)

    # FreezeEmployee has a string (reason), so it is a dynamic tuple: word 0 is
    # its offset (0x20), then word 1 employee, word 2 frozen, word 3 the
    # reason's offset, word 4 nonce, then the reason.
    W = 2 + 32
    bad("dirty high byte in an address word", "FreezeEmployee", poke(freeze_enc, W + 0, 0x01), ["Malformed", "NonCanonical"])
    bad("dirty padding byte in an address word", "FreezeEmployee", poke(freeze_enc, W + 11, 0x80), ["Malformed", "NonCanonical"])
    bad("bool word holding 2", "FreezeEmployee", poke(freeze_enc, W + 32 + 31, 0x02), ["Malformed", "NonCanonical"])
    bad("dirty high byte in a bool word", "FreezeEmployee", poke(freeze_enc, W + 32, 0x01), ["Malformed", "NonCanonical"])
    bad("uint64 word over 2^64", "FreezeEmployee", poke(freeze_enc, W + 3 * 32 + 23, 0x01), ["Malformed", "NonCanonical"])
    # TransferRequest word 2 = applicant (address), word 7 = chainId (uint64).
    bad("dirty address in a request", "TransferRequest", poke(req_enc, 2 + 2 * 32 + 5, 0xEE), ["Malformed", "NonCanonical"])
    bad("uint64 chain id over 2^64", "TransferRequest", poke(req_enc, 2 + 7 * 32, 0x01), ["Malformed", "NonCanonical"])
    bad("uint8 decimals over 255", "RegisterAsset", poke(reg_enc, 2 + 4 * 32 - 2, 0x01), ["Malformed", "NonCanonical"])
    bad("dirty padding after a string", "RegisterAsset", poke(reg_enc, len(reg_enc) - 1, 0x01), ["Malformed", "NonCanonical"])
    bad("non-standard offset (0x40 with a gap word)", "RegisterAsset",
        header("RegisterAsset") + (0x40).to_bytes(32, "big") + bytes(32) + reg_enc[2 + 32:],
        ["Malformed", "NonCanonical"])
    # NodeVote (dynamic) with invalid UTF-8 in the reason.
    bad_utf8_vote = dict(vote, reason="abc")
    bv = bytearray(header("UnsignedNodeVote") + abi_encode_struct("NodeVote", bad_utf8_vote))
    idx = bytes(bv).index(b"abc")
    bv[idx + 1] = 0xFF
    bad("invalid UTF-8 in a string", "NodeVote", bytes(bv), ["Malformed", "NonCanonical"])
    # String length pointing past the end.
    lv = bytearray(header("UnsignedNodeVote") + abi_encode_struct("NodeVote", bad_utf8_vote))
    lv[idx - 1] = 0xFF  # low byte of the length word: 255 bytes
    bad("string length past the end", "NodeVote", bytes(lv), ["Malformed"])

    # Signatures inside objects.
    good_sig = unhex(sv["signature"])
    vote_value_abi = abi_encode_struct("NodeVote", vote)

    def signed_vote(sig: bytes) -> bytes:
        return header("NodeVote") + eth_abi.encode([WIRE_SIGNED], [(vote_value_abi, sig)])

    s_int = int.from_bytes(good_sig[32:64], "big")
    high = good_sig[:32] + (SECP256K1_N - s_int).to_bytes(32, "big") + bytes([55 - good_sig[64]])
    bad("signature of 64 bytes", "Signed<NodeVote>", signed_vote(good_sig[:64]), ["Invalid"], "65 bytes")
    bad("signature of 66 bytes", "Signed<NodeVote>", signed_vote(good_sig + b"\x1b"), ["Invalid"], "65 bytes")
    bad("empty signature", "Signed<NodeVote>", signed_vote(b""), ["Invalid"], "65 bytes")
    bad("high-s signature", "Signed<NodeVote>", signed_vote(high), ["Invalid"], "low-s")
    bad("signature with v = 2", "Signed<NodeVote>", signed_vote(good_sig[:64] + b"\x02"), ["Invalid"])
    # v = 0/1 is refused: the one canonical form is 27/28.
    bad("signature with v = 0/1 instead of 27/28", "Signed<NodeVote>",
        signed_vote(good_sig[:64] + bytes([good_sig[64] - 27])), ["Invalid"], "v must be 27 or 28")
    bad("bare node vote decoded as a signed vote", "Signed<NodeVote>",
        header("NodeVote") + vote_value_abi, ["Malformed", "NonCanonical"])
    bad("signed vote decoded as a bare node vote", "NodeVote", sv_enc_b, ["WrongKind"])
    bad("signed vote whose value has a trailing byte", "Signed<NodeVote>",
        header("NodeVote") + eth_abi.encode([WIRE_SIGNED], [(vote_value_abi + b"\x00", good_sig)]),
        ["Malformed", "NonCanonical"])
    bad("signed vote whose value is a flow authorization", "Signed<NodeVote>",
        header("NodeVote") + eth_abi.encode([WIRE_SIGNED], [(abi_encode_struct("FlowAuthorization", auth["value"]), good_sig)]),
        ["Malformed", "NonCanonical"])
    bad("high-s applicant signature in a transbox", "TransBox",
        header("TransBox") + eth_abi.encode([tb_abi_type], [(to_abi("TransferRequest", REQUEST), high, [])]),
        ["Invalid"], "low-s")
    bad("64-byte approval in a transbox", "TransBox",
        header("TransBox") + eth_abi.encode([tb_abi_type], [(to_abi("TransferRequest", REQUEST), applicant_sig, [[levels[0][0][:64]]])]),
        ["Invalid"], "65 bytes")
    bad("high-s vote in a certificate", "QuorumCertificate",
        header("QuorumCertificate") + eth_abi.encode([WIRE_CERT], [(cert_subject, cert_content, [votes[0], high])]),
        ["Invalid"], "low-s")
    bad("high-s signature in a governance action", "SignedAction",
        header("Governance") + eth_abi.encode([WIRE_ACTION], [(KIND["FreezeEmployee"], abi_encode_struct("FreezeEmployee", freeze_value), [high])]),
        ["Invalid"], "low-s")
    for code in [0, 3, 9, 16, 255]:
        bad(f"unknown governance action {code}", "SignedAction",
            header("Governance") + eth_abi.encode([WIRE_ACTION], [(code, abi_encode_struct("FreezeEmployee", freeze_value), [])]),
            ["Invalid"], "unknown governance action")
    bad("governance action code and body disagree", "SignedAction",
        header("Governance") + eth_abi.encode([WIRE_ACTION], [(KIND["PauseTransfers"], abi_encode_struct("FreezeEmployee", freeze_value), [])]),
        ["Malformed", "NonCanonical"])
    ga = bytearray(action_encodings["FreezeEmployee"])
    ga[2 + 32 + 30] = 0x01  # action uint8 word holding 256 + 11
    bad("governance action code over 255", "SignedAction", bytes(ga), ["Malformed", "NonCanonical"])

    invalid = {
        "description": "Encodings every decoder must refuse with an error (never a panic). decodeAs = the type "
        "decoded; errors = the acceptable DecodeError variants (where the format only says 'refused', both "
        "Malformed and NonCanonical are accepted); messageContains = a substring of the error's Display. "
        "Inputs over MAX_ENCODED_LEN are generated by the Rust test, not committed.",
        "cases": inv,
    }
    return valid, invalid


# ---------------------------------------------------------------------------


def write(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(here)
    kv, ki = keys_vectors()
    ev, ei = eip712_vectors()
    cv, ci = encoding_vectors()
    write(os.path.join(out, "keys.json"), kv)
    write(os.path.join(out, "eip712.json"), ev)
    write(os.path.join(out, "encoding.json"), cv)
    write(os.path.join(out, "invalid", "keys.json"), ki)
    write(os.path.join(out, "invalid", "signatures.json"), ei)
    write(os.path.join(out, "invalid", "encoding.json"), ci)


if __name__ == "__main__":
    main()
