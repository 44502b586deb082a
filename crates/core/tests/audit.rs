//! Offline verification of an exported history: blocks, proofs, tampering.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::B256;
use box_core::audit::{AuditError, verify_history};
use box_core::block::{Block, LoggedEntry, verify_inclusion};
use box_core::encoding::Canonical;
use box_core::ids::Timestamp;
use box_core::notary::{Entry, NotaryState, Subject};
use common::*;

/// Drives a deployment through a flow and two transfers, recording the log,
/// and seals it into blocks of `per_block` entries the way a leader would.
fn history(f: &Fixture, per_block: usize) -> Vec<Block> {
    history_at(f, per_block, 0)
}

/// [`history`] with entry `k` stamped `T0 + k·step`; with a step, the two
/// transfers also finish (one confirmed, one refused by the signer) and a
/// last entry four days on retires everything finished, so later blocks
/// carry retirements.
fn history_at(f: &Fixture, per_block: usize, step: u64) -> Vec<Block> {
    history_then(f, per_block, step, false)
}

/// [`history_at`]; with `more` (and a step), after everything retired the
/// history goes on: another transbox for the flow, decided and confirmed;
/// the first transfer's transbox and reports replayed (refused as retired);
/// the anchoring report sent again; and a last entry four more days on that
/// retires those too.
fn history_then(f: &Fixture, per_block: usize, step: u64, more: bool) -> Vec<Block> {
    let mut s = f.state();
    let mut log: Vec<LoggedEntry> = Vec::new();
    let mut days = 0;
    let mut record = |s: &mut NotaryState, entry: Entry, late: bool| {
        let index = log.len() as u64 + 1;
        days += u64::from(late) * 4;
        let at = T0.0 + days * 86_400 + index * step;
        s.apply(&entry, Timestamp(at));
        log.push(LoggedEntry { index, time: at, entry });
    };
    let decide = |s: &mut NotaryState, subject: Subject, record: &mut dyn FnMut(&mut NotaryState, Entry, bool)| {
        let id = subject.id(&f.domain).unwrap();
        record(s, Entry::Submit(subject), false);
        for n in 0..f.nodes.len() {
            // Companions vote only while the subject is pending (a refused one is not there).
            if s.subject(&id).is_none_or(|r| r.status != box_core::notary::SubjectStatus::Pending) {
                break;
            }
            let content = s.verdict(&id, T0).unwrap();
            record(s, f.vote(n, id, content, true, ""), false);
        }
    };
    decide(&mut s, Subject::Flow(f.flow.clone()), &mut record);
    for i in 0..3 {
        decide(&mut s, f.authorization(i, true), &mut record);
    }
    decide(
        &mut s,
        f.report(f.domain.flow_hash(&f.flow).0, box_core::typed::ReportStatus::Anchored, B256::repeat_byte(1), 0),
        &mut record,
    );
    for id in 1..=2 {
        decide(&mut s, Subject::Transfer(f.transbox(f.request(eth(1), id))), &mut record);
    }
    if step > 0 {
        use box_core::typed::ReportStatus;
        let [t1, t2] = [1, 2].map(|id| f.transbox(f.request(eth(1), id)).transfer_id(&f.domain).0);
        let tx = B256::repeat_byte(0x51);
        decide(&mut s, f.report(t1, ReportStatus::Broadcast, tx, 0), &mut record);
        decide(&mut s, f.report(t1, ReportStatus::Confirmed, tx, 0), &mut record);
        decide(&mut s, f.report(t2, ReportStatus::Refused, B256::ZERO, 0), &mut record);
        let nobody = f.vote(
            0,
            box_core::ids::SubjectId(B256::repeat_byte(0xEE)),
            box_core::ids::ContentHash(B256::ZERO),
            true,
            "",
        );
        record(&mut s, nobody.clone(), true);
        assert!(s.transfers().count() == 0 && s.retired_chain().0 > 0, "everything finished retired");
        if more {
            let t3 = f.transbox(f.request(eth(1), 3));
            let tid = t3.transfer_id(&f.domain).0;
            decide(&mut s, Subject::Transfer(t3), &mut record);
            decide(&mut s, f.report(tid, ReportStatus::Broadcast, tx, 1), &mut record);
            decide(&mut s, f.report(tid, ReportStatus::Confirmed, tx, 1), &mut record);
            record(&mut s, Entry::Submit(Subject::Transfer(f.transbox(f.request(eth(1), 1)))), false);
            record(&mut s, Entry::Submit(f.report(t1, ReportStatus::Confirmed, tx, 0)), false);
            let flow = f.domain.flow_hash(&f.flow).0;
            record(&mut s, Entry::Submit(f.report(flow, ReportStatus::Anchored, B256::repeat_byte(2), 0)), false);
            record(&mut s, nobody, true);
            assert!(s.transfers().count() == 0 && s.is_retired(&tid), "the later transfer finished and retired too");
        }
    }
    // Seal: replay in a second state to get the state hash after each block.
    let mut sealed = Vec::new();
    let mut replica = f.state();
    let mut parent = B256::ZERO;
    for (h, chunk) in log.chunks(per_block).enumerate() {
        for e in chunk {
            replica.apply(&e.entry, Timestamp(e.time));
        }
        let leader = &f.nodes[h % f.nodes.len()];
        let b = Block::seal(&f.domain, leader, h as u64 + 1, parent, chunk.to_vec(), replica.state_root().0, T0.0);
        parent = b.hash(&f.domain);
        sealed.push(b);
    }
    assert_eq!(replica.state_root(), s.state_root());
    sealed
}

