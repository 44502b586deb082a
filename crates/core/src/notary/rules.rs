//! What a node checks: a companion's verdict, admission to the log, and the
//! authority rules on flow authorizations, governance and signer reports.

use super::effect::ReportEffect;
use super::{FlowStatus, Inadmissible, NotaryState, Subject, TransferStatus};
use crate::Refusal;
use crate::flow::{ActiveFlow, verify_recorded_flow};
use crate::governance::{GovernanceAction, verify_action};
use crate::ids::{ContentHash, FlowHash, SubjectId, Timestamp, TransferId};
use crate::transbox::{Policy, check_transbox};
use crate::typed::{Domain, ReportStatus};

impl NotaryState {
    /// What a companion votes: `Ok` to accept the subject's content, or the
    /// refusal to vote against it with. `now` is the companion's view of the
    /// time (the log time of the latest entry it applied). Meaningful only
    /// while the subject is [`SubjectStatus::Pending`](super::SubjectStatus::Pending): once it is decided its
    /// effect is part of the state (an anchored flow is no longer merely
    /// authorized), so companions skip decided subjects.
    pub fn verdict(&self, id: &SubjectId, now: Timestamp) -> Result<ContentHash, Refusal> {
        let rec = self.subjects.get(id).ok_or_else(|| Refusal::MalformedTransfer(format!("unknown subject {id}")))?;
        match &rec.subject {
            // Filed under its hash at submission: only its shape is left to judge.
            Subject::Flow(f) => crate::flow::check_shape(f),
            Subject::FlowAuthorization(a) => self.check_authorization(a),
            Subject::Transfer(t) => crate::decision::verify_transfer(self, t, now).map(|_| ()),
            Subject::Governance(g) => self.check_governance(g).map(|_| ()),
            Subject::SignerReport(r) => self.check_report(&r.value).map(|_| ()),
        }?;
        Ok(rec.content)
    }

    /// Whether a node should let `subject` into the log, as far as this
    /// replica can tell: the authenticity gates [`NotaryState::apply`] applies
    /// to every submission, and for a transfer the checks no later state can
    /// lift ([`check_transbox`]: signatures, thresholds, the flow's fixed
    /// limits) against the flow it names. A subject that passes may still be
    /// refused or rejected once in the log; one that fails never could be
    /// notarized. `apply` itself does not run the transfer checks: what a
    /// majority puts in the log is decided by votes, and the signer verifies
    /// everything again.
    pub fn admission(&self, subject: &Subject) -> Result<(), Inadmissible> {
        let domain = self.domain();
        self.authenticity(subject, &domain).map_err(Inadmissible::Refused)?;
        if let Subject::Transfer(t) = subject {
            let h = FlowHash(t.request.flowHash);
            let Some(rec) = self.flows.get(&h) else {
                return Err(Inadmissible::NotYet(format!(
                    "the transfer names flow {h}, which this node does not know (yet: it may be behind)"
                )));
            };
            let flow = verify_recorded_flow(&rec.flow, h).map_err(|e| Inadmissible::Refused(e.to_string()))?;
            check_transbox(t, &domain, &flow, self.assets().get(&t.request.asset).as_ref())
                .map_err(|e| Inadmissible::Refused(e.to_string()))?;
        }
        Ok(())
    }

    /// Cheap authenticity gates that keep strangers from filling the state:
    /// a signer report must be the signer's, an authorization a key holder's.
    pub(super) fn authenticity(&self, subject: &Subject, domain: &Domain) -> Result<(), String> {
        match subject {
            Subject::SignerReport(r) => match r.signer(domain) {
                Ok(s) if s == self.genesis.signer => Ok(()),
                Ok(s) => Err(format!("signer report signed by {s}, not the signer")),
                Err(e) => Err(format!("signer report signature: {e}")),
            },
            Subject::FlowAuthorization(a) => match a.signer(domain) {
                Ok(s) if self.key_holders.contains(&s) => Ok(()),
                Ok(s) => Err(format!("flow authorization signed by {s}, not a key holder")),
                Err(e) => Err(e.to_string()),
            },
            _ => Ok(()),
        }
    }

    /// A transfer id takes a new transbox, and a transbox is notarized, only
    /// while no transbox for it has been notarized: a transfer executes at
    /// most once.
    pub(crate) fn transfer_open(&self, tid: &TransferId) -> Result<(), Refusal> {
        // A live transfer has not retired (a retired id never is live), so
        // the retired ids are asked only about one that is not live: a
        // follower's index is asked about a transbox's transfer at its
        // submission, not again at its notarization.
        match self.transfers.get(tid) {
            Some(r) if !matches!(r.status, TransferStatus::Submitted | TransferStatus::Rejected { .. }) => {
                Err(Refusal::Replay(format!("{tid} (notarized as subject {})", r.subject)))
            }
            Some(_) => Ok(()),
            None if self.retired.contains(&tid.0) => Err(Refusal::retired_transfer(tid)),
            None => Ok(()),
        }
    }

