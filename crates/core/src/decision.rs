//! "May this money move?", decided once, one function per stage.
//!
//! ```text
//!   employee ──application──▶ gateway: check_request ──approvals──▶ gateway: verify_transfer ──▶ chain
//!   chain ──pending transbox──▶ companion: verify_transfer (NotaryState::verdict) ──vote──▶ chain
//!   chain ──notarized transbox──▶ signer: authorize ──▶ AuthorizedTransfer ──▶ transaction
//! ```
//!
//! Every stage reads the same rules ([`crate::transbox`]) in the same order
//! against a notary state; they differ only in what they know: the gateway
//! has a request and its applicant's signature but no approvals yet, a
//! companion has the complete transbox and the chain's history, the signer
//! has the notarized transbox with its quorum certificate and its own
//! durable record of what it signed. On the same inputs they give the same
//! verdict (`tests/stages.rs`).

use crate::Refusal;
use crate::amount::Amount;
use crate::asset::Asset;
use crate::flow::{ActiveFlow, MAX_PERIOD_SECONDS};
use crate::ids::{ChainId, FlowHash, Timestamp, TransferId};
use crate::notary::{NotaryState, Subject, SubjectStatus};
use crate::quorum::{VerifiedCertificate, verify_certificate, verify_recorded};
use crate::transbox::{TransBox, TransferContext, VerifiedTransBox, check_application, eth_spend, verify_transbox};
use crate::typed::TransferRequest;
use alloy::primitives::{Address, Signature, U256};

/// Stage 1, the gateway: whether an application (a request with its
/// applicant's signature) may be accepted for collecting approvals, as of
/// `state` at `now`. Checks that no transbox for the transfer was notarized
/// (a replay), that its flow is active, and every rule of
/// [`verify_transbox`] that needs no approval ([`check_application`]), with
/// the period limits counted from the chain's history.
///
/// On a state that leaves the older retired ids to a follower's index
/// ([`NotaryState::retired_indexed`] > 0), a transfer retired before it is
/// not seen here: the caller asks its index first (the gateway does).
///
/// Passing does not promise the transfer will be notarized or signed: the
/// approvals are still to come, and the state may change before they do.
/// An edge may refuse more (an application dated long ago, a caller who is
/// not the applicant); it must not accept what this refuses.
pub fn check_request(
    state: &NotaryState,
    request: &TransferRequest,
    applicant_signature: &Signature,
    now: Timestamp,
) -> Result<(), Refusal> {
    let domain = state.domain();
    let id = domain.transfer_id(request);
    state.transfer_open(&id)?;
    let flow = state.active_flow(&FlowHash(request.flowHash))?;
    let (history, eth_history) = chain_history(state, &flow, &request.asset, &id, now);
    let ctx = context(state, &domain, &flow, now, &history, &eth_history);
    check_application(request, applicant_signature, &ctx)
}

/// Stage 2, a companion (and the gateway once the last level signed): whether
/// a complete transbox may be notarized, as of `state` at `now`: no transbox
/// for the transfer was notarized yet, its flow is active, and
/// [`verify_transbox`] passes with the period limits counted from the
/// chain's history (every other transfer under the flow that counts).
///
/// On an indexed follower's state, as [`check_request`]: a transfer retired
/// before it is the caller's to look up.
///
/// This is what a companion votes on ([`NotaryState::verdict`]). It does not
/// check a quorum certificate (there is none yet) nor the signer's record.
pub fn verify_transfer(state: &NotaryState, tb: &TransBox, now: Timestamp) -> Result<VerifiedTransBox, Refusal> {
    let domain = state.domain();
    let id = tb.transfer_id(&domain);
    state.transfer_open(&id)?;
    let flow = state.active_flow(&FlowHash(tb.request.flowHash))?;
    let (history, eth_history) = chain_history(state, &flow, &tb.request.asset, &id, now);
    verify_transbox(tb, &context(state, &domain, &flow, now, &history, &eth_history))
}

/// What the signer itself durably recorded: the executions it made. The
/// signer counts replays and limits from this, never from the chain (a
/// dishonest majority could make the chain forget a transfer).
pub trait SignerRecord {
    /// Whether the signer holds an execution of `id`, whatever its outcome
    /// (signed, broadcast, refused, failed). Must be as durable as the
    /// record it reads: once the signer signed for `id`, this stays true
    /// across restarts.
    fn executed(&self, id: &TransferId) -> bool;