#[test]
fn an_exported_history_verifies_against_the_genesis_alone() {
    let f = Fixture::new(2, 2, 1, 3);
    let blocks = history(&f, 5);
    let report = verify_history(&f.genesis, &blocks).unwrap();
    assert_eq!(report.blocks, blocks.len() as u64);
    assert_eq!(report.notarized, 7);
    assert_eq!(report.rejected, 0);
    // Every entry has an inclusion proof under its block's root.
    for b in &blocks {
        for (i, e) in b.entries.iter().enumerate() {
            assert!(verify_inclusion(&b.header.entriesRoot, &e.leaf(), &b.proof(i).unwrap()));
        }
    }
}

#[test]
fn every_flipped_byte_of_an_export_is_detected() {
    let f = Fixture::new(1, 2, 1, 3);
    let blocks = history(&f, 7);
    let bytes: Vec<Vec<u8>> = blocks.iter().map(Canonical::encode).collect();
    // Flip bytes spread across each encoded block (every 7th, to keep the test quick).
    for (bi, enc) in bytes.iter().enumerate() {
        for pos in (0..enc.len()).step_by(7) {
            let mut tampered = enc.clone();
            tampered[pos] ^= 0x40;
            let Ok(block) = Block::decode(&tampered) else { continue };
            let mut chain = blocks.clone();
            chain[bi] = block;
            assert!(verify_history(&f.genesis, &chain).is_err(), "flip at block {bi} byte {pos} went unnoticed");
        }
    }
}

#[test]
fn reordered_dropped_and_foreign_blocks_are_refused_with_the_height() {
    let f = Fixture::new(1, 2, 1, 3);
    let blocks = history(&f, 4);
    let mut swapped = blocks.clone();
    swapped.swap(1, 2);
    assert!(matches!(verify_history(&f.genesis, &swapped), Err(AuditError::Block { height: 3, .. })));
    let mut dropped = blocks.clone();
    dropped.remove(1);
    assert!(verify_history(&f.genesis, &dropped).is_err());
    // Re-sealed by a key that is not a node account.
    let mut foreign = blocks.clone();
    let b = &blocks[0];
    let mallory = box_core::crypto::SecretKey::from_label_unchecked("mallory");
    foreign[0] = Block::seal(&f.domain, &mallory, 1, B256::ZERO, b.entries.clone(), b.header.stateHash, b.header.time);
    let err = verify_history(&f.genesis, &foreign).unwrap_err().to_string();
    assert!(err.contains("not a registered node account"), "{err}");
    // A forged entry index at u64::MAX is refused, not an overflow panic (found by fuzzing).
    let mut entries = b.entries.clone();
    entries.truncate(1);
    entries[0].index = u64::MAX;
    let forged = Block::seal(&f.domain, &f.nodes[0], 1, B256::ZERO, entries, b.header.stateHash, b.header.time);
    let err = verify_history(&f.genesis, &[forged]).unwrap_err().to_string();
    assert!(err.contains("entry index overflows"), "{err}");
}

/// What a verifier holds, byte for byte: its checkpoint (state, parent,
/// height), the state root kept and recomputed, and the indexes' answers.
fn fingerprint(f: &Fixture, v: &box_core::audit::HistoryVerifier) -> (Vec<u8>, B256, B256, Vec<B256>, usize) {
    let s = v.state();
    let pending = s.pending().map(|(id, _)| id.0).collect();
    let window = s.history(&f.domain.flow_hash(&f.flow), &box_core::Address::ZERO, None).len();
    // The indexes answer as ones rebuilt from the rows would.
    let rebuilt = NotaryState::restore(&s.snapshot()).unwrap();
    assert_eq!(pending, rebuilt.pending().map(|(id, _)| id.0).collect::<Vec<_>>(), "pending index");
    assert_eq!(window, rebuilt.history(&f.domain.flow_hash(&f.flow), &box_core::Address::ZERO, None).len());
    assert_eq!(s.next_retirement(), rebuilt.next_retirement(), "deadline queue");
    (serde_json::to_vec(v).unwrap(), s.state_root().0, s.recomputed_state_root().0, pending, window)
}

