//! Shared checks for the `decode_*` fuzz targets (see README.md).
//!
//! Every check decodes untrusted bytes and, when they decode, asserts the
//! round trip the format promises. Any panic here or inside box-core is a bug.

use box_core::address::{checksummed, parse_address};
use box_core::audit::verify_history;
use box_core::block::{Block, LoggedEntry, merkle_root, verify_inclusion};
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::ids::{ChainId, ContentHash, DeploymentId};
use box_core::notary::{Entry, NotaryState, Subject};
use box_core::transbox::{TransBox, below_digest};
use box_core::typed::{Domain, Genesis, GenesisAsset, GenesisNode};
use box_core::{Address, Amount, B256};
use std::fmt::Debug;

/// The domain used where a check needs one (subject ids, transfer ids).
pub fn domain() -> Domain {
    Domain { chain_id: ChainId(31337), deployment: DeploymentId(B256::repeat_byte(0xB0)) }
}

/// The node keys of [`genesis`] (label-derived: test keys).
pub fn node_keys() -> Vec<SecretKey> {
    (0..3).map(|i| SecretKey::from_label_unchecked(&format!("node-{i}"))).collect()
}

/// A valid genesis under [`domain`] (3 key holders, the 3 [`node_keys`], one
/// token), used by `decode_block` to replay decoded blocks against and by the
/// seed-corpus generator.
pub fn genesis() -> Genesis {
    let d = domain();
    Genesis {
        deploymentId: d.deployment.0,
        chainId: d.chain_id.0,
        keyHolders: (0..3).map(|i| SecretKey::from_label_unchecked(&format!("key-holder-{i}")).address()).collect(),
        nodes: node_keys()
            .iter()
            .enumerate()
            .map(|(i, k)| GenesisNode {
                nodeId: i as u64 + 1,
                endpoint: format!("127.0.0.1:{}", 7000 + i),
                account: k.address(),
            })
            .collect(),
        signer: SecretKey::from_label_unchecked("signer").address(),
        assets: vec![GenesisAsset { token: Address::repeat_byte(0x70), symbol: "TKN".into(), decimals: 6 }],
        time: 1_800_000_000,
    }
}

/// Decodes `data` as a `T`; if it decodes, `encode()` must give back exactly
/// `data`, decoding that again must give the same value, and the content hash
/// must be the hash of `data`.
pub fn canonical<T: Canonical + Debug + PartialEq>(data: &[u8]) -> Option<T> {
    let value = T::decode(data).ok()?;
    let bytes = value.encode();
    assert_eq!(bytes, data, "decode then encode did not give back the input");
    assert_eq!(T::decode(&bytes).as_ref(), Ok(&value), "re-decoding the encoding changed the value");
    assert_eq!(value.content_hash(), ContentHash::of(data));
    Some(value)
}

/// [`canonical`], for targets with no further checks.
pub fn round_trip<T: Canonical + Debug + PartialEq>(data: &[u8]) {
    let _ = canonical::<T>(data);
}

/// [`canonical`] for a transbox, plus its derived ids (which must not panic).
pub fn transbox(data: &[u8]) {
    if let Some(tb) = canonical::<TransBox>(data) {
        let _ = tb.transfer_id(&domain());
        assert_eq!(tb.hash().0, ContentHash::of(data).0);
        let _ = below_digest(&tb.applicant_signature, &tb.levels);
        let _ = tb.approval_for(tb.levels.len() + 1);
    }
}

/// [`canonical`] for a sealed block, plus: every entry's inclusion proof
/// verifies against the Merkle root of the entries, the sealer recovers or
/// errs, and auditing the block as height 1 of [`genesis`]'s history errs
/// instead of panicking.
pub fn block(data: &[u8]) {
    if let Some(b) = canonical::<Block>(data) {
        let leaves: Vec<B256> = b.entries.iter().map(LoggedEntry::leaf).collect();
        let root = merkle_root(&leaves);
        for (i, leaf) in leaves.iter().enumerate() {
            let proof = b.proof(i).unwrap_or_else(|| panic!("no proof for entry {i} of {}", leaves.len()));
            assert!(verify_inclusion(&root, leaf, &proof), "proof of entry {i} of {} fails", leaves.len());
        }
        assert!(b.proof(leaves.len()).is_none());
        let _ = b.sealer(&domain());
        let _ = b.hash(&domain());
        let _ = verify_history(&genesis(), std::slice::from_ref(&b));
    }
}

fn subject_checks(s: &Subject, data: &[u8]) {
    // Recovers the authorization's signer: arbitrary signatures must give an
    // error, never a panic.
    let _ = s.id(&domain());
    assert_eq!(s.content(), ContentHash::of(data));
    let _ = s.kind();
}

/// [`canonical`] for a subject, plus its id and content hash.
pub fn subject(data: &[u8]) {
    if let Some(s) = canonical::<Subject>(data) {
        subject_checks(&s, data);
    }
}

/// [`canonical`] for a log entry, plus the subject checks for a submission.
pub fn entry(data: &[u8]) {
    if let Some(Entry::Submit(s)) = canonical::<Entry>(data) {
        subject_checks(&s, data);
    }
}

/// `NotaryState::restore`: snapshot bytes are JSON, so the input itself need
/// not be canonical, but a restored state must snapshot to bytes that restore
/// to the same state and snapshot identically (a fixed point).
pub fn snapshot(data: &[u8]) {
    if let Ok(state) = NotaryState::restore(data) {
        let snap = state.snapshot();
        let again = match NotaryState::restore(&snap) {
            Ok(s) => s,
            Err(e) => panic!("a restored state's own snapshot does not restore: {e}"),
        };
        assert_eq!(again, state, "snapshot/restore changed the state");
        assert_eq!(again.snapshot(), snap, "snapshot is not a fixed point");
        assert_eq!(again.state_root(), state.state_root());
    }
}

/// `Amount::parse`: byte 0 is the decimals, the rest the text. A parsed
/// amount must format to a string that parses back to the same amount, and
/// that string must be the canonical form (no trailing fractional zeros).
pub fn amount(data: &[u8]) {
    let Some((&decimals, text)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(text) else { return };
    if let Ok(a) = Amount::parse(text, decimals) {
        let formatted = a.format(decimals);
        assert_eq!(Amount::parse(&formatted, decimals), Ok(a), "format {formatted:?} does not parse back");
        assert_eq!(Amount::parse(&formatted, decimals).map(|b| b.format(decimals)), Ok(formatted.clone()));
        assert!(!formatted.contains('.') || !formatted.ends_with('0'), "trailing zero in {formatted:?}");
    }
}

/// `parse_address`: an accepted address parses back from its checksummed and
/// lower-case forms, and accepted mixed-case input is exactly the checksum.
pub fn address(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(a) = parse_address(text) {
        let sum = checksummed(&a);
        assert_eq!(parse_address(&sum), Ok(a));
        assert_eq!(parse_address(&sum.to_lowercase()), Ok(a));
        let hex = &text.trim()[2..];
        if hex.bytes().any(|b| b.is_ascii_lowercase()) && hex.bytes().any(|b| b.is_ascii_uppercase()) {
            assert_eq!(hex, &sum[2..], "accepted mixed-case input that is not the checksum");
        } else {
            assert!(hex.eq_ignore_ascii_case(&sum[2..]));
        }
    }
}