    /// The signer's executions under `flow` as they count towards its period
    /// limit for `asset`, leaving out `except`: (decision time, amount). For
    /// a token its amounts; for ETH (`address(0)`) every ETH amount plus
    /// every transfer's fee cap ([`eth_spend`]): each execution counted by
    /// [`counts_towards`](crate::transbox::counts_towards), the rule the
    /// chain's history is counted by too. Only executions that count
    /// (signed and not failed on chain). Entries at or before
    /// `now − MAX_PERIOD_SECONDS` may be left out: no window reaches them.
    fn counted(
        &self,
        flow: &FlowHash,
        asset: &Address,
        now: Timestamp,
        except: &TransferId,
    ) -> Vec<(Timestamp, Amount)>;
}

/// A signer record with nothing in it (a fresh signer; benches and tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NothingRecorded;

impl SignerRecord for NothingRecorded {
    fn executed(&self, _: &TransferId) -> bool {
        false
    }
    fn counted(&self, _: &FlowHash, _: &Address, _: Timestamp, _: &TransferId) -> Vec<(Timestamp, Amount)> {
        Vec::new()
    }
}

/// Which signature [`authorize`] is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The first transaction of a transfer: the signer has no execution of
    /// it (anything else is a replay).
    First,
    /// A replacement of the transaction the signer recorded for the transfer
    /// (a re-pricing on the same nonce, or signing it again): the signer
    /// must hold its execution, which is left out of the limits it counts.
    /// Every other rule is checked as for the first: a replacement is a new
    /// signature.
    Replacement,
}

/// Stage 3, the signer: whether it may sign a transaction for transfer `id`,
/// notarized in `state` (a state the signer verified itself from the
/// genesis), on the public chain `chain_id` (its configuration), at `now`
/// (its clock for limits). Checks, in order: the replay rule against the
/// signer's `record` (per `attempt`), the transfer is on the chain and
/// notarized, its quorum certificate against the verified node registry (the
/// registry of its notarization: a later node change does not undo it, unless
/// a voter has since been convicted of equivocation), the
/// transbox is filed under `id`, the chain id, the flow is active, and
/// [`verify_transbox`] with the period limits counted from `record`.
///
/// The result is the only input from which the signer builds, re-prices or
/// re-signs a transaction. It does not check what only the signer can see
/// (the wallet's funds, an equivocating node, its own seal), nor record
/// anything: the caller records the execution durably before broadcasting.
pub fn authorize(
    state: &NotaryState,
    id: &TransferId,
    chain_id: ChainId,
    record: &impl SignerRecord,
    attempt: Attempt,
    now: Timestamp,
) -> Result<AuthorizedTransfer, Refusal> {
    match (attempt, record.executed(id)) {
        (Attempt::First, true) => return Err(Refusal::Replay(format!("{id} was already executed"))),
        (Attempt::Replacement, false) => {
            return Err(Refusal::Replay(format!("{id} has no recorded execution to replace")));
        }
        _ => {}
    }
    let domain = state.domain();
    let rec = state.transfer(id).ok_or_else(|| Refusal::Replay(format!("{id} is not on the chain")))?;
    let subject = state
        .subject(&rec.subject)
        .ok_or_else(|| Refusal::MalformedTransfer(format!("the subject of {id} is missing")))?;
    let SubjectStatus::Notarized { certificate } = &subject.status else {
        return Err(Refusal::Certificate(format!("{id} is not notarized")));
    };
    // Against the registry now; if a node change since the notarization
    // moved it, against what the notary recorded then (`verify_recorded`),
    // unless a voter was convicted of equivocation: its vote does not carry
    // a notarization past its removal.
    let certificate = verify_certificate(&domain, state.registry(), certificate)
        .or_else(|now| match verify_recorded(&domain, certificate) {
            Ok(c) if !c.voters().iter().any(|v| state.equivocators().any(|(e, _)| e == v)) => Ok(c),
            _ => Err(now),
        })
        .map_err(|e| Refusal::Certificate(format!("the quorum certificate does not verify: {e}")))?;
    let Subject::Transfer(tb) = &subject.subject else {
        return Err(Refusal::MalformedTransfer("the subject is not a transfer".into()));
    };
    if tb.transfer_id(&domain) != *id {
        return Err(Refusal::MalformedTransfer("the transbox is filed under another transfer id".into()));
    }
    if tb.request.chainId != chain_id.0 {
        return Err(Refusal::WrongChain { request: tb.request.chainId, expected: chain_id.0 });
    }
    let flow = state.active_flow(&FlowHash(tb.request.flowHash))?;
    let history = record.counted(&flow.hash(), &tb.request.asset, now, id);
    let eth_history = record.counted(&flow.hash(), &Address::ZERO, now, id);
    let verified = verify_transbox(tb, &context(state, &domain, &flow, now, &history, &eth_history))?;
    Ok(AuthorizedTransfer { verified, certificate, chain_id, attempt })
}

