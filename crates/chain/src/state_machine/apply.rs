//! Applying one replicated command to the chain state: a notary entry goes
//! through box-core's notary state machine, `Seal` closes a block over the
//! unsealed entries, `SignBlock` checks the leader's seal and stores the
//! block. Each returns the typed [`Outcome`] the proposer hands back.

use super::{BLOCK_ENTRY_BUDGET, ChainState, NotarizedRecord, PendingBlock, StateMachine, entry_cost};
use crate::log_store::StoreError;
use crate::types::{Applied, Command};
use box_core::B256;
use box_core::block::{Block, BlockHeader, LoggedEntry, merkle_root};
use box_core::crypto::{recover, signature_from_bytes};
use box_core::encoding::Canonical;
use box_core::ids::Timestamp;
use box_core::notary::{Entry, Event};
use box_proto::Outcome;

impl StateMachine {
    pub(super) fn apply_command(&self, s: &mut ChainState, index: u64, cmd: Command) -> Result<Applied, StoreError> {
        match cmd {
            Command::Notary { time, entry } => {
                let cost = entry_cost(entry.len());
                if cost > BLOCK_ENTRY_BUDGET {
                    return Ok(Applied::only(Outcome::Refused(format!(
                        "the entry is {} bytes; a block holds at most {BLOCK_ENTRY_BUDGET} bytes of entries",
                        entry.len()
                    ))));
                }
                if s.unsealed_bytes + cost > BLOCK_ENTRY_BUDGET {
                    return Ok(Applied::deferred(format!(
                        "waiting: the block being built is full ({} entries, {} bytes); propose the entry again once it is sealed",
                        s.unsealed.len(),
                        s.unsealed_bytes
                    )));
                }
                self.shared.progress.applied(&entry);
                let at = time.max(s.last_time);
                s.last_time = at;
                let entry = match Entry::decode(&entry) {
                    Ok(e) => e,
                    Err(e) => {
                        return Ok(Applied::only(Outcome::Refused(format!("undecodable entry: {e}"))));
                    }
                };
                let events = s.notary.apply(&entry, Timestamp(at));
                s.unsealed.push(LoggedEntry { index, time: at, entry });
                s.unsealed_bytes += cost;
                let mut applied = Applied::default();
                for ev in events {
                    match ev {
                        Event::Submitted { subject, .. } => {
                            applied = Applied::about(Outcome::Submitted, subject.0.0);
                        }
                        Event::Duplicate { subject } => {
                            applied = Applied::about(Outcome::Duplicate, subject.0.0);
                        }
                        Event::Refused { reason } => {
                            applied = Applied::only(Outcome::Refused(reason));
                        }
                        Event::VoteCounted { subject, .. } => {
                            applied = Applied::about(Outcome::Vote, subject.0.0);
                        }
                        Event::VoteIgnored { subject, reason } => {
                            applied = Applied::about(Outcome::Ignored(reason), subject.0.0);
                        }
                        Event::Notarized { subject, payload, certificate } => {
                            s.unsealed_notarized.push(NotarizedRecord {
                                subject,
                                payload: payload.encode(),
                                certificate: certificate.encode(),
                            });
                            s.unsealed_decided.push(subject);
                        }
                        Event::Rejected { subject, .. } => s.unsealed_decided.push(subject),
                        Event::TransferStatus { transfer, .. } => {
                            s.unsealed_transfers.insert(transfer);
                        }
                        Event::SignerAnnounced { .. } | Event::CeremonyMessage { .. } => {
                            applied = Applied::only(Outcome::Relayed);
                        }
                        Event::Equivocation { node, height } => {
                            tracing::error!(%node, height, "equivocation evidence on record: {node} sealed two headers at height {height}");
                            applied = Applied::only(Outcome::Recorded);
                        }
                        _ => {}
                    }
                }
                Ok(applied)
            }
            Command::Seal { height, time } => {
                if s.pending.is_some() || height != s.next_height || s.unsealed.is_empty() {
                    return Ok(Applied::only(Outcome::Ignored("nothing to seal at that height".into())));
                }
                let at = time.max(s.last_time);
                s.last_time = at;
                let entries = std::mem::take(&mut s.unsealed);
                s.unsealed_bytes = 0;
                let leaves: Vec<B256> = entries.iter().map(LoggedEntry::leaf).collect();
                // Each changed transfer's row, proven against this header's
                // state root while it is in the trie.
                let proofs = std::mem::take(&mut s.unsealed_transfers)
                    .iter()
                    .filter_map(|t| s.notary.transfer_proof(t))
                    .collect();
                let header = BlockHeader {
                    height,
                    parent: s.parent,
                    entriesRoot: merkle_root(&leaves),
                    stateHash: s.notary.state_root().0,
                    time: at,
                    firstIndex: entries.first().map_or(0, |e| e.index),
                    entryCount: entries.len() as u64,
                };
                // The live state is the one this header commits to until the next entry applies.
                self.shared.seal_kept(height, &s.notary, entries.last().map(|e| e.index + 1));
                s.pending = Some(PendingBlock {
                    header,
                    entries,
                    notarized: std::mem::take(&mut s.unsealed_notarized),
                    decided: std::mem::take(&mut s.unsealed_decided),
                    proofs,
                });
                Ok(Applied::only(Outcome::Sealed))
            }
            Command::SignBlock { height, signature } => {
                let Some(pending) = s.pending.as_ref().filter(|p| p.header.height == height) else {
                    return Ok(Applied::only(Outcome::Ignored("no pending block at that height".into())));
                };
                let domain = s.notary.domain();
                let signer = signature_from_bytes(&signature)
                    .and_then(|sig| recover(&domain.signing_hash(&pending.header), &sig).map(|a| (sig, a)));
                let (sig, signer) = match signer {
                    Ok(v) => v,
                    Err(e) => return Ok(Applied::only(Outcome::Ignored(format!("block signature: {e}")))),
                };
                if !s.notary.registry().contains(&signer) {
                    // Honest nodes seal the same header at a height, so a committed signature
                    // over another one means a faulty signer, or this node's own state differs.
                    let reason = format!(
                        "block {height} signed by {signer}, not a registered node account, over the header this \
                         node sealed (state root {}): either the node that signed it is faulty, or this node's \
                         state differs from the chain's (a snapshot it installed from a faulty leader can leave \
                         out entries after its tip); if the other nodes hold block {height}, this node cannot \
                         follow them: move its data directory aside and restart it to catch up anew",
                        pending.header.stateHash
                    );
                    tracing::error!("{reason}");
                    return Ok(Applied::only(Outcome::Ignored(reason)));
                }
                let Some(p) = s.pending.take() else {
                    return Ok(Applied::only(Outcome::Ignored("no pending block at that height".into())));
                };
                let block = Block { header: p.header, signature: sig, entries: p.entries };
                let rejected = super::rejections::of(&s.notary, &p.decided);
                self.shared.store_block(&block, &p.notarized, &p.decided, &p.proofs, &rejected)?;
                self.shared.keep_signed(&block);
                s.parent = block.hash(&domain);
                s.next_height += 1;
                self.shared.height_tx.send_replace(height);
                Ok(Applied::only(Outcome::Signed))
            }
        }
    }
}
