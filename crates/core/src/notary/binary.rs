//! The notary state as compact bytes: its genesis, its rows, and the
//! retirement state that is not a row (crate README, "Binary state"). The
//! rows are the ones the state commitment is defined over (README, "State
//! commitment"), so the state taken back from them is the one whose root
//! they give; an added kind of row (a new tag) is one more section.
//!
//! Layout (integers big-endian):
//! `"BOXSTATE"` · version `u8` (2) · `u32` length ‖ ABI encoding of the
//! genesis · then per tag, ascending: tag `u8` · `u32` row count · per row,
//! ascending by id: id (32 bytes) · the row's value compacted
//! ([`put_compact`]: ABI words without their zero bytes) · then the retired
//! list (tag `0xf0` · `u32` count · per id, in retirement order: its row tag
//! `u8` · id) and the retirement queue (tag `0xf1` · `u32` count · per item,
//! ascending by id: id · deadline `u64` · its row tag `u8`). Version 1 (no
//! retirement: no row `0x08`, no list, no queue) is still read.
//!
//! What it does not do: check the root against anything. The caller
//! compares [`NotaryState::state_root`] of the result with the root it
//! trusts (a checkpoint's header, a certified block).

use super::retire::{Due, Retired};
use super::rows::{
    AddressBookLeaf, AssetLeaf, EquivocatorLeaf, FlowLeaf, MEMBER, MetaLeaf, NodeLeaf, RetiredLeaf, SMALL, SubjectLeaf,
    TransferLeaf, tag,
};
use super::{FlowRecord, NotaryState, StateError, SubjectRecord, SubjectStatus, TransferRecord};
use crate::address_book::BookEntry;
use crate::amount::Amount;
use crate::asset::AssetRegistry;
use crate::encoding::Canonical;
use crate::ids::{ContentHash, FlowHash, SubjectId, Timestamp, TransferId};
use crate::notary::{FlowStatus, Subject, TransferStatus};
use crate::quorum::{NodeRegistry, QuorumCertificate};
use crate::typed::{Genesis, GenesisNode, Signed};
use alloy::primitives::{Address, B256, Signature, keccak256};
use alloy::sol_types::SolValue;
use std::collections::{BTreeMap, BTreeSet};

/// The first bytes of an encoded state (magic and version 2).
pub const STATE_MAGIC: &[u8; 9] = b"BOXSTATE\x02";

/// The first bytes of a state of version 1, written before retirement
/// existed (no retired row, list or queue).
const STATE_MAGIC_V1: &[u8; 9] = b"BOXSTATE\x01";

/// The section of the retired ids, in retirement order (not a row).
const RETIRED_LIST: u8 = 0xf0;

/// The section of the retirement queue (not a row).
const RETIRING_QUEUE: u8 = 0xf1;

/// Every row tag version 1 wrote and reads, ascending.
const TAGS_V1: [u8; 11] = [
    tag::META,
    tag::NODE,
    tag::ASSET,
    tag::FROZEN,
    tag::BLOCKED,
    tag::EQUIVOCATOR,
    tag::CEREMONY,
    tag::ADDRESS_BOOK,
    tag::FLOW,
    tag::TRANSFER,
    tag::SUBJECT,
];

/// Every section tag this version writes and reads, ascending.
const TAGS: [u8; 14] = [
    tag::META,
    tag::NODE,
    tag::ASSET,
    tag::FROZEN,
    tag::BLOCKED,
    tag::EQUIVOCATOR,
    tag::CEREMONY,
    tag::ADDRESS_BOOK,
    tag::RETIRED,
    tag::FLOW,
    tag::TRANSFER,
    tag::SUBJECT,
    RETIRED_LIST,
    RETIRING_QUEUE,
];

/// Reads the layout's fields, refusing a short input with what was cut.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }
    pub(crate) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err(format!("it is cut short in {what}"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    pub(crate) fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }
    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_be_bytes(a))
    }
    pub(crate) fn b256(&mut self, what: &str) -> Result<B256, String> {
        Ok(B256::from_slice(self.take(32, what)?))
    }
    /// A `u32` length and that many bytes.
    pub(crate) fn sized(&mut self, what: &str) -> Result<&'a [u8], String> {
        let n = self.u32(what)? as usize;
        self.take(n, what)
    }
    pub(crate) fn rest(self) -> &'a [u8] {
        self.bytes
    }
}

/// Appends `value` with its `u32` length.
pub(crate) fn put_sized(out: &mut Vec<u8>, value: &[u8]) {
    // A row or state larger than 4 GiB cannot be held by this process anyway.
    out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(value);
}