#[test]
fn a_block_refused_after_its_entries_were_applied_leaves_the_verifier_byte_identical() {
    // Blocks are applied in place (no copy of the state per block) and undone
    // on refusal: forge every block with a wrong state hash (the check that
    // runs after its entries were applied), at every height of a history
    // whose blocks submit flows and transfers, vote and notarize.
    let f = Fixture::new(1, 2, 1, 3);
    // Two entries per block: subjects stay pending across blocks. Then a
    // history whose log time moves on: its blocks retire finished subjects
    // and transfers, and a refused one undoes those retirements too.
    for blocks in [history(&f, 2), history_at(&f, 2, 3600)] {
        let mut v = box_core::audit::HistoryVerifier::new(&f.genesis).unwrap();
        for b in &blocks {
            let before = fingerprint(&f, &v);
            let leader = &f.nodes[0];
            let forged = Block::seal(
                &f.domain,
                leader,
                b.header.height,
                b.header.parent,
                b.entries.clone(),
                B256::repeat_byte(7),
                b.header.time,
            );
            let err = v.push(&forged).unwrap_err().to_string();
            assert!(err.contains("differs from the sealed state hash"), "{err}");
            assert_eq!(fingerprint(&f, &v), before, "block {} changed the verifier", b.header.height);
            // The honest block then applies on the untouched state.
            v.push(b).unwrap();
        }
        assert_eq!(v.state().state_root().0, blocks.last().unwrap().header.stateHash);
    }
}

#[test]
fn an_undone_run_nests_inside_a_kept_one() {
    // `atomically` nests: an inner run undone leaves the outer run's writes,
    // and the outer run undone then takes the state back to where it began.
    let f = Fixture::new(1, 2, 1, 3);
    let blocks = history(&f, 4);
    let start = f.state();
    let mut s = start.clone();
    let r: Result<(), ()> = s.atomically(|s| {
        for e in &blocks[0].entries {
            s.apply(&e.entry, Timestamp(e.time));
        }
        let after_first = s.snapshot();
        let inner: Result<(), ()> = s.atomically(|s| {
            for e in &blocks[1].entries {
                s.apply(&e.entry, Timestamp(e.time));
            }
            Err(())
        });
        assert!(inner.is_err());
        assert_eq!(s.snapshot(), after_first);
        assert_eq!(s.state_root().0, blocks[0].header.stateHash);
        Err(())
    });
    assert!(r.is_err());
    assert_eq!(s.snapshot(), start.snapshot());
    assert_eq!(s.state_root(), start.state_root());
    assert_eq!(s.pending().count(), 0);
}