    /// The deployment-wide rules as they stand.
    pub fn policy(&self) -> Policy<'_> {
        Policy {
            assets: &self.assets,
            frozen: &self.frozen,
            blocked: &self.blocked,
            address_book: &self.address_book,
            paused: self.paused.as_deref(),
            hot_wallet: self.hot_wallet(),
        }
    }

    /// The flow `h` as proof that it is active in this state (notarized,
    /// enabled by every key holder, anchored), or why not.
    pub fn active_flow(&self, h: &FlowHash) -> Result<ActiveFlow, Refusal> {
        let rec = self.flows.get(h).ok_or_else(|| Refusal::UnknownFlow(h.to_string()))?;
        if rec.status != FlowStatus::Active {
            return Err(Refusal::FlowNotActive {
                flow: h.to_string(),
                status: format!("{:?}", rec.status).to_lowercase(),
            });
        }
        verify_recorded_flow(&rec.flow, *h).map(ActiveFlow::new)
    }

    pub(super) fn check_authorization(
        &self,
        a: &crate::typed::Signed<crate::typed::FlowAuthorization>,
    ) -> Result<(), Refusal> {
        let who =
            a.signer(&self.domain()).map_err(|err| Refusal::BadSignature { who: "flow authorization".into(), err })?;
        if !self.key_holders.contains(&who) {
            return Err(Refusal::Unauthorized(format!("{who} is not a key holder")));
        }
        let h = FlowHash(a.value.flowHash);
        let rec = self.flows.get(&h).ok_or_else(|| Refusal::UnknownFlow(h.to_string()))?;
        match (&rec.status, a.value.enable) {
            (FlowStatus::Submitted | FlowStatus::Rejected, _) => Err(Refusal::FlowNotActive {
                flow: h.to_string(),
                status: format!("{:?} (it must be notarized first)", rec.status).to_lowercase(),
            }),
            (FlowStatus::Disabled, true) => {
                Err(Refusal::Governance(format!("flow {h} is disabled; a disabled flow cannot be enabled again")))
            }
            _ => Ok(()),
        }
    }

    pub(super) fn check_governance(
        &self,
        g: &crate::governance::SignedAction,
    ) -> Result<crate::governance::VerifiedAction, Refusal> {
        let v = verify_action(&self.domain(), g, &self.key_holders, &self.registry)?;
        if let GovernanceAction::RegisterAsset(a) = v.action()
            && !a.registered
            && self.assets.get(&a.token).is_none()
        {
            return Err(Refusal::Governance(format!("asset {} is not registered", a.token)));
        }
        if let GovernanceAction::NodeChange(c) = v.action()
            && c.add
        {
            if c.nodeId == 0 {
                return Err(Refusal::Governance("a node id must be at least 1".into()));
            }
            if let Some(other) = self.nodes.values().find(|n| n.nodeId == c.nodeId) {
                return Err(Refusal::Governance(format!("node id {} is already used by {}", c.nodeId, other.account)));
            }
            if c.endpoint.rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err()) {
                return Err(Refusal::Governance(format!("endpoint {:?} is not host:port", c.endpoint)));
            }
        }
        Ok(v)
    }

    /// The transfer or flow status a report moves to, if the transition is allowed.
    pub(super) fn check_report(&self, r: &crate::typed::SignerReport) -> Result<ReportEffect, Refusal> {
        let status = ReportStatus::from_u8(r.status)
            .ok_or_else(|| Refusal::Unauthorized(format!("unknown report status {}", r.status)))?;
        if status == ReportStatus::Anchored {
            let h = FlowHash(r.subject);
            let rec = self.flows.get(&h).ok_or_else(|| Refusal::UnknownFlow(h.to_string()))?;
            return if rec.status == FlowStatus::Authorized {
                Ok(ReportEffect::Flow(h, r.txHash))
            } else {
                Err(Refusal::FlowNotActive {
                    flow: h.to_string(),
                    status: format!("{:?}, not authorized", rec.status).to_lowercase(),
                })
            };
        }
        let tid = TransferId(r.subject);
        let t =
            self.transfers.get(&tid).ok_or_else(|| Refusal::Replay(format!("{tid} is unknown; no report possible")))?;
        use TransferStatus as T;
        let next = match (&t.status, status) {
            (T::Notarized, ReportStatus::Broadcast) | (T::Broadcast { .. }, ReportStatus::Broadcast) => {
                T::Broadcast { tx_hash: r.txHash, nonce: r.nonce }
            }
            (T::Notarized, ReportStatus::Refused) => T::Refused { reason: r.detail.clone() },
            (T::Broadcast { tx_hash, .. }, ReportStatus::Confirmed) if *tx_hash == r.txHash || r.txHash.is_zero() => {
                T::Confirmed { tx_hash: *tx_hash }
            }
            (T::Broadcast { .. }, ReportStatus::Confirmed) => T::Confirmed { tx_hash: r.txHash },
            (T::Broadcast { .. }, ReportStatus::Failed) => T::Failed { reason: r.detail.clone() },
            (T::Confirmed { tx_hash }, ReportStatus::Reorged) => T::Broadcast { tx_hash: *tx_hash, nonce: r.nonce },
            (current, s) => {
                return Err(Refusal::Unauthorized(format!("a {s:?} report cannot follow transfer state {current:?}")));
            }
        };
        Ok(ReportEffect::Transfer(tid, next))
    }
}
