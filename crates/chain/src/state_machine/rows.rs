//! The byte layout of the store's per-block record rows: the `notarized`
//! table's (a block's [`NotarizedRecord`]s) and the `transfer_proofs`
//! table's ([`StoredTransferProof`]).
//!
//! Both were JSON, whose byte strings are arrays of numbers: about 3.6
//! bytes stored per byte, paid for every finished transfer for good (crate
//! README, "Store layout"). They are now written in a binary layout, big-endian,
//! after a version byte that JSON never starts with:
//!
//! - notarized: `0x01`, a `u32` count, then per record the 32-byte subject
//!   id, a `u32` length and the canonical `Subject` bytes, a `u32` length
//!   and the canonical `QuorumCertificate` bytes;
//! - transfer proof: `0x01`, the `u64` height, the 32-byte transfer id, the
//!   32-byte row key, a `u32` length and the row's value bytes, a `u16`
//!   count and that many 32-byte siblings (root down).
//!
//! A row that starts with `[` or `{` is an earlier version's JSON and is
//! read as such, so a store is never rewritten to upgrade.

use super::{NotarizedRecord, StoredTransferProof};
use box_core::B256;
use box_core::commitment::RowProof;
use box_core::ids::{SubjectId, TransferId};
use box_core::notary::TransferProof;

/// The layout version both row kinds start with.
const BINARY: u8 = 0x01;

/// A block's notarized records as a `notarized` row.
pub(super) fn encode_notarized(records: &[NotarizedRecord]) -> Vec<u8> {
    let size: usize = records.iter().map(|r| 40 + r.payload.len() + r.certificate.len()).sum();
    let mut out = Vec::with_capacity(5 + size);
    out.push(BINARY);
    // A block holds far fewer than 2^32 records (it is at most 1 MiB).
    out.extend_from_slice(&(records.len() as u32).to_be_bytes());
    for r in records {
        out.extend_from_slice(r.subject.0.as_slice());
        put_sized(&mut out, &r.payload);
        put_sized(&mut out, &r.certificate);
    }
    out
}

/// A `notarized` row back, either layout. `Err` says what does not read.
pub(super) fn decode_notarized(bytes: &[u8]) -> Result<Vec<NotarizedRecord>, String> {
    match bytes.first() {
        Some(b'[') => serde_json::from_slice(bytes).map_err(|e| format!("a notarized row (JSON) does not read: {e}")),
        Some(&BINARY) => {
            let mut r = Reader(&bytes[1..]);
            let count = u32::from_be_bytes(r.array()?);
            let mut out = Vec::new();
            for _ in 0..count {
                let subject = SubjectId(r.b256()?);
                let payload = r.sized()?.to_vec();
                let certificate = r.sized()?.to_vec();
                out.push(NotarizedRecord { subject, payload, certificate });
            }
            r.end()?;
            Ok(out)
        }
        Some(b) => Err(format!("a notarized row starts with byte {b:#04x}, not a known layout")),
        None => Ok(Vec::new()),
    }
}

/// A transfer's proven row as a `transfer_proofs` row.
pub(super) fn encode_proof(stored: &StoredTransferProof) -> Vec<u8> {
    let row = &stored.proof.row;
    let mut out = Vec::with_capacity(1 + 8 + 64 + 4 + row.value.len() + 2 + 32 * row.siblings.len());
    out.push(BINARY);
    out.extend_from_slice(&stored.height.to_be_bytes());
    out.extend_from_slice(stored.proof.transfer.0.as_slice());
    out.extend_from_slice(row.key.as_slice());
    put_sized(&mut out, &row.value);
    // A path has at most 256 siblings (one per key bit).
    out.extend_from_slice(&(row.siblings.len() as u16).to_be_bytes());
    for s in &row.siblings {
        out.extend_from_slice(s.as_slice());
    }
    out
}

