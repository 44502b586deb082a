//! The node's answers for new followers (`Notary.Attest`,
//! `Notary.RegistryChain`, `Notary.GetState`; every role reads them, see
//! [`crate::access`]). What they serve is kept by the state machine
//! (`state_machine::kept`); a follower believes none of it on one node's
//! word (box-proto's `bootstrap`).

use crate::state_machine::{AttestError, Shared};
use box_proto::pb;
use tonic::Status;

/// This node's attestation of block `height`.
pub fn attest(shared: &Shared, height: u64) -> Result<pb::AttestationInfo, Status> {
    let a = shared.attest(height).map_err(|e| match e {
        AttestError::NotFound(m) => Status::not_found(m),
        AttestError::Internal(m) => Status::internal(m),
    })?;
    let account = a.signer(&shared.read().notary.domain()).map_err(|e| Status::internal(e.to_string()))?;
    Ok(pb::AttestationInfo {
        height: a.attestation.height,
        block_hash: a.attestation.blockHash.to_vec(),
        state_root: a.attestation.stateRoot.to_vec(),
        signature: a.signature.as_bytes().to_vec(),
        account: account.to_vec(),
    })
}

/// The notarized node changes, in order.
pub fn registry_chain(shared: &Shared) -> Result<pb::RegistryChainInfo, Status> {
    // A node that caught up by snapshot lacks the records of the blocks below
    // it; it holds their node changes once it took them from the verified
    // registry chain that certified its tip.
    let missing = shared.records_missing().map_err(|e| Status::internal(e.to_string()))?;
    let taken = shared.registry_taken_to().map_err(|e| Status::internal(e.to_string()))?;
    if let Some(tip) = missing.filter(|tip| taken < *tip) {
        return Err(Status::unavailable(format!(
            "this node caught up by a snapshot at block {tip} and does not hold the node changes notarized \
             before it; ask another node"
        )));
    }
    let changes = shared.registry_chain().map_err(|e| Status::internal(e.to_string()))?;
    Ok(pb::RegistryChainInfo {
        changes: changes
            .into_iter()
            .map(|c| pb::RegistryChangeInfo { height: c.height, subject: c.subject, certificate: c.certificate })
            .collect(),
        latest_height: shared.read().height(),
    })
}

/// The largest piece of a kept state `GetState` sends (and the default).
pub const MAX_STATE_PIECE: usize = 4 << 20;
/// The smallest piece a caller may ask for.
pub const MIN_STATE_PIECE: usize = 1 << 10;

/// A kept state's pieces, in order, each copied out as it is sent (the
/// state is held once).
pub struct StatePieces {
    height: u64,
    checkpoint: Vec<u8>,
    piece: usize,
    offset: usize,
    sent: bool,
}

impl Iterator for StatePieces {
    type Item = pb::StateInfo;

    fn next(&mut self) -> Option<pb::StateInfo> {
        if self.sent && self.offset >= self.checkpoint.len() {
            return None;
        }
        let end = (self.offset + self.piece).min(self.checkpoint.len());
        let info = pb::StateInfo {
            height: self.height,
            piece: self.checkpoint[self.offset..end].to_vec(),
            total_bytes: self.checkpoint.len() as u64,
            offset: self.offset as u64,
        };
        (self.offset, self.sent) = (end, true);
        Some(info)
    }
}

/// The kept state at `height` (0: the latest) in pieces of at most
/// `piece_bytes` (0: [`MAX_STATE_PIECE`]; clamped to
/// [`MIN_STATE_PIECE`]..=[`MAX_STATE_PIECE`]), in order, each naming the
/// height, the total size and its offset (at least one piece).
pub fn get_state(shared: &Shared, height: u64, piece_bytes: u32) -> Result<StatePieces, Status> {
    let (height, checkpoint) = shared
        .kept_state((height != 0).then_some(height))
        .map_err(|e| Status::internal(e.to_string()))?
        .ok_or_else(|| {
            if height == 0 {
                Status::not_found("this node keeps no state yet (it keeps one every `state_checkpoint_every` blocks)")
            } else {
                Status::not_found(format!("this node does not keep the state at block {height}"))
            }
        })?;
    let piece = match piece_bytes as usize {
        0 => MAX_STATE_PIECE,
        n => n.clamp(MIN_STATE_PIECE, MAX_STATE_PIECE),
    };
    Ok(StatePieces { height, checkpoint, piece, offset: 0, sent: false })
}
