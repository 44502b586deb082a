//! The notary gRPC API (see proto/box.proto). Every refusal carries the reason.
//!
//! Every call is checked against the caller's certificate role first
//! ([`crate::access`]); a submission is also checked against the rules no
//! later state can lift before it may enter the log
//! ([`box_core::notary::NotaryState::admission`]), so a transbox without its
//! approvals is refused here and never recorded.

use crate::access::{self, Access, Write};
use crate::liveness::Liveness;
use crate::proposer::{ProposeError, Proposer};
use crate::state_machine::Shared;
use crate::types::{Applied, TypeConfig};
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_core::ids::SubjectId;
use box_core::notary::{Entry, Inadmissible, Subject, SubjectStatus};
use box_core::{Address, B256};
use box_ops::role::CertRole;
use box_proto::pb;
use box_proto::reply::{ProposeReply, SubjectStatus as ViewStatus, SubjectView, SubmitOutcome, SubmitReply};
use box_proto::witness::MAX_WITNESS_BATCH;
use box_proto::{Feed, Outcome};
use openraft::Raft;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The service.
#[derive(Clone)]
pub struct NotaryService {
    shared: Arc<Shared>,
    proposer: Proposer,
    raft: Raft<TypeConfig>,
    id: u64,
    account: Address,
    access: Access,
    liveness: Arc<Liveness>,
}

impl NotaryService {
    /// Serves this node's replica to the callers `access` allows;
    /// `liveness` witnesses what clients submit and tells the peers (see
    /// [`crate::liveness`]).
    pub fn new(
        shared: Arc<Shared>,
        proposer: Proposer,
        raft: Raft<TypeConfig>,
        id: u64,
        account: Address,
        access: Access,
        liveness: Arc<Liveness>,
    ) -> Self {
        Self { shared, proposer, raft, id, account, access, liveness }
    }

    /// The entries of one `Notary.Witness` call, each as if it came alone:
    /// whether the first is watched, how many of the others are, and the
    /// first refusal (naming its place in the call when there are several).
    /// A refused entry does not keep the others from being watched.
    async fn witness_all(&self, caller: CertRole, entries: Vec<Vec<u8>>) -> Result<pb::WitnessResponse, Status> {
        let count = entries.len();
        let (mut watched, mut more_watched, mut refused) = (false, 0u32, None);
        for (k, raw) in entries.iter().enumerate() {
            match self.witness_one(caller, raw) {
                Ok(w) if k == 0 => watched = w,
                Ok(w) => more_watched += u32::from(w),
                Err(s) if count == 1 => refused = Some(s),
                Err(s) => {
                    refused.get_or_insert_with(|| {
                        Status::new(s.code(), format!("witnessed entry {} of {count}: {}", k + 1, s.message()))
                    });
                }
            }
            // Checking an entry may verify signatures: a long call gives the
            // other requests on this thread their turn between entries.
            tokio::task::yield_now().await;
        }
        match refused {
            Some(s) => Err(s),
            None => Ok(pb::WitnessResponse { watched, more_watched }),
        }
    }

    /// One witnessed entry: whether a deadline runs for it. The caller's
    /// role is checked first; then one this node already watches, or applied
    /// lately, is answered from that, and any other passes the same admission
    /// checks as a proposal, since this node may later propose it itself.
    fn witness_one(&self, caller: CertRole, raw: &[u8]) -> Result<bool, Status> {
        let entry =
            Entry::decode(raw).map_err(|e| Status::invalid_argument(format!("the entry does not decode: {e}")))?;
        // The caller's role is checked before anything this node holds is
        // consulted: who may witness what does not depend on the node's state.
        self.access.write(caller, Write::of(&entry))?;
        if let Some(watched) = self.liveness.known(raw) {
            return Ok(watched);
        }
        if let Entry::Submit(subject) = &entry {
            self.admit(subject)?;
        }
        Ok(self.liveness.witness(raw, &entry))
    }