#[test]
fn a_checkpoint_resumes_where_it_was_written_and_a_corrupted_one_is_discarded_with_the_reason() {
    // The JSON checkpoints earlier versions wrote: still read, with the same checks.
    use box_core::checkpoint::{decode, encode_json as encode};
    let f = Fixture::new(1, 2, 1, 3);
    let blocks = history(&f, 4);
    let mut v = box_core::audit::HistoryVerifier::new(&f.genesis).unwrap();
    // Before the last block: transfers are on record.
    let half = blocks.len() - 1;
    for b in &blocks[..half] {
        v.push(b).unwrap();
    }
    let header = blocks[half - 1].sealed_header();
    let bytes = encode(&v, Some(&header));
    // Resumed: the same verifier, which then accepts the following blocks only.
    let mut resumed = decode(&f.genesis, &bytes).unwrap().verifier;
    assert_eq!(serde_json::to_vec(&resumed).unwrap(), serde_json::to_vec(&v).unwrap());
    assert!(resumed.push(&blocks[0]).is_err(), "an earlier block is not the next one");
    for b in &blocks[half..] {
        resumed.push(b).unwrap();
    }
    // The genesis checkpoint has no header.
    let fresh = box_core::audit::HistoryVerifier::new(&f.genesis).unwrap();
    assert_eq!(decode(&f.genesis, &encode(&fresh, None)).unwrap().verifier.height(), 0);
    // With retirements and deadlines still ahead (entries an hour apart):
    // the retired ids and the queue come back too.
    let retiring = history_at(&f, 4, 3600);
    let mut r = box_core::audit::HistoryVerifier::new(&f.genesis).unwrap();
    for b in &retiring[..retiring.len() - 1] {
        r.push(b).unwrap();
    }
    assert!(r.state().retired_chain().0 > 0 && r.state().next_retirement().is_some());
    let header = retiring[retiring.len() - 2].sealed_header();
    let back = decode(&f.genesis, &encode(&r, Some(&header))).unwrap();
    assert_eq!(serde_json::to_vec(&back.verifier).unwrap(), serde_json::to_vec(&r).unwrap());

    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let refused = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut j = json.clone();
        edit(&mut j);
        decode(&f.genesis, &serde_json::to_vec(&j).unwrap()).unwrap_err().to_string()
    };
    // A transfer's row edited: the rows no longer give the root it claims.
    let err = refused(&|j| {
        let transfers = j["verifier"]["state"]["transfers"].as_object_mut().unwrap();
        let t = transfers.values_mut().next().unwrap();
        t["submitted_at"] = serde_json::json!(12345);
    });
    assert!(err.contains("not the") && err.contains("it claims"), "{err}");
    // The claimed root edited.
    let err = refused(&|j| j["stateRoot"] = serde_json::json!(B256::repeat_byte(9)));
    assert!(err.contains("it claims"), "{err}");
    // Height, header and parent that do not agree.
    let err = refused(&|j| j["height"] = serde_json::json!(half + 1));
    assert!(err.contains("claims height"), "{err}");
    let err = refused(&|j| j["header"] = serde_json::to_value(blocks[half].sealed_header()).unwrap());
    assert!(err.contains("its header"), "{err}");
    let err = refused(&|j| j["verifier"]["parent"] = serde_json::json!(B256::repeat_byte(3)));
    assert!(err.contains("last block its verifier accepted"), "{err}");
    // Truncated bytes; another deployment's genesis.
    let err = decode(&f.genesis, &bytes[..bytes.len() / 2]).unwrap_err().to_string();
    assert!(err.contains("does not parse"), "{err}");
    let other = Fixture::new(1, 2, 1, 4);
    let err = decode(&other.genesis, &bytes).unwrap_err().to_string();
    assert!(err.contains("another genesis"), "{err}");
}

#[test]
fn a_binary_checkpoint_is_the_state_rebuilt_from_its_rows_and_refused_when_edited() {
    use box_core::checkpoint::{MAGIC, decode, encode, encode_json};
    let f = Fixture::new(1, 2, 1, 3);
    let blocks = history(&f, 4);
    let mut v = box_core::audit::HistoryVerifier::new(&f.genesis).unwrap();
    let half = blocks.len() - 1;
    for b in &blocks[..half] {
        v.push(b).unwrap();
    }
    let header = blocks[half - 1].sealed_header();
    let bytes = encode(&v, Some(&header));
    assert!(bytes.starts_with(MAGIC));
    let json = encode_json(&v, Some(&header));
    assert!(bytes.len() * 2 < json.len(), "binary {} bytes, JSON {}", bytes.len(), json.len());
    // The state rebuilt from its rows is the verifier written, field for
    // field, as is the one read from the old JSON form.
    let back = decode(&f.genesis, &bytes).unwrap();
    assert_eq!(serde_json::to_vec(&back.verifier).unwrap(), serde_json::to_vec(&v).unwrap());
    assert_eq!(back.header.as_ref(), Some(&header));
    let old = decode(&f.genesis, &json).unwrap().verifier;
    assert_eq!(serde_json::to_vec(&old).unwrap(), serde_json::to_vec(&v).unwrap());
    assert!(v.state().transfers().count() > 0 && v.state().pending().count() + v.state().flows().count() > 0);
    let mut resumed = back.verifier;
    assert!(resumed.push(&blocks[0]).is_err(), "an earlier block is not the next one");
    for b in &blocks[half..] {
        resumed.push(b).unwrap();
    }
    let fresh = box_core::audit::HistoryVerifier::new(&f.genesis).unwrap();
    assert_eq!(decode(&f.genesis, &encode(&fresh, None)).unwrap().verifier.height(), 0);
    // With retirements and deadlines still ahead (entries an hour apart):
    // the retired ids and the queue come back too.
    let retiring = history_at(&f, 4, 3600);
    let mut r = box_core::audit::HistoryVerifier::new(&f.genesis).unwrap();
    for b in &retiring[..retiring.len() - 1] {
        r.push(b).unwrap();
    }
    assert!(r.state().retired_chain().0 > 0 && r.state().next_retirement().is_some());
    let header = retiring[retiring.len() - 2].sealed_header();
    let back = decode(&f.genesis, &encode(&r, Some(&header))).unwrap();
    assert_eq!(serde_json::to_vec(&back.verifier).unwrap(), serde_json::to_vec(&r).unwrap());

    let refused = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut b = bytes.clone();
        edit(&mut b);
        decode(&f.genesis, &b).unwrap_err().to_string()
    };
    // The meta row edited (its count of applied entries): the rows no longer
    // give the root it claims. Layout (crate README, "Binary state"): the
    // state's magic, the genesis, the meta section (tag, count, id, length),
    // then its compacted words: the ABI offset, the genesis hash, `applied`.
    let state = bytes.windows(9).position(|w| w == box_core::notary::STATE_MAGIC).unwrap() + 9;
    let genesis_len = u32::from_be_bytes(bytes[state..state + 4].try_into().unwrap()) as usize;
    let words = state + 4 + genesis_len + 1 + 4 + 32 + 4;
    assert_eq!(bytes[words..words + 3], [31, 0, 0x20], "the ABI offset word");
    let hash = words + 3;
    let applied = hash + 2 + (32 - bytes[hash] as usize - bytes[hash + 1] as usize);
    let err = refused(&|b| b[applied + 2] ^= 1);
    assert!(err.contains("the state root of its rows is") && err.contains("it claims"), "{err}");
    // The claimed root, the height, the parent edited.
    let (height_at, root_at) = (MAGIC.len(), MAGIC.len() + 8);
    let err = refused(&|b| b[root_at] ^= 1);
    assert!(err.contains("it claims"), "{err}");
    let err = refused(&|b| b[height_at + 7] ^= 1);
    assert!(err.contains("its header (height"), "{err}");
    let err = refused(&|b| b[root_at + 32] ^= 1);
    assert!(err.contains("last block its verifier accepted"), "{err}");
    // Truncated; a section this version does not know; another deployment's genesis.
    let err = decode(&f.genesis, &bytes[..bytes.len() / 2]).unwrap_err().to_string();
    assert!(err.contains("cut short"), "{err}");
    let err = refused(&|b| b.extend_from_slice(&[0x7f, 0, 0, 0, 0]));
    assert!(err.contains("tag 0x7f, which this version does not know"), "{err}");
    let other = Fixture::new(1, 2, 1, 4);
    let err = decode(&other.genesis, &bytes).unwrap_err().to_string();
    assert!(err.contains("another genesis"), "{err}");
}