/// Appends a row's value compacted: its length (`u32`), then each whole
/// 32-byte word as its count of leading and of trailing zero bytes (`u8`
/// each) and the bytes between them (an all-zero word: `32, 0`), then the
/// bytes after the last whole word as they are. ABI words are mostly
/// zeros (a `uint8` takes 3 bytes instead of 32, an address 22).
fn put_compact(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_be_bytes());
    let mut words = value.chunks_exact(32);
    for w in &mut words {
        let lead = w.iter().take_while(|b| **b == 0).count();
        let trail = if lead == 32 { 0 } else { w.iter().rev().take_while(|b| **b == 0).count() };
        // Both counts are at most 32.
        out.extend_from_slice(&[lead as u8, trail as u8]);
        out.extend_from_slice(&w[lead..32 - trail]);
    }
    out.extend_from_slice(words.remainder());
}

/// Reads a value written by [`put_compact`].
fn take_compact(r: &mut Reader<'_>) -> Result<Vec<u8>, String> {
    let len = r.u32("a row value")? as usize;
    let mut value = Vec::with_capacity(len.min(1 << 20));
    for _ in 0..len / 32 {
        let (lead, trail) = (r.u8("a row value")? as usize, r.u8("a row value")? as usize);
        if lead + trail > 32 || (lead == 32 && trail != 0) {
            return Err("a row value has a malformed word".into());
        }
        value.resize(value.len() + lead, 0);
        value.extend_from_slice(r.take(32 - lead - trail, "a row value")?);
        value.resize(value.len() + trail, 0);
    }
    value.extend_from_slice(r.take(len % 32, "a row value")?);
    Ok(value)
}

/// The retired row: (count, chain), refusing an id other than zero and a
/// count of zero (the row is absent while nothing has retired).
fn take_retired_row(id: B256, value: &[u8]) -> Result<(u64, B256), String> {
    let l: RetiredLeaf = leaf(value, "retired")?;
    if id != B256::ZERO || l.count == 0 {
        return Err("its retired row has an id other than zero or counts no id".into());
    }
    Ok((l.count, l.chain))
}

/// A retired id's row tag, refusing any other than a transfer's or a subject's.
fn retired_tag(t: u8, what: &str) -> Result<u8, String> {
    if t == tag::TRANSFER || t == tag::SUBJECT {
        Ok(t)
    } else {
        Err(format!("{what} has the row tag {t:#04x}, not a transfer's or a subject's"))
    }
}

/// The retired list's `count` ids: row tag and id each, in retirement order.
fn take_retired_list(r: &mut Reader<'_>, count: u32) -> Result<Vec<(u8, B256)>, String> {
    let mut ids = Vec::with_capacity((count as usize).min(1 << 16));
    for _ in 0..count {
        let t = retired_tag(r.u8("the retired list")?, "a retired id")?;
        ids.push((t, r.b256("the retired list")?));
    }
    Ok(ids)
}

/// The queue's `count` items: id, deadline and row tag each, ids ascending.
fn take_queue(r: &mut Reader<'_>, count: u32) -> Result<Vec<(B256, Due)>, String> {
    let mut items: Vec<(B256, Due)> = Vec::with_capacity((count as usize).min(1 << 16));
    for _ in 0..count {
        let id = r.b256("the retirement queue")?;
        if items.last().is_some_and(|(l, _)| *l >= id) {
            return Err("its retirement queue is out of order or lists an id twice".into());
        }
        let at = Timestamp(r.u64("the retirement queue")?);
        let t = retired_tag(r.u8("the retirement queue")?, "an item in the retirement queue")?;
        items.push((id, Due { at, tag: t }));
    }
    Ok(items)
}

/// An address from a row id (the address in the id's low 20 bytes).
fn address(id: &B256, what: &str) -> Result<Address, String> {
    if id[..12].iter().any(|b| *b != 0) {
        return Err(format!("a {what} row's id is not an address"));
    }
    Ok(Address::from_slice(&id[12..]))
}

fn leaf<T: SolValue + From<<T::SolType as alloy::sol_types::SolType>::RustType>>(
    value: &[u8],
    what: &str,
) -> Result<T, String> {
    T::abi_decode_validate(value).map_err(|e| format!("a {what} row does not decode ({e})"))
}

fn member(value: &[u8], what: &str) -> Result<(), String> {
    if value == MEMBER { Ok(()) } else { Err(format!("a {what} row is not a membership row")) }
}

fn signature(bytes: &[u8], what: &str) -> Result<Signature, String> {
    Signature::try_from(bytes).map_err(|_| format!("a {what} signature is not 65 bytes"))
}

