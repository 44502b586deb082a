"""Keystore v3 files written the way other tools write them, for boxctl's interop tests.

Run with the venv that has eth-keyfile (pycryptodome, eth-hash): an implementation
independent of boxctl's. Every file is checked to decrypt with eth_keyfile before it
is written (except `crypto_capitalised_upper_hex.json`, whose spelling eth_keyfile does
not read; it is the same bytes as `odd_iv.json`'s source, re-spelled).

    /tmp/box-vectors/bin/python generate.py

Outputs (each with "password" and "priv" beside "json", like ethereum/tests):
- odd_iv.json: an IV whose first two bytes are zero, written without its leading zeros
  (hex of the IV as a number, odd length), as ethereumjs-wallet/web3.js 0.x wrote it.
- nfkc.json: encrypted under the NFKC form of a password typed with full-width letters
  and a ligature, as ethers v5 does; "password" is the form as typed.
- crypto_capitalised_upper_hex.json: "Crypto" capitalised (old geth/Mist), every hex
  field upper-case, "0x"-prefixed address in upper case.
"""
import json
import os
import unicodedata

from Crypto.Cipher import AES
from Crypto.Protocol.KDF import scrypt
from Crypto.Util import Counter
from eth_hash.auto import keccak
from eth_keyfile import decode_keyfile_json
from eth_keys import keys


def make(priv: bytes, password: bytes, salt: bytes, iv: bytes, n=1 << 12, r=8, p=1):
    derived = scrypt(password, salt, 32, N=n, r=r, p=p)
    ctr = Counter.new(128, initial_value=int.from_bytes(iv, "big"))
    ciphertext = AES.new(derived[:16], AES.MODE_CTR, counter=ctr).encrypt(priv)
    mac = keccak(derived[16:32] + ciphertext)
    address = keys.PrivateKey(priv).public_key.to_canonical_address().hex()
    return {
        "address": address,
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": {"iv": iv.hex()},
            "ciphertext": ciphertext.hex(),
            "kdf": "scrypt",
            "kdfparams": {"dklen": 32, "n": n, "r": r, "p": p, "salt": salt.hex()},
            "mac": mac.hex(),
        },
        "id": "0f3b4e8a-5d2c-4b1e-9a77-1c2d3e4f5a6b",
        "version": 3,
    }


def write(name, keyjson, password, priv, check=True):
    if check:
        assert decode_keyfile_json(keyjson, password.encode() if isinstance(password, str) else password) == priv
    with open(name, "w") as f:
        json.dump({"json": keyjson, "password": password, "priv": priv.hex()}, f, indent=2, ensure_ascii=False)
        f.write("\n")


# Fixed bytes, so the files are reproducible.
priv = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
salt = bytes(range(32))

# 1. An IV with leading zero bytes, written as a number.
iv = bytes.fromhex("000007f1ee4e2ba55396f4fd76e92c4c")
v = make(priv, b"odd iv password", salt, iv)
write("odd_iv.json", v, "odd iv password", priv)
v = json.loads(json.dumps(v))
v["crypto"]["cipherparams"]["iv"] = format(int.from_bytes(iv, "big"), "x")
assert len(v["crypto"]["cipherparams"]["iv"]) == 27
with open("odd_iv.json", "w") as f:
    json.dump({"json": v, "password": "odd iv password", "priv": priv.hex()}, f, indent=2)
    f.write("\n")

# 2. A password stored under its NFKC form (ethers v5 normalises before the KDF).
typed = "\uff30\uff41\uff53\uff53 \ufb01ve"  # "Ｐａｓｓ ﬁve"
normal = unicodedata.normalize("NFKC", typed)
assert normal == "Pass five" and normal != typed
v = make(priv, normal.encode(), salt, bytes.fromhex("1f2e3d4c5b6a79880123456789abcdef"))
assert decode_keyfile_json(v, normal.encode()) == priv
write("nfkc.json", v, typed, priv, check=False)

# 3. "Crypto" capitalised and upper-case hex everywhere.
v = make(priv, b"upper case", salt, bytes.fromhex("a1b2c3d4e5f60718293a4b5c6d7e8f90"))
assert decode_keyfile_json(v, b"upper case") == priv
c = v.pop("crypto")
c["cipherparams"]["iv"] = c["cipherparams"]["iv"].upper()
c["ciphertext"] = c["ciphertext"].upper()
c["kdfparams"]["salt"] = c["kdfparams"]["salt"].upper()
c["mac"] = c["mac"].upper()
v["Crypto"] = c
v["address"] = "0x" + v["address"].upper()
write("crypto_capitalised_upper_hex.json", v, "upper case", priv, check=False)
print("written")