/// The binary state's two sections after the rows (crate README, "Binary
/// state"): the retired list's and the queue's offsets and sizes in `bytes`
/// (`to_binary` output ends with them).
fn retirement_sections(s: &NotaryState, bytes: &[u8]) -> (usize, usize) {
    let list = 1 + 4 + 33 * s.retired_chain().0 as usize;
    // The queue is `0xf1 · u32 n · n × (id, u64 deadline, u8 tag)`, last.
    let queue = (0..)
        .map(|n| 5 + 41 * n)
        .find(|q| {
            let at = bytes.len() - q;
            bytes[at] == 0xf1 && u32::from_be_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize * 41 + 5 == *q
        })
        .unwrap();
    let list_at = bytes.len() - queue - list;
    assert_eq!(bytes[list_at], 0xf0, "the retired list's tag");
    (list_at, list)
}

/// A checkpoint carries the retired ids and the retirement deadlines: taken
/// at any height of a history where transfers and subjects retire (mid-
/// retention too, with deadlines still ahead), it decodes to the state
/// written, and the follower resumed from it retires at the same blocks as
/// the uninterrupted one (every later block's state root matches).
#[test]
fn a_checkpoint_taken_mid_retention_resumes_and_retires_at_the_same_blocks() {
    use box_core::checkpoint::{decode, encode};
    let f = Fixture::new(1, 2, 1, 3);
    let blocks = history_at(&f, 2, 3600);
    let mut v = box_core::audit::HistoryVerifier::new(&f.genesis).unwrap();
    let mut roots = Vec::new();
    let mut whole = v.clone();
    for b in &blocks {
        whole.push(b).unwrap();
        roots.push((whole.state().state_root(), whole.state().retired_chain()));
    }
    let (mut mid_retention, mut resumed_retired) = (0, 0);
    for (h, b) in blocks.iter().enumerate() {
        v.push(b).unwrap();
        let header = b.sealed_header();
        let back = decode(&f.genesis, &encode(&v, Some(&header))).unwrap().verifier;
        assert_eq!(serde_json::to_vec(&back).unwrap(), serde_json::to_vec(&v).unwrap(), "at height {}", h + 1);
        let queued = v.state().next_retirement().is_some();
        let mut resumed = back;
        for (k, later) in blocks.iter().enumerate().skip(h + 1) {
            let before = resumed.state().retired_chain().0;
            resumed.push(later).unwrap_or_else(|e| panic!("resumed at {}, block {}: {e}", h + 1, k + 1));
            assert_eq!((resumed.state().state_root(), resumed.state().retired_chain()), roots[k]);
            if queued && resumed.state().retired_chain().0 > before {
                resumed_retired += 1;
            }
        }
        if queued && v.state().retired_chain().0 > 0 {
            mid_retention += 1;
        }
    }
    assert!(mid_retention > 0 && resumed_retired > 0, "checkpoints with retired ids and deadlines still ahead");
}