/// A `transfer_proofs` row back, either layout.
pub(super) fn decode_proof(bytes: &[u8]) -> Result<StoredTransferProof, String> {
    match bytes.first() {
        Some(b'{') => {
            serde_json::from_slice(bytes).map_err(|e| format!("a transfer proof row (JSON) does not read: {e}"))
        }
        Some(&BINARY) => {
            let mut r = Reader(&bytes[1..]);
            let height = u64::from_be_bytes(r.array()?);
            let transfer = TransferId(r.b256()?);
            let key = r.b256()?;
            let value = r.sized()?.to_vec();
            let count = u16::from_be_bytes(r.array()?);
            let siblings = (0..count).map(|_| r.b256()).collect::<Result<Vec<_>, _>>()?;
            r.end()?;
            Ok(StoredTransferProof {
                height,
                proof: TransferProof { transfer, row: RowProof { key, value, siblings } },
            })
        }
        Some(b) => Err(format!("a transfer proof row starts with byte {b:#04x}, not a known layout")),
        None => Err("a transfer proof row is empty".into()),
    }
}

fn put_sized(out: &mut Vec<u8>, bytes: &[u8]) {
    // A record is part of a block (at most 1 MiB): its length fits.
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Reads a row front to back; every read names what was cut short.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!("a row ends {} bytes short", n - self.0.len()));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn b256(&mut self) -> Result<B256, String> {
        Ok(B256::from(self.array::<32>()?))
    }

    fn end(&self) -> Result<(), String> {
        if self.0.is_empty() { Ok(()) } else { Err(format!("a row has {} bytes past its end", self.0.len())) }
    }

    fn sized(&mut self) -> Result<&'a [u8], String> {
        let n = u32::from_be_bytes(self.array()?) as usize;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn records() -> Vec<NotarizedRecord> {
        vec![
            // Bytes spread over 0..=255, as hashes and signatures are.
            NotarizedRecord {
                subject: SubjectId(B256::repeat_byte(1)),
                payload: (0..300u32).map(|i| (i * 37 % 256) as u8).collect(),
                certificate: (0..140u32).map(|i| (i * 101 % 256) as u8).collect(),
            },
            NotarizedRecord { subject: SubjectId(B256::repeat_byte(2)), payload: vec![], certificate: vec![7] },
        ]
    }

    fn proof() -> StoredTransferProof {
        let row =
            RowProof { key: B256::repeat_byte(5), value: vec![0xAB; 96], siblings: vec![B256::repeat_byte(6); 17] };
        StoredTransferProof { height: 41, proof: TransferProof { transfer: TransferId(B256::repeat_byte(4)), row } }
    }

    #[test]
    fn rows_round_trip_in_the_binary_layout_and_earlier_json_rows_still_read() {
        let rs = records();
        let bin = encode_notarized(&rs);
        assert_eq!(bin[0], BINARY);
        assert_eq!(decode_notarized(&bin).unwrap(), rs);
        assert_eq!(decode_notarized(&serde_json::to_vec(&rs).unwrap()).unwrap(), rs);
        assert_eq!(decode_notarized(&encode_notarized(&[])).unwrap(), vec![]);
        let json = serde_json::to_vec(&rs).unwrap();
        assert!(bin.len() * 3 < json.len(), "binary {} bytes, JSON {}", bin.len(), json.len());

        let p = proof();
        let bin = encode_proof(&p);
        assert_eq!(decode_proof(&bin).unwrap(), p);
        assert_eq!(decode_proof(&serde_json::to_vec(&p).unwrap()).unwrap(), p);
    }

    #[test]
    fn a_cut_or_unknown_row_is_an_error_not_a_panic() {
        let bin = encode_notarized(&records());
        for n in 1..bin.len() {
            assert!(decode_notarized(&bin[..n]).is_err(), "{n} bytes read");
        }
        let proof = encode_proof(&proof());
        for n in 0..proof.len() {
            assert!(decode_proof(&proof[..n]).is_err(), "{n} bytes read");
        }
        let mut long = proof.clone();
        long.push(0);
        assert!(decode_proof(&long).unwrap_err().contains("past its end"));
        assert!(decode_notarized(&[0x7F]).unwrap_err().contains("not a known layout"));
    }
}