    /// Keeps out of the log a submission this node can tell will never be
    /// valid (refused for good), or cannot judge yet (unavailable: retry,
    /// or ask another node).
    fn admit(&self, subject: &Subject) -> Result<(), Status> {
        // With the node's memo of signers: applying the subject then finds them recovered.
        match self.shared.remembering(|| self.shared.read().notary.admission(subject)) {
            Ok(()) => Ok(()),
            Err(Inadmissible::Refused(why)) => Err(Status::failed_precondition(format!("not recorded: {why}"))),
            Err(Inadmissible::NotYet(why)) => {
                Err(Status::unavailable(format!("node {} cannot take it yet: {why}; retry", self.id)))
            }
        }
    }
}

/// An entry deferred because the block being built is full is a wait:
/// `UNAVAILABLE` with the reason, so the caller proposes it again.
fn deferred_status(applied: &Applied) -> Result<(), Status> {
    match &applied.outcome {
        Outcome::Ignored(reason) if applied.deferred => Err(Status::unavailable(reason.clone())),
        _ => Ok(()),
    }
}

fn propose_status(e: ProposeError) -> Status {
    match e {
        ProposeError::NoLeader | ProposeError::Unreachable { .. } => Status::unavailable(e.to_string()),
        ProposeError::Raft(_) => Status::internal(e.to_string()),
    }
}