/// An edited retired list or queue is refused with the reason, as are a
/// state of version 2 without those sections and a version-1 state (no
/// retirement) holding an item whose deadline it could not carry; a
/// version-1 state with nothing finished is still read.
#[test]
fn an_edited_retired_list_or_queue_is_refused_and_a_version_1_state_is_read_when_it_lost_nothing() {
    let f = Fixture::new(1, 2, 1, 3);
    let blocks = history_at(&f, 2, 3600);
    let mut v = box_core::audit::HistoryVerifier::new(&f.genesis).unwrap();
    let (mut edited, mut v1_read, mut v1_refused) = (0, 0, 0);
    let refused = |bytes: &[u8]| NotaryState::from_binary(bytes).unwrap_err().to_string();
    for b in std::iter::once(None).chain(blocks.iter().map(Some)) {
        if let Some(b) = b {
            v.push(b).unwrap();
        }
        let s = v.state();
        let bytes = s.to_binary();
        assert_eq!(NotaryState::from_binary(&bytes).unwrap().snapshot(), s.snapshot());
        let (list_at, _) = retirement_sections(s, &bytes);
        // Without the two sections.
        let err = refused(&bytes[..list_at]);
        assert!(err.contains("no retired-list or no retirement-queue section"), "{err}");
        if s.retired_chain().0 >= 2 {
            // Two retired ids swapped, an id edited, an id listed twice.
            let first = list_at + 5;
            let mut b = bytes.clone();
            let (one, two) = (b[first..first + 33].to_vec(), b[first + 33..first + 66].to_vec());
            b[first..first + 33].copy_from_slice(&two);
            b[first + 33..first + 66].copy_from_slice(&one);
            let err = refused(&b);
            assert!(err.contains("the retired ids do not fold to the retired row's chain"), "{err}");
            let mut b = bytes.clone();
            b[first + 32] ^= 1;
            let err = refused(&b);
            assert!(err.contains("do not fold"), "{err}");
            let mut b = bytes.clone();
            b.copy_within(first..first + 33, first + 33);
            let err = refused(&b);
            assert!(err.contains("(or one is listed twice)"), "{err}");
            // One id fewer than the retired row counts.
            let mut b = bytes.clone();
            b.drain(first..first + 33);
            b[list_at + 4] -= 1;
            let err = refused(&b);
            assert!(err.contains("its retired row counts"), "{err}");
            edited += 1;
        }
        if s.next_retirement().is_some() {
            // A queued item's id edited: not in the live state.
            let mut b = bytes.clone();
            let last = bytes.len() - 41;
            b[last + 31] ^= 0x80;
            let err = refused(&b);
            assert!(err.contains("an item due to retire is not in the live state"), "{err}");
        }
        if s.retired_chain().0 == 0 {
            // Version 1: the same rows, no list, no queue.
            let mut old = bytes[..list_at].to_vec();
            old[8] = 1;
            if s.next_retirement().is_none() {
                assert_eq!(NotaryState::from_binary(&old).unwrap().snapshot(), s.snapshot());
                v1_read += 1;
            } else {
                let err = refused(&old);
                assert!(err.contains("of version 1") && err.contains("deadline is lost"), "{err}");
                v1_refused += 1;
            }
        }
    }
    assert!(edited > 0 && v1_read > 0 && v1_refused > 0, "{edited} {v1_read} {v1_refused}");
}