fn flow_status(code: u8) -> Result<FlowStatus, String> {
    Ok(match code {
        0 => FlowStatus::Submitted,
        1 => FlowStatus::Notarized,
        2 => FlowStatus::Authorized,
        3 => FlowStatus::Active,
        4 => FlowStatus::Disabled,
        5 => FlowStatus::Rejected,
        c => return Err(format!("a flow row has the unknown status {c}")),
    })
}

impl NotaryState {
    /// The state as compact bytes (module [`binary`](self) layout): the
    /// genesis and every row. O(state): for snapshots and checkpoints.
    ///
    /// It carries the retired ids in order and the retirement queue (state
    /// that is not a row), so the state read back retires what and when
    /// this one would. A state that leaves its older retired ids to a
    /// follower's index ([`NotaryState::retired_indexed`] > 0) lists only the
    /// others, which [`NotaryState::from_binary`] refuses: such a state is
    /// persisted with [`crate::checkpoint::encode_indexed`].
    pub fn to_binary(&self) -> Vec<u8> {
        self.to_binary_listing(self.retired.ids())
    }

    /// [`NotaryState::to_binary`] with only the retired ids after the first
    /// `indexed` listed (what a follower writes when its own index holds
    /// those: [`crate::checkpoint::encode_indexed`]); `None` if `indexed` is
    /// below [`NotaryState::retired_indexed`] or above the retired count.
    /// Only [`NotaryState::from_binary_indexed`], told the same `indexed`,
    /// reads it back.
    pub(crate) fn to_binary_indexed(&self, indexed: u64) -> Option<Vec<u8>> {
        Some(self.to_binary_listing(self.retired_after(indexed)?))
    }

    fn to_binary_listing(&self, listed: &[(u8, B256)]) -> Vec<u8> {
        let mut out = STATE_MAGIC.to_vec();
        put_sized(&mut out, &self.genesis.abi_encode());
        let mut sections: BTreeMap<u8, Vec<(B256, Vec<u8>)>> = BTreeMap::new();
        sections.entry(tag::META).or_default().push((B256::ZERO, self.meta_row()));
        for t in SMALL {
            sections.entry(t).or_default().extend(self.small_set(t));
        }
        let flows = self.flows.keys().filter_map(|h| Some((h.0, self.flow_row(h)?)));
        sections.entry(tag::FLOW).or_default().extend(flows);
        let transfers = self.transfers.keys().filter_map(|t| Some((t.0, self.transfer_row(t)?)));
        sections.entry(tag::TRANSFER).or_default().extend(transfers);
        let subjects = self.subjects.keys().filter_map(|s| Some((s.0, self.subject_row(s)?)));
        sections.entry(tag::SUBJECT).or_default().extend(subjects);
        // Like the row, its section is absent while nothing has retired.
        if let Some(v) = self.retired_row() {
            sections.entry(tag::RETIRED).or_default().push((B256::ZERO, v));
        }
        for (t, mut rows) in sections {
            rows.sort_by_key(|r| r.0);
            out.push(t);
            out.extend_from_slice(&u32::try_from(rows.len()).unwrap_or(u32::MAX).to_be_bytes());
            for (id, value) in rows {
                out.extend_from_slice(id.as_slice());
                put_compact(&mut out, &value);
            }
        }
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
        out.push(RETIRED_LIST);
        out.extend_from_slice(&count(listed.len()));
        for (t, id) in listed {
            out.push(*t);
            out.extend_from_slice(id.as_slice());
        }
        out.push(RETIRING_QUEUE);
        out.extend_from_slice(&count(self.retiring.len()));
        for (id, due) in self.retiring.iter() {
            out.extend_from_slice(id.as_slice());
            out.extend_from_slice(&due.at.0.to_be_bytes());
            out.push(due.tag);
        }
        out
    }

    /// Takes a state back from [`NotaryState::to_binary`] bytes, rebuilt
    /// from its rows, refusing bytes that do not parse, rows that do not
    /// decode or that are out of order, a retired list whose length is not
    /// the retired row's count, and a state that fails
    /// [`NotaryState::checked`] (a list that does not fold to the retired
    /// row, an id listed twice, a retired id still live, a queued item not
    /// live). A version-1 state is read with nothing retired and nothing
    /// queued, and refused if it holds an item the queue would hold (its
    /// deadline is lost). The root is recomputed from the rows; it is not
    /// compared with anything here.
    pub fn from_binary(bytes: &[u8]) -> Result<Self, StateError> {
        Self::read_binary(bytes, 0).map_err(StateError::Snapshot)?.checked()
    }