/// Streams what `items` makes of every sealed block from `from` (at least 1)
/// on, then of each new block as it is sealed, until the client goes away.
fn follow<T, F>(shared: Arc<Shared>, from: u64, items: F) -> Feed<T>
where
    T: Send + 'static,
    F: Fn(&Shared, u64) -> Result<Vec<T>, String> + Send + 'static,
{
    let mut next = from.max(1);
    let mut heights = shared.heights();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let latest = *heights.borrow_and_update();
            while next <= latest {
                let batch = match items(&shared, next) {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(Status::internal(e))).await;
                        return;
                    }
                };
                for item in batch {
                    if tx.send(Ok(item)).await.is_err() {
                        return; // the subscriber went away
                    }
                }
                next += 1;
            }
            if heights.changed().await.is_err() {
                return;
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

impl NotaryService {
    /// A subject the live state no longer holds: decided and retired (box-core
    /// README, "Retirement"), as the block that decided it recorded it: a
    /// notarized one with its certificate (the `notarized` table), a rejected
    /// one with its kind and the refusing nodes' reasons (the `rejected`
    /// table); unknown otherwise (never submitted, or pending elsewhere).
    fn retired_subject(&self, id: &SubjectId, height: u64) -> Result<SubjectView, Status> {
        if height == 0 {
            return Ok(SubjectView::unknown());
        }
        if let Some(r) = self.shared.rejection(id).map_err(|e| Status::internal(e.to_string()))? {
            return Ok(SubjectView {
                status: ViewStatus::Rejected,
                kind: Some(r.kind),
                certificate: Vec::new(),
                reasons: r.reasons,
                height,
            });
        }
        let records = self.shared.notarized(height).map_err(|e| Status::internal(e.to_string()))?;
        let Some(rec) = records.into_iter().find(|r| r.subject == *id) else {
            return Ok(SubjectView::unknown());
        };
        let kind = Subject::decode(&rec.payload).ok().map(|p| p.kind());
        if kind.is_none() {
            return Ok(SubjectView::unknown());
        }
        Ok(SubjectView {
            status: ViewStatus::Notarized,
            kind,
            certificate: rec.certificate,
            reasons: Vec::new(),
            height,
        })
    }
}

#[tonic::async_trait]
impl pb::notary_server::Notary for NotaryService {
    async fn submit(&self, r: Request<pb::SubmitRequest>) -> Result<Response<pb::SubmitResponse>, Status> {
        let caller = access::caller(&r)?;
        let subject = Subject::decode(&r.into_inner().subject)
            .map_err(|e| Status::invalid_argument(format!("the subject does not decode: {e}")))?;
        self.access.write(caller, Write::of_subject(&subject))?;
        self.admit(&subject)?;
        let domain = self.shared.read().notary.domain();
        let id = subject.id(&domain).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let entry = Entry::Submit(subject).encode();
        self.liveness.received(&entry);
        let appended = self.proposer.entry(entry, false).await.map_err(propose_status)?;
        deferred_status(&appended.applied)?;
        let outcome = match appended.applied.outcome {
            Outcome::Submitted => SubmitOutcome::Submitted,
            Outcome::Duplicate => SubmitOutcome::Duplicate,
            Outcome::Refused(reason) => return Err(Status::failed_precondition(reason)),
            other => return Err(Status::internal(format!("a submission was applied as \"{other}\""))),
        };
        Ok(Response::new(SubmitReply { subject_id: id, outcome, leader: appended.leader }.to_wire()))
    }

    async fn propose(&self, r: Request<pb::ProposeRequest>) -> Result<Response<pb::ProposeResponse>, Status> {
        let caller = access::caller(&r)?;
        let req = r.into_inner();
        let entry = Entry::decode(&req.entry)
            .map_err(|e| Status::invalid_argument(format!("the entry does not decode: {e}")))?;
        self.access.write(caller, Write::of(&entry))?;
        if let Entry::Submit(subject) = &entry {
            self.admit(subject)?;
        }
        if !req.forwarded {
            self.liveness.received(&req.entry);
        }
        let appended = self.proposer.entry(req.entry, req.forwarded).await.map_err(propose_status)?;
        deferred_status(&appended.applied)?;
        let reply = ProposeReply { index: appended.index, outcome: appended.applied.outcome, leader: appended.leader };
        Ok(Response::new(reply.to_wire()))
    }

    async fn get_subject(&self, r: Request<pb::SubjectQuery>) -> Result<Response<pb::SubjectInfo>, Status> {
        access::caller(&r)?; // every role reads
        let raw = r.into_inner().subject_id;
        let id: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| Status::invalid_argument(format!("a subject id is 32 bytes, got {}", raw.len())))?;
        let id = SubjectId(B256::from(id));
        let height = self.shared.decided_at(&id).map_err(|e| Status::internal(e.to_string()))?.unwrap_or(0);
        let s = self.shared.read();
        let Some(rec) = s.notary.subject(&id) else {
            drop(s);
            return Ok(Response::new(self.retired_subject(&id, height)?.to_wire()));
        };
        let kind = Some(rec.subject.kind());
        let info = match &rec.status {
            SubjectStatus::Pending => SubjectView {
                status: ViewStatus::Pending,
                kind,
                certificate: Vec::new(),
                reasons: Vec::new(),
                height: 0,
            },
            SubjectStatus::Notarized { certificate } => SubjectView {
                status: ViewStatus::Notarized,
                kind,
                certificate: certificate.encode(),
                reasons: Vec::new(),
                height,
            },
            SubjectStatus::Rejected { reasons } => SubjectView {
                status: ViewStatus::Rejected,
                kind,
                certificate: Vec::new(),
                reasons: reasons.clone(),
                height,
            },
        };
        Ok(Response::new(info.to_wire()))
    }

    async fn get_block(&self, r: Request<pb::BlockQuery>) -> Result<Response<pb::BlockInfo>, Status> {
        access::caller(&r)?; // every role reads
        let h = r.into_inner().height;
        let latest = self.shared.read().height();
        match self.shared.block(h).map_err(|e| Status::internal(e.to_string()))? {
            Some(block) => Ok(Response::new(pb::BlockInfo { block, latest_height: latest })),
            // Below the tip but not held: being fetched after a snapshot (crate README, "Snapshots").
            // Not "not found", which a client takes as the end of the chain: another node serves it.
            None if h >= 1 && h <= latest => Err(Status::unavailable(format!(
                "waiting: block {h} is being fetched from this node's peers (it caught up by snapshot); ask another node"
            ))),
            None => Err(Status::not_found(format!("no block at height {h}; the latest is {latest}"))),
        }
    }

    async fn get_proof(&self, r: Request<pb::ProofQuery>) -> Result<Response<pb::ProofInfo>, Status> {
        access::caller(&r)?; // every role reads
        let q = r.into_inner();
        let raw = self
            .shared
            .block(q.height)
            .map_err(|e| Status::internal(e.to_string()))?
            .ok_or_else(|| Status::not_found(format!("no block at height {}", q.height)))?;
        let block = box_core::block::Block::decode(&raw).map_err(|e| Status::internal(e.to_string()))?;
        let position = usize::try_from(q.position).unwrap_or(usize::MAX);
        let (Some(entry), Some(proof)) = (block.entries.get(position), block.proof(position)) else {
            return Err(Status::not_found(format!(
                "block {} has {} entries; there is no position {}",
                q.height,
                block.entries.len(),
                q.position
            )));
        };
        Ok(Response::new(pb::ProofInfo {
            entries_root: block.header.entriesRoot.to_vec(),
            index: entry.index,
            time: entry.time,
            entry: entry.entry.encode(),
            leaf: entry.leaf().to_vec(),
            position: proof.position,
            leaves: proof.leaves,
            siblings: proof.siblings.iter().map(|s| s.map(|b| b.to_vec()).unwrap_or_default()).collect(),
        }))
    }

    type SubscribeStream = Feed<pb::NotarizedEvent>;

    async fn subscribe(&self, r: Request<pb::SubscribeRequest>) -> Result<Response<Self::SubscribeStream>, Status> {
        access::caller(&r)?; // every role reads
        Ok(Response::new(follow(self.shared.clone(), r.into_inner().from_height, |shared, height| {
            Ok(shared
                .notarized(height)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|rec| pb::NotarizedEvent {
                    height,
                    subject_id: rec.subject.0.to_vec(),
                    subject: rec.payload,
                    certificate: rec.certificate,
                })
                .collect())
        })))
    }

    type BlocksStream = Feed<pb::BlockInfo>;

    async fn blocks(&self, r: Request<pb::SubscribeRequest>) -> Result<Response<Self::BlocksStream>, Status> {
        access::caller(&r)?; // every role reads
        let liveness = self.liveness.clone();
        Ok(Response::new(follow(self.shared.clone(), r.into_inner().from_height, move |shared, height| {
            let block = shared.block(height).map_err(|e| e.to_string())?.ok_or("a sealed block is missing")?;
            let latest_height = liveness.faults().claimed(shared.read().height());
            Ok(vec![pb::BlockInfo { block, latest_height }])
        })))
    }

    type CeremonyStream = Feed<pb::CeremonyEvent>;

    async fn ceremony(&self, r: Request<pb::SubscribeRequest>) -> Result<Response<Self::CeremonyStream>, Status> {
        access::caller(&r)?; // every role reads
        Ok(Response::new(follow(self.shared.clone(), r.into_inner().from_height, |shared, height| {
            let bytes = shared.block(height).map_err(|e| e.to_string())?.ok_or("a sealed block is missing")?;
            let block = Block::decode(&bytes).map_err(|e| format!("stored block {height} does not decode: {e}"))?;
            Ok(block
                .entries
                .iter()
                .filter(|e| matches!(e.entry, Entry::Ceremony(_)))
                .map(|e| pb::CeremonyEvent { height, entry: e.entry.encode() })
                .collect())
        })))
    }

    async fn signer_status(&self, r: Request<pb::SignerStatusQuery>) -> Result<Response<pb::SignerStatusInfo>, Status> {
        access::caller(&r)?; // every role reads
        let s = self.shared.read();
        Ok(Response::new(pb::SignerStatusInfo {
            announce: s.notary.signer_status().map(|a| a.encode()).unwrap_or_default(),
            height: s.height(),
        }))
    }

    async fn witness(&self, r: Request<pb::WitnessRequest>) -> Result<Response<pb::WitnessResponse>, Status> {
        let caller = access::caller(&r)?;
        let pb::WitnessRequest { entry, more } = r.into_inner();
        let count = 1 + more.len();
        if count > MAX_WITNESS_BATCH {
            return Err(Status::invalid_argument(format!(
                "a witness call carries at most {MAX_WITNESS_BATCH} entries; this one carries {count}"
            )));
        }
        let mut entries = more;
        entries.insert(0, entry);
        // In a task of its own: a caller's deadline that passes ends this
        // handler, not the checking, so every entry of a long call is still
        // watched (a call is at most 256 entries).
        let this = self.clone();
        tokio::spawn(async move { this.witness_all(caller, entries).await })
            .await
            .map_err(|e| Status::internal(format!("checking the witnessed entries failed: {e}")))?
            .map(Response::new)
    }

    async fn headers(&self, r: Request<pb::HeadersQuery>) -> Result<Response<pb::HeadersInfo>, Status> {
        access::caller(&r)?; // every role reads
        let q = r.into_inner();
        crate::crosscheck::serve(&self.shared, self.liveness.faults(), q.from_height, q.to_height).map(Response::new)
    }

    async fn get_transfer_proof(
        &self,
        r: Request<pb::TransferProofQuery>,
    ) -> Result<Response<pb::TransferProofInfo>, Status> {
        access::caller(&r)?; // every role reads
        let raw = r.into_inner().transfer_id;
        let id: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| Status::invalid_argument(format!("a transfer id is 32 bytes, got {}", raw.len())))?;
        let id = box_core::ids::TransferId(B256::from(id));
        let stored = self
            .shared
            .transfer_proof(&id)
            .map_err(|e| Status::internal(e.to_string()))?
            .filter(|_| !self.liveness.faults().hides_proofs())
            .ok_or_else(|| Status::not_found(format!("no block this node holds changed transfer {id}")))?;
        let header =
            self.shared.header(stored.height).map_err(|e| Status::internal(e.to_string()))?.ok_or_else(|| {
                Status::internal(format!("block {} of transfer {id}'s proof is missing", stored.height))
            })?;
        Ok(Response::new(pb::TransferProofInfo {
            height: stored.height,
            header,
            value: self.liveness.faults().served_row(stored.proof.row.value),
            siblings: stored.proof.row.siblings.iter().map(|s| s.to_vec()).collect(),
        }))
    }

    async fn attest(&self, r: Request<pb::AttestQuery>) -> Result<Response<pb::AttestationInfo>, Status> {
        access::caller(&r)?; // every role reads
        crate::followers::attest(&self.shared, r.into_inner().height).map(Response::new)
    }

    async fn registry_chain(
        &self,
        r: Request<pb::RegistryChainQuery>,
    ) -> Result<Response<pb::RegistryChainInfo>, Status> {
        access::caller(&r)?; // every role reads
        crate::followers::registry_chain(&self.shared).map(Response::new)
    }

    type GetStateStream = Feed<pb::StateInfo>;

    async fn get_state(&self, r: Request<pb::StateQuery>) -> Result<Response<Self::GetStateStream>, Status> {
        access::caller(&r)?; // every role reads
        let q = r.into_inner();
        let pieces = crate::followers::get_state(&self.shared, q.height, q.piece_bytes)?;
        Ok(Response::new(Box::pin(tokio_stream::iter(pieces.map(Ok)))))
    }

    async fn cluster(&self, r: Request<pb::ClusterQuery>) -> Result<Response<pb::ClusterInfo>, Status> {
        access::caller(&r)?; // every role reads
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let s = self.shared.read();
        Ok(Response::new(pb::ClusterInfo {
            node_id: self.id,
            leader: m.current_leader.unwrap_or(0),
            height: s.height(),
            last_applied: m.last_applied.map_or(0, |l| l.index),
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
            account: self.account.to_checksum(None),
            unsealed: (s.unsealed.len() + s.pending.as_ref().map_or(0, |p| p.entries.len())) as u64,
            genesis_fingerprint: box_core::genesis::Fingerprint::of(s.notary.genesis()).0.to_vec(),
        }))
    }
}