/// A node reads back the checkpoint it saved in its own store
/// (`decode_own`) without folding the retired ids it lists again, the cost
/// of its start that grew with history: two ids swapped, which `decode`
/// refuses for the fold, it takes; an id listed twice, or a state root that
/// is not its rows', both refuse; an indexed checkpoint it never writes is
/// refused as by `decode`.
#[test]
fn a_nodes_own_checkpoint_is_read_back_without_folding_its_retired_ids_again() {
    use box_core::checkpoint::{MAGIC, decode, decode_own, encode, encode_indexed};
    let f = Fixture::new(1, 2, 1, 3);
    let blocks = history_at(&f, 2, 3600);
    let mut v = box_core::audit::HistoryVerifier::new(&f.genesis).unwrap();
    let mut swapped = 0;
    for b in &blocks {
        v.push(b).unwrap();
        let header = b.sealed_header();
        let cp = encode(&v, Some(&header));
        let own = decode_own(&f.genesis, &cp).unwrap().verifier;
        assert_eq!(serde_json::to_vec(&own).unwrap(), serde_json::to_vec(&v).unwrap());
        let state = v.state().to_binary();
        let at = cp.len() - state.len();
        assert_eq!(&cp[at..], &state[..], "the state is the checkpoint's last part");
        let mut root = cp.clone();
        root[MAGIC.len() + 8] ^= 1;
        for (what, bytes) in [("decode", decode(&f.genesis, &root)), ("decode_own", decode_own(&f.genesis, &root))] {
            let err = bytes.err().unwrap_or_else(|| panic!("{what} took an edited state root")).0;
            assert!(err.contains("the state root of its rows is"), "{what}: {err}");
        }
        if v.state().retired_chain().0 >= 2 {
            let (list_at, _) = retirement_sections(v.state(), &state);
            let first = at + list_at + 5;
            let mut b = cp.clone();
            let (one, two) = (b[first..first + 33].to_vec(), b[first + 33..first + 66].to_vec());
            b[first..first + 33].copy_from_slice(&two);
            b[first + 33..first + 66].copy_from_slice(&one);
            assert!(decode(&f.genesis, &b).err().unwrap().0.contains("do not fold"));
            let taken = decode_own(&f.genesis, &b).unwrap();
            assert_eq!(taken.verifier.state().retired_chain(), v.state().retired_chain());
            let mut b = cp.clone();
            b.copy_within(first..first + 33, first + 33);
            for err in [decode(&f.genesis, &b).err().unwrap().0, decode_own(&f.genesis, &b).err().unwrap().0] {
                assert!(err.contains("(or one is listed twice)"), "{err}");
            }
            if let Some(indexed) = encode_indexed(&v, Some(&header), 1) {
                let err = decode_own(&f.genesis, &indexed).err().unwrap().0;
                assert!(err.contains("which only that follower can read back"), "{err}");
            }
            swapped += 1;
        }
    }
    assert!(swapped > 0, "a history with retired ids");
}