    /// [`NotaryState::from_binary`] for bytes this process wrote to its own
    /// store: every check but the retired ids' fold (one hash an id ever
    /// retired), which the store is trusted for, as a follower's index is.
    pub(crate) fn from_binary_own(bytes: &[u8]) -> Result<Self, StateError> {
        Self::read_binary(bytes, 0).map_err(StateError::Snapshot)?.check(false)
    }

    /// [`NotaryState::from_binary`] for bytes from
    /// [`NotaryState::to_binary_indexed`]: the first `indexed` retired ids
    /// are in the caller's own index, and the list holds those after. Their
    /// fold cannot be checked here (the caller's store is trusted for them).
    pub(crate) fn from_binary_indexed(bytes: &[u8], indexed: u64) -> Result<Self, StateError> {
        Self::read_binary(bytes, indexed).map_err(StateError::Snapshot)?.checked()
    }

    fn read_binary(bytes: &[u8], indexed: u64) -> Result<Self, String> {
        let mut r = Reader::new(bytes);
        let magic = r.take(STATE_MAGIC.len(), "its magic")?;
        let (tags, v1) = match magic {
            m if m == STATE_MAGIC => (&TAGS[..], false),
            m if m == STATE_MAGIC_V1 => (&TAGS_V1[..], true),
            _ => return Err("it is not a binary notary state of version 1 or 2".into()),
        };
        let genesis = Genesis::abi_decode_validate(r.sized("the genesis")?)
            .map_err(|e| format!("its genesis does not decode ({e})"))?;
        let mut s = NotaryState::new(genesis).map_err(|e| e.to_string())?;
        // The rows say which nodes and assets there are now.
        s.nodes.clear();
        s.assets = AssetRegistry::default();
        let mut last_tag = None;
        let mut seen = BTreeSet::new();
        let (mut retired_row, mut list, mut queue) = (None, Vec::new(), Vec::new());
        while !r.bytes.is_empty() {
            let t = r.u8("a section tag")?;
            if !tags.contains(&t) {
                return Err(format!("it has rows of tag {t:#04x}, which this version does not know"));
            }
            if last_tag.is_some_and(|l| l >= t) {
                return Err(format!("its section of tag {t:#04x} is out of order or repeated"));
            }
            last_tag = Some(t);
            seen.insert(t);
            let count = r.u32("a row count")?;
            match t {
                RETIRED_LIST => {
                    list = take_retired_list(&mut r, count)?;
                    continue;
                }
                RETIRING_QUEUE => {
                    queue = take_queue(&mut r, count)?;
                    continue;
                }
                _ => {}
            }
            let mut last_id: Option<B256> = None;
            for _ in 0..count {
                let id = r.b256("a row id")?;
                if last_id.is_some_and(|l| l >= id) {
                    return Err(format!("its rows of tag {t:#04x} are out of order or repeated"));
                }
                last_id = Some(id);
                let value = take_compact(&mut r)?;
                if t == tag::RETIRED {
                    retired_row = Some(take_retired_row(id, &value)?);
                } else {
                    s.take_row(t, id, &value)?;
                }
            }
        }
        if !seen.contains(&tag::META) {
            return Err("it has no meta row".into());
        }
        let sections = seen.contains(&RETIRED_LIST) && seen.contains(&RETIRING_QUEUE);
        if !v1 && !sections {
            return Err("it has no retired-list or no retirement-queue section".into());
        }
        let (count, chain) = retired_row.unwrap_or((0, B256::ZERO));
        if Some(count) != indexed.checked_add(list.len() as u64) {
            return Err(format!(
                "its retired row counts {count} ids but its retired list has {} (after {indexed} indexed)",
                list.len()
            ));
        }
        s.take_retirement(Retired::listed(indexed, list, chain), queue);
        s.registry = NodeRegistry::new(s.nodes.keys().copied()).map_err(|e| format!("its node rows: {e}"))?;
        s.rebuild_tree();
        if v1 && s.deadline_missing() {
            return Err("it is of version 1, which does not carry the retirement deadlines, and holds a finished \
                        transfer or a decided subject whose deadline is lost"
                .into());
        }
        Ok(s)
    }

