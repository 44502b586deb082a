//! What the client checks before it signs: a transfer's request and lower
//! levels before an approval, the signer's announcement before a ceremony
//! message is sealed to its key.

use super::{Client, ClientError};
use crate::types::SignerOut;
use box_core::Address;
use box_core::ceremony::SignerAnnounce;
use box_core::crypto::recover;
use box_core::ids::TransferId;
use box_core::transbox::TransBox;
use box_core::typed::TransferRequest;

impl Client {
    /// Verifies what the gateway shows for transfer `id` and returns the
    /// request and the TransBox of its closed levels, with the open level.
    ///
    /// Checks: the request hashes to `id`; the applicant signed it; every
    /// signature of every closed level recovers (to someone) over the nested
    /// approval computed here, and none recovers to the applicant or to this
    /// client. Does not check that those signers are the flow's approvers or
    /// that the thresholds are met (the nodes and the signer do; the approval
    /// commits to exactly these signatures through `below`): a gateway can
    /// withhold or stall a transfer, never make this client sign something
    /// other than the request that hashes to `id`.
    pub async fn verified_transfer(&self, id: &TransferId) -> Result<(TransferRequest, TransBox, u32), ClientError> {
        let t = self.transfer(id).await?;
        let untrusted = |m: String| ClientError::Untrusted(m);
        let request = t.request.0;
        if self.domain.transfer_id(&request) != *id {
            return Err(untrusted(format!("the request shown does not hash to transfer id {id}")));
        }
        let applicant_signature = t.applicant_signature.0;
        if self.domain.recover(&request, &applicant_signature).ok() != Some(request.applicant) {
            return Err(untrusted("the applicant's signature does not verify".into()));
        }
        let level = t.open_level.ok_or_else(|| ClientError::Api {
            status: 409,
            code: "not_collecting".into(),
            message: format!("transfer {id} is {}", t.status.state),
            retry_after: None,
        })?;
        let mut tb = TransBox { request: request.clone(), applicant_signature, levels: Vec::new() };
        for l in t.levels.iter().filter(|l| l.level < level) {
            let approval = tb.approval_for(l.level as usize);
            let hash = self.domain.signing_hash(&approval);
            let mut sigs = Vec::new();
            for s in &l.signatures {
                let who = recover(&hash, &s.signature.0).map_err(|e| untrusted(format!("level {}: {e}", l.level)))?;
                if who == request.applicant || who == self.address() {
                    return Err(untrusted(format!(
                        "level {} holds a signature by {who}, who may not approve",
                        l.level
                    )));
                }
                sigs.push(s.signature.0);
            }
            tb.levels.push(sigs);
        }
        Ok((request, tb, level))
    }

    /// The signer's latest announcement. Its signature is checked here
    /// against `signer`, the signer's address from the genesis the caller
    /// trusts (never the gateway's account of it).
    pub async fn signer(&self, signer: Address) -> Result<SignerOut, ClientError> {
        Ok(self.signer_verified(signer).await?.0)
    }

    /// The signer's latest announcement as the signed struct a key holder
    /// answers (see `box_core::ceremony::answer`), checked against `signer`.
    pub async fn signer_announce(&self, signer: Address) -> Result<SignerAnnounce, ClientError> {
        Ok(self.signer_verified(signer).await?.1)
    }

    async fn signer_verified(&self, signer: Address) -> Result<(SignerOut, SignerAnnounce), ClientError> {
        let s: SignerOut = self.get("/v1/ceremony/signer").await?;
        let untrusted = |m: &str| ClientError::Untrusted(format!("the signer announcement {m}"));
        let announce = SignerAnnounce {
            boot: s.boot,
            sequence: s.sequence,
            state: s.state.ok_or_else(|| untrusted("has an unknown state"))? as u8,
            ceremonyKey: s.ceremony_key.0.clone().into(),
            wallet: s.wallet,
            devices: s.devices.clone(),
            holders: s.holders,
            received: s.received,
            paused: s.paused,
            detail: s.detail.clone(),
            time: s.time,
        };
        if self.domain.recover(&announce, &s.signature.0).ok() != Some(signer) {
            return Err(untrusted("is not signed by the signer"));
        }
        Ok((s, announce))
    }
}