/// A notarized transfer the signer may sign a transaction for: what
/// [`authorize`] returned. Only that function makes one; it cannot be
/// deserialized or built from fields. It carries what moves (asset,
/// destination, amount), the signed fee cap and the chain, each from the
/// verified transbox.
///
/// It is a verdict at one moment: it does not stay true by itself (a pause
/// or a flow's disabling later does not reach it), so the signer makes a new
/// one for each signature it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedTransfer {
    verified: VerifiedTransBox,
    certificate: VerifiedCertificate,
    chain_id: ChainId,
    attempt: Attempt,
}

/// What an [`AuthorizedTransfer`] moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payment {
    /// `amount` wei to `to`.
    Eth {
        /// Recipient.
        to: Address,
        /// Wei.
        amount: U256,
    },
    /// `amount` base units of the registered ERC-20 `token` to `to`
    /// (`token.transfer(to, amount)`).
    Erc20 {
        /// The token contract.
        token: Address,
        /// Recipient.
        to: Address,
        /// Base units.
        amount: U256,
    },
}

impl AuthorizedTransfer {
    /// The transfer id: it owns one nonce slot, so at most one of its
    /// transactions can ever be mined.
    pub fn transfer_id(&self) -> TransferId {
        self.verified.transfer_id()
    }
    /// The verified transbox.
    pub fn verified(&self) -> &VerifiedTransBox {
        &self.verified
    }
    /// The request (every field signed by the applicant and every approver).
    pub fn request(&self) -> &TransferRequest {
        self.verified.request()
    }
    /// The flow it was approved under.
    pub fn flow(&self) -> FlowHash {
        FlowHash(self.request().flowHash)
    }
    /// The registered asset it moves.
    pub fn asset(&self) -> &Asset {
        self.verified.asset()
    }
    /// What moves, to whom.
    pub fn payment(&self) -> Payment {
        let r = self.request();
        match self.asset() {
            Asset::Eth => Payment::Eth { to: r.to, amount: r.amount },
            Asset::Erc20 { contract, .. } => Payment::Erc20 { token: *contract, to: r.to, amount: r.amount },
        }
    }
    /// The most its transaction may spend on fees, in wei (`maxFee`): every
    /// price, re-pricing included, stays within it.
    pub fn fee_cap(&self) -> Amount {
        Amount(self.request().maxFee)
    }
    /// The public chain its transaction is for.
    pub fn chain_id(&self) -> ChainId {
        self.chain_id
    }
    /// The node accounts whose votes notarized it.
    pub fn voters(&self) -> &std::collections::BTreeSet<Address> {
        self.certificate.voters()
    }
    /// Which signature it authorizes.
    pub fn attempt(&self) -> Attempt {
        self.attempt
    }
    /// What it counts towards its flow's ETH period limit ([`eth_spend`]).
    pub fn eth_spend(&self) -> Option<Amount> {
        let r = self.request();
        eth_spend(&r.asset, Amount(r.amount), Amount(r.maxFee))
    }
}

/// (decision time, amount) pairs a period limit counts.
type Spent = Vec<(Timestamp, Amount)>;

/// The transfers the chain holds under the flow that count towards its
/// period limits, leaving out `except`: (asset window, ETH window).
/// The chain's transfers under `flow` a period limit at `now` can count: only
/// that window is read.
fn chain_history(
    state: &NotaryState,
    flow: &ActiveFlow,
    asset: &Address,
    except: &TransferId,
    now: Timestamp,
) -> (Spent, Spent) {
    let since = oldest_counted(now);
    (
        state.history_since(&flow.hash(), asset, Some(except), since),
        state.history_since(&flow.hash(), &Address::ZERO, Some(except), since),
    )
}

fn context<'a>(
    state: &'a NotaryState,
    domain: &'a crate::typed::Domain,
    flow: &'a ActiveFlow,
    now: Timestamp,
    history: &'a [(Timestamp, Amount)],
    eth_history: &'a [(Timestamp, Amount)],
) -> TransferContext<'a> {
    TransferContext { domain, flow, policy: state.policy(), now, history, eth_history }
}

/// The oldest decision time a period limit at `now` can still count.
pub fn oldest_counted(now: Timestamp) -> Timestamp {
    now.saturating_sub(MAX_PERIOD_SECONDS)
}