    /// Takes one row into a state built from the genesis.
    fn take_row(&mut self, t: u8, id: B256, value: &[u8]) -> Result<(), String> {
        match t {
            tag::META => {
                let m: MetaLeaf = leaf(value, "meta")?;
                if id != B256::ZERO || m.genesis != keccak256(self.genesis.abi_encode()) {
                    return Err("its meta row is for another genesis".into());
                }
                self.applied = m.applied;
                self.paused = m.paused.then_some(m.pauseReason);
                self.signer_status = if m.signerStatus.is_empty() {
                    None
                } else {
                    Some(
                        Signed::decode(&m.signerStatus)
                            .map_err(|e| format!("its signer status does not decode ({e})"))?,
                    )
                };
                self.ceremony_seen.boot = m.ceremonyBoot;
            }
            tag::NODE => {
                let n: NodeLeaf = leaf(value, "node")?;
                let account = address(&id, "node")?;
                self.nodes.insert(account, GenesisNode { nodeId: n.nodeId, endpoint: n.endpoint, account });
            }
            tag::ASSET => {
                let a: AssetLeaf = leaf(value, "asset")?;
                let contract = address(&id, "asset")?;
                let asset = AssetRegistry::erc20(contract, &a.symbol, a.decimals).map_err(|e| e.to_string())?;
                self.assets.insert(asset);
            }
            tag::FROZEN => {
                member(value, "frozen")?;
                self.frozen.insert(address(&id, "frozen")?);
            }
            tag::BLOCKED => {
                member(value, "blocked")?;
                self.blocked.insert(address(&id, "blocked")?);
            }
            tag::EQUIVOCATOR => {
                let e: EquivocatorLeaf = leaf(value, "equivocator")?;
                self.equivocators.insert(address(&id, "equivocator")?, e.height);
            }
            tag::CEREMONY => {
                member(value, "ceremony")?;
                self.ceremony_seen.messages.insert(id);
            }
            tag::ADDRESS_BOOK => {
                let e: AddressBookLeaf = leaf(value, "address-book")?;
                let flow = (!e.flow.is_zero()).then_some(FlowHash(e.flow));
                self.address_book.list(address(&id, "address-book")?, BookEntry { label: e.label, flow });
            }
            tag::FLOW => {
                let f: FlowLeaf = leaf(value, "flow")?;
                let flow = crate::typed::BoxFlow::abi_decode_validate(&f.flow)
                    .map_err(|e| format!("a flow row's flow does not decode ({e})"))?;
                let record = FlowRecord {
                    flow,
                    status: flow_status(f.status)?,
                    enabled_by: f.enabledBy.into_iter().collect(),
                    anchor_tx: f.anchored.then_some(f.anchorTx),
                };
                self.flows.insert(FlowHash(id), record);
            }
            tag::TRANSFER => {
                let l: TransferLeaf = leaf(value, "transfer")?;
                let status =
                    l.transfer_status().ok_or_else(|| format!("a transfer row has the unknown status {}", l.status))?;
                let detail = if matches!(status, TransferStatus::Confirmed { .. }) { l.reason } else { String::new() };
                let record = TransferRecord {
                    subject: SubjectId(l.subject),
                    flow: FlowHash(l.flow),
                    asset: l.asset,
                    amount: Amount(l.amount),
                    max_fee: Amount(l.maxFee),
                    applicant: l.applicant,
                    submitted_at: Timestamp(l.submittedAt),
                    status,
                    open: l.open,
                    detail,
                };
                self.transfers.insert(TransferId(id), record);
            }
            tag::SUBJECT => {
                let l: SubjectLeaf = leaf(value, "subject")?;
                let subject = Subject::decode(&l.payload).map_err(|e| format!("a subject row's payload: {e}"))?;
                let content = ContentHash(l.content);
                let status = match l.status {
                    0 => SubjectStatus::Pending,
                    1 => SubjectStatus::Notarized {
                        certificate: QuorumCertificate {
                            subject: SubjectId(id),
                            content,
                            votes: l
                                .certificateVotes
                                .iter()
                                .map(|v| signature(v, "certificate"))
                                .collect::<Result<_, _>>()?,
                        },
                    },
                    2 => SubjectStatus::Rejected { reasons: l.rejectionReasons },
                    c => return Err(format!("a subject row has the unknown status {c}")),
                };
                if l.acceptedBy.len() != l.acceptSignatures.len() || l.refusedBy.len() != l.refusalReasons.len() {
                    return Err("a subject row's voters and votes differ in number".into());
                }
                let accepts = l
                    .acceptedBy
                    .into_iter()
                    .zip(l.acceptSignatures.iter().map(|s| signature(s, "vote")))
                    .map(|(a, s)| s.map(|s| (a, s)))
                    .collect::<Result<_, _>>()?;
                let record = SubjectRecord {
                    subject,
                    content,
                    submitted_at: Timestamp(l.submittedAt),
                    status,
                    accepts,
                    refusals: l.refusedBy.into_iter().zip(l.refusalReasons).collect(),
                };
                self.subjects.insert(SubjectId(id), record);
            }
            _ => return Err(format!("it has rows of tag {t:#04x}, which this version does not know")),
        }
        Ok(())
    }
}
