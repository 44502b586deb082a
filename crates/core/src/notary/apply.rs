//! Applying entries: submissions, votes, ceremony messages; tallying and
//! rejecting.

use super::{
    CeremonySeen, Event, FlowRecord, MAX_CEREMONY_MESSAGES_PER_BOOT, NotaryState, SubjectRecord, SubjectStatus,
    TransferRecord,
};
use super::{FlowStatus, Subject, TransferStatus};
use crate::amount::Amount;
use crate::ceremony::{Ceremony, ENDORSEMENT_LEN, MAX_DEVICE_ID_LEN, MAX_SEALED_LEN, Purpose, SignerState};
use crate::ids::{ContentHash, FlowHash, SubjectId, Timestamp};
use crate::quorum::QuorumCertificate;
use alloy::primitives::{Signature, keccak256};
use std::collections::{BTreeMap, BTreeSet};

impl NotaryState {
    /// Ceremony messages change nothing but the signer's announced status:
    /// they are relayed to the signer through the log, which checks them
    /// itself. Here only authenticity and freshness gates keep strangers and
    /// replays out of the record.
    pub(super) fn ceremony(&mut self, c: &Ceremony) -> Vec<Event> {
        let domain = self.domain();
        let refused = |reason: String| vec![Event::Refused { reason }];
        match c {
            Ceremony::Announce(a) => {
                match a.signer(&domain) {
                    Ok(s) if s == self.genesis.signer => {}
                    Ok(s) => return refused(format!("signer announcement signed by {s}, not the signer")),
                    Err(e) => return refused(format!("signer announcement signature: {e}")),
                }
                if SignerState::from_u8(a.value.state).is_none() {
                    return refused(format!("unknown signer state {}", a.value.state));
                }
                if let Some(prev) = &self.signer_status
                    && a.value.sequence <= prev.value.sequence
                {
                    return refused(format!(
                        "signer announcement {} is not newer than {} (a replay)",
                        a.value.sequence, prev.value.sequence
                    ));
                }
                self.signer_status = Some(a.clone());
                vec![Event::SignerAnnounced { sequence: a.value.sequence, state: a.value.state }]
            }
            Ceremony::Message(m) => {
                let device = match m.signer(&domain) {
                    Ok(d) => d,
                    Err(e) => return refused(format!("ceremony message signature: {e}")),
                };
                if Purpose::from_u8(m.value.purpose).is_none() {
                    return refused(format!("unknown ceremony purpose {}", m.value.purpose));
                }
                if m.value.sealed.len() > MAX_SEALED_LEN
                    || m.value.deviceId.len() > MAX_DEVICE_ID_LEN
                    || m.value.endorsement.len() > ENDORSEMENT_LEN
                {
                    return refused("ceremony message is oversized".into());
                }
                let hash = keccak256(crate::encoding::Canonical::encode(c));
                if self.ceremony_seen.boot != m.value.boot {
                    self.ceremony_seen = CeremonySeen { boot: m.value.boot, messages: BTreeSet::new() };
                }
                if self.ceremony_seen.messages.contains(&hash) {
                    return refused(format!("ceremony message {hash} was recorded before (a replay)"));
                }
                if self.ceremony_seen.messages.len() >= MAX_CEREMONY_MESSAGES_PER_BOOT {
                    return refused(format!(
                        "more than {MAX_CEREMONY_MESSAGES_PER_BOOT} ceremony messages for one signer boot"
                    ));
                }
                self.ceremony_seen.messages.insert(hash);
                vec![Event::CeremonyMessage { device, purpose: m.value.purpose }]
            }
        }
    }

