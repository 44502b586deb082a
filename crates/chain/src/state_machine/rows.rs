//! The byte layout of the store's per-block record rows: the `notarized`
//! table's (a block's [`NotarizedRecord`]s) and the `transfer_proofs`
//! table's ([`StoredTransferProof`]).
//!
//! Both were JSON, whose byte strings are arrays of numbers: about 3.6
//! bytes stored per byte, paid for every finished transfer for good (crate
//! README, "Store layout"). They are now written in a binary layout,
//! big-endian, after a version byte that JSON never starts with; "sized" is
//! a `u64` length then the bytes, as in the snapshot format (`super::tip`,
//! whose reader this uses):
//!
//! - notarized: `0x01`, a `u64` count, then per record the 32-byte subject
//!   id, the sized canonical `Subject` bytes and the sized canonical
//!   `QuorumCertificate` bytes;
//! - transfer proof: `0x01`, the `u64` height, the 32-byte transfer id, the
//!   32-byte row key, the sized row value, a `u64` count and that many
//!   32-byte siblings (root down).
//!
//! A row that starts with `[` or `{` is an earlier version's JSON and is
//! read as such, so a store is never rewritten to upgrade.

use super::tip::Reader;
use super::{NotarizedRecord, StoredTransferProof};
use box_core::commitment::RowProof;
use box_core::ids::{SubjectId, TransferId};
use box_core::notary::TransferProof;

/// The layout version both row kinds start with.
const BINARY: u8 = 0x01;

/// A block's notarized records as a `notarized` row.
pub(super) fn encode_notarized(records: &[NotarizedRecord]) -> Vec<u8> {
    let size: usize = records.iter().map(|r| 48 + r.payload.len() + r.certificate.len()).sum();
    let mut out = Vec::with_capacity(9 + size);
    out.push(BINARY);
    put_u64(&mut out, records.len());
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
            let what = "a notarized row";
            let mut r = Reader(&bytes[1..]);
            let count = r.u64(what)?;
            // Each record takes at least 48 bytes: a count beyond what is left is a lie.
            if count > (r.0.len() / 48) as u64 {
                return Err(format!("{what} claims {count} records, more than its bytes hold"));
            }
            let mut out = Vec::with_capacity(count as usize);
            for _ in 0..count {
                let subject = SubjectId(r.b256(what)?);
                let payload = r.sized(what)?.to_vec();
                let certificate = r.sized(what)?.to_vec();
                out.push(NotarizedRecord { subject, payload, certificate });
            }
            r.end(what)?;
            Ok(out)
        }
        Some(b) => Err(format!("a notarized row starts with byte {b:#04x}, not a known layout")),
        None => Ok(Vec::new()),
    }
}

/// A transfer's proven row as a `transfer_proofs` row.
pub(super) fn encode_proof(stored: &StoredTransferProof) -> Vec<u8> {
    let row = &stored.proof.row;
    let mut out = Vec::with_capacity(1 + 8 + 64 + 8 + row.value.len() + 8 + 32 * row.siblings.len());
    out.push(BINARY);
    out.extend_from_slice(&stored.height.to_be_bytes());
    out.extend_from_slice(stored.proof.transfer.0.as_slice());
    out.extend_from_slice(row.key.as_slice());
    put_sized(&mut out, &row.value);
    put_u64(&mut out, row.siblings.len());
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
            let what = "a transfer proof row";
            let mut r = Reader(&bytes[1..]);
            let height = r.u64(what)?;
            let transfer = TransferId(r.b256(what)?);
            let key = r.b256(what)?;
            let value = r.sized(what)?.to_vec();
            let count = r.u64(what)?;
            if count > (r.0.len() / 32) as u64 {
                return Err(format!("{what} claims {count} siblings, more than its bytes hold"));
            }
            let siblings = (0..count).map(|_| r.b256(what)).collect::<Result<Vec<_>, _>>()?;
            r.end(what)?;
            Ok(StoredTransferProof {
                height,
                proof: TransferProof { transfer, row: RowProof { key, value, siblings } },
            })
        }
        Some(b) => Err(format!("a transfer proof row starts with byte {b:#04x}, not a known layout")),
        None => Err("a transfer proof row is empty".into()),
    }
}

fn put_u64(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_be_bytes());
}

fn put_sized(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u64(out, bytes.len());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use box_core::B256;

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
        assert!(decode_proof(&long).unwrap_err().contains("1 bytes follow"));
        assert!(decode_notarized(&[0x7F]).unwrap_err().contains("not a known layout"));
    }
}