/// A follower that keeps the retired ids in its own index (checkpoint
/// version 2) resumes from a checkpoint that lists none of them, and still
/// refuses a replay of a retired transfer, from its index's answers. A
/// block applied without asking the index, or with an index that lost the
/// id, is refused rather than accepting the replay.
#[test]
fn a_follower_with_the_retired_ids_in_its_own_index_resumes_without_them_and_still_refuses_a_replay() {
    use box_core::checkpoint::{MAGIC_INDEXED, decode, decode_indexed as decode_own, encode, encode_indexed};
    use std::collections::HashSet;
    let f = Fixture::new(1, 2, 1, 3);
    let blocks = history_at(&f, 2, 3600);
    let mut v = box_core::audit::HistoryVerifier::new(&f.genesis).unwrap();
    for b in &blocks {
        v.push(b).unwrap();
    }
    let (count, _) = v.state().retired_chain();
    let ids: Vec<(u8, B256)> = v.state().retired_after(0).unwrap().to_vec();
    assert_eq!(ids.len() as u64, count);
    // The next block replays transfer 1's transbox, four more days on: the
    // chain records the refusal, which changes the state root.
    let last = blocks.last().unwrap();
    let replay = Entry::Submit(Subject::Transfer(f.transbox(f.request(eth(1), 1))));
    let tid = f.transbox(f.request(eth(1), 1)).transfer_id(&f.domain);
    let index = last.entries.last().unwrap().index + 1;
    let time = last.entries.last().unwrap().time + 4 * 86_400;
    let mut chain_state = v.state().clone();
    let events = chain_state.apply(&replay, Timestamp(time));
    assert!(
        matches!(&events[..], [box_core::notary::Event::Refused { reason }] if reason.contains("retired")),
        "{events:?}"
    );
    let next = Block::seal(
        &f.domain,
        &f.nodes[0],
        last.header.height + 1,
        v.parent(),
        vec![LoggedEntry { index, time, entry: replay }],
        chain_state.state_root().0,
        T0.0,
    );

    // The checkpoint for an index holding every id lists none of them.
    let header = last.sealed_header();
    let whole = encode(&v, Some(&header));
    let bytes = encode_indexed(&v, Some(&header), count).unwrap();
    assert!(bytes.starts_with(MAGIC_INDEXED));
    assert_eq!(whole.len() + 8 - bytes.len(), ids.len() * 33, "33 bytes less per retired id, 8 more for the count");
    assert!(encode_indexed(&v, Some(&header), count + 1).is_none(), "more than ever retired");
    // Only the follower that keeps the index reads it back: a node's
    // snapshot, a bootstrap or an auditor's file cannot answer for the ids.
    let refused = decode(&f.genesis, &bytes).unwrap_err().to_string();
    assert!(refused.contains("follower's own index"), "{refused}");
    let resumed = decode_own(&f.genesis, &bytes).unwrap().verifier;
    assert_eq!(resumed.state().state_root(), v.state().state_root());
    assert_eq!(resumed.state().retired_indexed(), count);
    assert_eq!(resumed.state().retired_after(count), Some(&[][..]));
    assert_eq!(resumed.state().retired_after(0), None, "the indexed ids are not held");
    let mut edited = bytes.clone();
    let at = edited.len() - resumed.state().to_binary().len() - 8;
    edited[at + 7] ^= 1;
    let err = decode_own(&f.genesis, &edited).unwrap_err().to_string();
    assert!(err.contains("retired row counts"), "{err}");

    // What the index must answer for the replay: the transbox's subject and its transfer.
    let lookups = resumed.retired_lookups(&next);
    assert!(lookups.contains(&tid.0), "{lookups:?}");
    // Not asked: refused, never taken as a new transfer.
    let err = resumed.clone().push(&next).unwrap_err().to_string();
    assert!(err.contains("was not asked"), "{err}");
    // An index that lost the id: the replay would pass, so the root differs.
    let err = resumed.clone().push_answered(&next, &HashSet::new()).unwrap_err().to_string();
    assert!(err.contains("differs from the sealed state hash"), "{err}");
    // The index's true answers: accepted, the replay refused as on the chain.
    let index: HashSet<B256> = ids.iter().map(|(_, id)| *id).collect();
    let mut follower = resumed;
    let events = follower.push_answered(&next, &index).unwrap();
    assert!(matches!(&events[..], [box_core::notary::Event::Refused { reason }] if reason.contains("retired")));
    assert_eq!(follower.state().state_root(), chain_state.state_root());
    // Persisted again for the same index: still nothing listed, same root.
    let again = encode_indexed(&follower, Some(&next.sealed_header()), count).unwrap();
    let back = decode_own(&f.genesis, &again).unwrap().verifier;
    assert_eq!(back.state().state_root(), chain_state.state_root());
    // `encode` of an indexed state writes the indexed form for its index.
    assert_eq!(encode(&follower, Some(&next.sealed_header())), again);
    assert!(encode_indexed(&follower, None, count - 1).is_none(), "ids the index holds are not at hand");
}

/// A follower resumed from an indexed checkpoint at any height past a
/// retirement, answered by an index holding exactly the ids retired by then,
/// verifies every later block to the same roots as the uninterrupted one:
/// the lookups a block makes (a new transbox, its notarization, its
/// reports, a replayed transbox and report, an anchoring report) are all
/// among those it asks.
#[test]
fn a_follower_resumed_with_an_index_at_any_height_verifies_the_rest_of_the_history() {
    use box_core::checkpoint::{decode_indexed, encode_indexed};
    use std::collections::HashSet;
    let f = Fixture::new(1, 2, 1, 3);
    let blocks = history_then(&f, 2, 3600, true);
    let mut whole = box_core::audit::HistoryVerifier::new(&f.genesis).unwrap();
    let mut states = Vec::new();
    for b in &blocks {
        whole.push(b).unwrap();
        states.push(whole.clone());
    }
    let mut resumed_with_ids = 0;
    for (h, at) in states.iter().enumerate() {
        let (count, _) = at.state().retired_chain();
        if count == 0 {
            continue;
        }
        resumed_with_ids += 1;
        let index: HashSet<B256> = at.state().retired_after(0).unwrap().iter().map(|(_, id)| *id).collect();
        let bytes = encode_indexed(at, Some(&blocks[h].sealed_header()), count).unwrap();
        let mut follower = decode_indexed(&f.genesis, &bytes).unwrap().verifier;
        for (k, later) in blocks.iter().enumerate().skip(h + 1) {
            let found = follower.retired_lookups(later).into_iter().filter(|id| index.contains(id)).collect();
            follower
                .push_answered(later, &found)
                .unwrap_or_else(|e| panic!("resumed at {}, block {}: {e}", h + 1, k + 1));
            assert_eq!(follower.state().state_root(), states[k].state().state_root());
        }
    }
    assert!(resumed_with_ids > 3, "resumed past the first retirement at several heights");
}