    pub(super) fn submit(&mut self, subject: &Subject, at: Timestamp) -> Vec<Event> {
        let domain = self.domain();
        // A flow is hashed once here: its id and its record's key both come from it.
        let flow_hash = match subject {
            Subject::Flow(f) => Some(domain.flow_hash(f)),
            _ => None,
        };
        let id = match flow_hash.as_ref().map_or_else(|| subject.id(&domain), |h| Ok(Subject::flow_id(h))) {
            Ok(id) => id,
            Err(e) => return vec![Event::Refused { reason: e.to_string() }],
        };
        let content = subject.content();
        if let Some(existing) = self.subjects.get(&id) {
            return if existing.content == content {
                vec![Event::Duplicate { subject: id }]
            } else {
                vec![Event::Refused {
                    reason: format!("subject {id} was already submitted with different content; it is decided once"),
                }]
            };
        }
        if self.retired.contains(&id.0) {
            return vec![Event::Refused {
                reason: format!("subject {id} was decided and has retired from the live state; it is decided once"),
            }];
        }
        if let Err(reason) = self.authenticity(subject, &domain) {
            return vec![Event::Refused { reason }];
        }
        if let Subject::SignerReport(r) = subject
            && self.retired.contains(&r.value.subject)
        {
            return vec![Event::Refused {
                reason: format!(
                    "the report is about {}, which finished and has retired from the live state; no report changes it now",
                    r.value.subject
                ),
            }];
        }
        if let Subject::Transfer(t) = subject
            && let Err(refusal) = self.transfer_open(&t.transfer_id(&domain))
        {
            return vec![Event::Refused { reason: refusal.to_string() }];
        }
        let mut events = vec![Event::Submitted { subject: id, kind: subject.kind(), content }];
        match subject {
            Subject::Flow(f) => {
                let h = flow_hash.unwrap_or_else(|| domain.flow_hash(f));
                self.flow_hashes.remember(id, h);
                self.flows.or_insert_with(h, || FlowRecord {
                    flow: f.clone(),
                    status: FlowStatus::Submitted,
                    enabled_by: BTreeSet::new(),
                    anchor_tx: None,
                });
            }
            Subject::Transfer(t) => {
                let tid = t.transfer_id(&domain);
                match self.transfers.get_mut(&tid) {
                    // Another transbox for a transfer still being decided: it
                    // is decided on its own; at most one is notarized.
                    Some(r) if r.status == TransferStatus::Submitted => r.open = r.open.saturating_add(1),
                    // New, or every earlier transbox for it was rejected.
                    _ => {
                        self.transfers.insert(
                            tid,
                            TransferRecord {
                                subject: id,
                                flow: FlowHash(t.request.flowHash),
                                asset: t.request.asset,
                                amount: Amount(t.request.amount),
                                max_fee: Amount(t.request.maxFee),
                                applicant: t.request.applicant,
                                submitted_at: at,
                                status: TransferStatus::Submitted,
                                open: 1,
                                detail: String::new(),
                            },
                        );
                        events.push(Event::TransferStatus { transfer: tid, status: TransferStatus::Submitted });
                    }
                }
            }
            _ => {}
        }
        self.subjects.insert(
            id,
            SubjectRecord {
                subject: subject.clone(),
                content,
                submitted_at: at,
                status: SubjectStatus::Pending,
                accepts: BTreeMap::new(),
                refusals: BTreeMap::new(),
            },
        );
        events
    }

