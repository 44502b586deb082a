// Decrypts keystore v3 files with an implementation independent of BOX
// (@noble/hashes scrypt/pbkdf2/keccak, @noble/ciphers AES-CTR, viem for the
// address), for the tests of `boxctl key new` (issue 17 item 1, issue 14 item 11).
//
// stdin: a JSON array of { "keystore": {...}, "password": "..." }
// stdout: a JSON array of checksummed addresses, or null where the MAC does not match.
import { scrypt } from '@noble/hashes/scrypt';
import { pbkdf2 } from '@noble/hashes/pbkdf2';
import { sha256 } from '@noble/hashes/sha2';
import { keccak_256 } from '@noble/hashes/sha3';
import { ctr } from '@noble/ciphers/aes.js';
import { privateKeyToAddress } from 'viem/accounts';

const hex = (s) => Buffer.from(s.replace(/^0x/i, ''), 'hex');
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const jobs = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const out = jobs.map(({ keystore, password }) => {
  const c = keystore.crypto ?? keystore.Crypto;
  const kp = c.kdfparams;
  const pw = new TextEncoder().encode(password);
  const dk =
    c.kdf === 'scrypt'
      ? scrypt(pw, hex(kp.salt), { N: kp.n, r: kp.r, p: kp.p, dkLen: kp.dklen, maxmem: 2 ** 30 })
      : pbkdf2(sha256, pw, hex(kp.salt), { c: kp.c, dkLen: kp.dklen });
  const ct = hex(c.ciphertext);
  const mac = keccak_256(Buffer.concat([Buffer.from(dk.slice(16, 32)), ct]));
  if (Buffer.from(mac).toString('hex') !== hex(c.mac).toString('hex')) return null;
  const key = ctr(dk.slice(0, 16), hex(c.cipherparams.iv)).decrypt(ct);
  return privateKeyToAddress(`0x${Buffer.from(key).toString('hex')}`);
});
process.stdout.write(JSON.stringify(out));