    pub(super) fn vote(
        &mut self,
        vote: &crate::typed::Signed<crate::typed::NodeVote>,
        known: &mut Option<crate::crypto::KnownSigner>,
    ) -> Vec<Event> {
        let subject = SubjectId(vote.value.subject);
        let ignored = |reason: String| vec![Event::VoteIgnored { subject, reason }];
        // What needs no signer first: a vote on a subject that is not pending
        // counts for nothing whoever signed it, so its signature is not
        // recovered (the costliest step; with a majority of three, the third
        // companion's vote usually arrives after the decision).
        match self.subjects.get(&subject) {
            None => {
                return ignored("unknown subject: never submitted, or decided and retired from the live state".into());
            }
            Some(rec) if rec.status != SubjectStatus::Pending => {
                return ignored("the subject is already decided".into());
            }
            Some(_) => {}
        }
        let voter = match vote.signer_with(&self.domain(), known) {
            Ok(v) => v,
            Err(e) => return ignored(format!("vote signature: {e}")),
        };
        if !self.registry.contains(&voter) {
            return ignored(format!("{voter} is not a registered node account"));
        }
        // Still there: nothing between the look-up above and here changes the state.
        let Some(rec) = self.subjects.get_mut(&subject) else {
            return ignored("unknown subject: never submitted, or decided and retired from the live state".into());
        };
        if ContentHash(vote.value.contentHash) != rec.content {
            return ignored(format!("{voter} voted for other content than was submitted"));
        }
        if rec.accepts.contains_key(&voter) || rec.refusals.contains_key(&voter) {
            return ignored(format!("{voter} already voted"));
        }
        if vote.value.accept {
            if !vote.value.reason.is_empty() {
                return ignored("an accept vote carries no reason".into());
            }
            rec.accepts.insert(voter, vote.signature);
        } else {
            rec.refusals.insert(voter, vote.value.reason.clone());
        }
        let mut events = vec![Event::VoteCounted { subject, voter, accept: vote.value.accept }];
        events.extend(self.tally(subject));
        events
    }

    /// Decides `id` if a strict majority of the current registry agrees.
    pub(super) fn tally(&mut self, id: SubjectId) -> Vec<Event> {
        let majority = self.registry.majority();
        let Some(rec) = self.subjects.get(&id) else { return Vec::new() };
        if rec.status != SubjectStatus::Pending {
            return Vec::new();
        }
        let accepts: Vec<Signature> =
            rec.accepts.iter().filter(|(a, _)| self.registry.contains(a)).map(|(_, s)| *s).collect();
        let refusals: Vec<String> =
            rec.refusals.iter().filter(|(a, _)| self.registry.contains(a)).map(|(a, r)| format!("{a}: {r}")).collect();
        if accepts.len() >= majority {
            let certificate = QuorumCertificate { subject: id, content: rec.content, votes: accepts };
            let payload = rec.subject.clone();
            match self.effect(id, &payload) {
                Ok(mut effects) => {
                    if let Some(r) = self.subjects.get_mut(&id) {
                        r.status = SubjectStatus::Notarized { certificate: certificate.clone() };
                    }
                    let mut events = vec![Event::Notarized { subject: id, payload: Box::new(payload), certificate }];
                    events.append(&mut effects);
                    events
                }
                Err(refusal) => self.reject(id, vec![format!("notary: {refusal}")]),
            }
        } else if refusals.len() >= majority {
            self.reject(id, refusals)
        } else {
            Vec::new()
        }
    }

    pub(super) fn reject(&mut self, id: SubjectId, reasons: Vec<String>) -> Vec<Event> {
        let Some(rec) = self.subjects.get_mut(&id) else { return Vec::new() };
        rec.status = SubjectStatus::Rejected { reasons: reasons.clone() };
        let kind = rec.subject.kind();
        let domain = self.genesis.domain();
        let mut events = vec![Event::Rejected { subject: id, kind, reasons: reasons.clone() }];
        match &rec.subject {
            Subject::Flow(f) => {
                let h = self.flow_hashes.take(&id).unwrap_or_else(|| domain.flow_hash(f));
                if let Some(fr) = self.flows.get_mut(&h) {
                    fr.status = FlowStatus::Rejected;
                    events.push(Event::FlowStatus { flow: h, status: FlowStatus::Rejected });
                }
            }
            Subject::Transfer(t) => {
                // The transfer is rejected once no transbox for it is left
                // pending; one notarized by another transbox stays notarized.
                let tid = t.transfer_id(&domain);
                if let Some(tr) = self.transfers.get_mut(&tid)
                    && tr.status == TransferStatus::Submitted
                {
                    tr.open = tr.open.saturating_sub(1);
                    if tr.open == 0 {
                        tr.status = TransferStatus::Rejected { reason: reasons.join("; ") };
                        events.push(Event::TransferStatus { transfer: tid, status: tr.status.clone() });
                    }
                }
            }
            _ => {}
        }
        events
    }
}
