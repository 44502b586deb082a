//! Execution: every check of DESIGN.md §6 from scratch, then sign, record,
//! broadcast, track and report, each transfer id at most once.
//!
//! Exactly once: the signed transaction and the nonce it owns are written to
//! the store in one durable transaction before the first broadcast
//! ([`Store::insert_execution`] refuses a second record for the same transfer
//! or nonce). After a crash the same bytes are broadcast again; the nonce
//! slot guarantees that at most one of a transfer's (fee-bumped) transactions
//! can ever be mined. Nonces come from the larger of the store's highest and
//! the Ethereum node's pending count.

use crate::eth::{Call, Fees, sign_tx};
use crate::runtime::{Fault, RunError, Signer};
use crate::store::{Execution, ExecutionKind, ExecutionState, Store};
use box_core::Refusal;
use box_core::amount::Amount;
use box_core::encoding::Canonical;
use box_core::ids::{FlowHash, Timestamp, TransferId};
use box_core::notary::{FlowStatus, Subject, SubjectStatus, TransferStatus};
use box_core::quorum::verify_certificate;
use box_core::transbox::{TransferContext, VerifiedTransBox, eth_spend, verify_transbox};
use box_core::typed::{ReportStatus, Signed, SignerReport};
use box_core::{Address, B256, U256};
use std::time::{Duration, Instant};

/// Gas for a plain ETH transfer.
const ETH_TRANSFER_GAS: u64 = 21_000;
/// Re-send a report no more often than this while the chain has not taken it.
const REPORT_EVERY: Duration = Duration::from_secs(3);

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The earlier transfers under `flow` as they count towards its period
/// limit for `asset`, from the signer's own record: (decision time, amount).
/// For ETH (`address(0)`): every ETH amount plus every transfer's fee cap
/// (box-core's `eth_spend`, the rule the companions apply too).
pub fn own_history(store: &Store, flow: B256, asset: Address) -> Result<Vec<(Timestamp, Amount)>, RunError> {
    Ok(store
        .executions()?
        .into_iter()
        .filter_map(|(_, x)| match x.kind {
            ExecutionKind::Transfer { flow: f, asset: a, amount, max_fee } if f == flow && x.counts() => {
                let counted = if asset.is_zero() {
                    eth_spend(&a, Amount(amount), Amount(max_fee)).unwrap_or(Amount(U256::MAX))
                } else if a == asset {
                    Amount(amount)
                } else {
                    return None;
                };
                Some((Timestamp(x.time), counted))
            }
            _ => None,
        })
        .collect())
}

/// The checks of DESIGN §6 that need no I/O: the quorum certificate against
/// the verified registry, the transbox under the deployment's domain, the
/// chain id, an active flow, membership, freezes, blocks, the pause, every
/// level's nested approvals and both limits, with `history` the signer's own
/// record of what counts towards the period limit. Whether the transfer was
/// executed before is the caller's to check (it lives in the store).
pub fn verify_notarized_transfer(
    domain: &box_core::typed::Domain,
    state: &box_core::notary::NotaryState,
    tid: &TransferId,
    chain_id: u64,
    history: &[(Timestamp, Amount)],
    eth_history: &[(Timestamp, Amount)],
    now: Timestamp,
) -> Result<VerifiedTransBox, Refusal> {
    let rec = state.transfer(tid).ok_or_else(|| Refusal::Replay(format!("{tid} is not on the chain")))?;
    let subject = state
        .subject(&rec.subject)
        .ok_or_else(|| Refusal::MalformedTransfer(format!("the subject of {tid} is missing")))?;
    let SubjectStatus::Notarized { certificate } = &subject.status else {
        return Err(Refusal::Certificate(format!("{tid} is not notarized")));
    };
    verify_certificate(domain, state.registry(), certificate)
        .map_err(|e| Refusal::Certificate(format!("the quorum certificate does not verify: {e}")))?;
    let Subject::Transfer(tb) = &subject.subject else {
        return Err(Refusal::MalformedTransfer("the subject is not a transfer".into()));
    };
    if tb.transfer_id(domain) != *tid {
        return Err(Refusal::MalformedTransfer("the transbox is filed under another transfer id".into()));
    }
    if tb.request.chainId != chain_id {
        return Err(Refusal::WrongChain { request: tb.request.chainId, expected: chain_id });
    }
    let flow = state.active_flow(&FlowHash(tb.request.flowHash))?;
    let ctx = TransferContext { domain, flow: &flow, policy: state.policy(), now, history, eth_history };
    verify_transbox(tb, &ctx)
}

impl Signer {
    /// The signer's clock for limits: the newest verified log time, never
    /// earlier than anything it has recorded.
    fn now(&self) -> Result<u64, RunError> {
        let recorded = self.store.executions()?.iter().map(|(_, x)| x.time).max().unwrap_or(0);
        Ok(self.last_time.max(recorded))
    }

    /// Every check of DESIGN §6 for transfer `tid`, against the verified state
    /// and the signer's own record.
    pub(crate) fn check_transfer(&self, tid: &TransferId, now: u64) -> Result<VerifiedTransBox, Refusal> {
        if self.store.execution(&tid.0).map_err(|e| Refusal::MalformedTransfer(e.to_string()))?.is_some() {
            return Err(Refusal::Replay(format!("{tid} was already executed")));
        }
        let rec = self
            .follower
            .verifier()
            .state()
            .transfer(tid)
            .ok_or_else(|| Refusal::Replay(format!("{tid} is not on the chain")))?;
        let own =
            |asset| own_history(&self.store, rec.flow.0, asset).map_err(|e| Refusal::MalformedTransfer(e.to_string()));
        let (history, eth_history) = (own(rec.asset)?, own(Address::ZERO)?);
        verify_notarized_transfer(
            &self.domain,
            self.follower.verifier().state(),
            tid,
            self.config.ethereum.chain_id,
            &history,
            &eth_history,
            Timestamp(now),
        )
    }

    /// Executes every notarized transfer and anchors every authorized flow
    /// that the signer has no record of.
    pub(crate) async fn execute_pending(&mut self) -> Result<(), RunError> {
        if self.vault.key().is_none() {
            return Ok(());
        }
        let state = self.follower.verifier().state();
        let flows: Vec<FlowHash> =
            state.flows().filter(|(_, r)| r.status == FlowStatus::Authorized).map(|(h, _)| *h).collect();
        let transfers: Vec<TransferId> =
            state.transfers().filter(|(_, r)| r.status == TransferStatus::Notarized).map(|(t, _)| *t).collect();
        for h in flows {
            if self.store.execution(&h.0)?.is_none() {
                self.anchor(h).await?;
            }
        }
        for tid in transfers {
            if self.store.execution(&tid.0)?.is_none() {
                self.execute(tid).await?;
            }
        }
        Ok(())
    }

    fn refuse(&self, subject: B256, kind: ExecutionKind, now: u64, reason: String) -> Result<(), RunError> {
        tracing::warn!(subject = %subject, "refused, nothing signed: {reason}");
        let x = Execution {
            kind,
            nonce: None,
            raw: vec![],
            hashes: vec![],
            max_fee_per_gas: 0,
            priority_fee_per_gas: 0,
            gas: 0,
            fee_cap: U256::ZERO,
            time: now,
            sent_at: 0,
            note: String::new(),
            note_reported: false,
            state: ExecutionState::Refused { reason },
        };
        self.store.insert_execution(&subject, &x)?;
        Ok(())
    }

    async fn execute(&mut self, tid: TransferId) -> Result<(), RunError> {
        let now = self.now()?;
        let v = match self.check_transfer(&tid, now) {
            Ok(v) => v,
            Err(refusal) => {
                let kind = self.transfer_kind(&tid);
                return self.refuse(tid.0, kind, now, refusal.to_string());
            }
        };
        let call = Call::transfer(&v);
        let kind = ExecutionKind::Transfer {
            flow: v.request().flowHash,
            asset: v.request().asset,
            amount: v.request().amount,
            max_fee: v.request().maxFee,
        };
        let gas = if call.data.is_empty() {
            ETH_TRANSFER_GAS
        } else {
            match self.eth.estimate_gas(self.wallet()?, &call).await {
                Ok(g) => g.saturating_mul(5) / 4,
                Err(e) => return self.refuse(tid.0, kind, now, format!("the token transfer would fail: {}", e.0)),
            }
        };
        if let Err(reason) = self.check_funds(&call, v.request().asset, v.request().amount, gas).await {
            return self.refuse(tid.0, kind, now, reason);
        }
        self.sign_and_send(tid.0, kind, call, gas, v.request().maxFee, now).await
    }

    fn transfer_kind(&self, tid: &TransferId) -> ExecutionKind {
        match self.follower.verifier().state().transfer(tid) {
            Some(r) => {
                ExecutionKind::Transfer { flow: r.flow.0, asset: r.asset, amount: r.amount.0, max_fee: r.max_fee.0 }
            }
            None => ExecutionKind::Transfer {
                flow: B256::ZERO,
                asset: Address::ZERO,
                amount: U256::ZERO,
                max_fee: U256::ZERO,
            },
        }
    }

    fn wallet(&self) -> Result<Address, RunError> {
        self.vault.wallet().ok_or_else(|| RunError::Setup("unsealed without a wallet".into()))
    }

    async fn check_funds(&self, call: &Call, asset: Address, amount: U256, gas: u64) -> Result<(), String> {
        let wallet = self.wallet().map_err(|e| e.to_string())?;
        let fees = self.eth.fees().await.map_err(|e| e.0)?;
        let gas_cost = U256::from(gas) * U256::from(fees.max_fee_per_gas);
        let eth = self.eth.balance(wallet).await.map_err(|e| e.0)?;
        if eth < call.value.saturating_add(gas_cost) {
            return Err(format!(
                "the hot wallet holds {eth} wei; this transfer needs {} wei plus up to {gas_cost} wei of fees",
                call.value
            ));
        }
        if !asset.is_zero() {
            let held = self.eth.token_balance(asset, wallet).await.map_err(|e| e.0)?;
            if held < amount {
                return Err(format!(
                    "the hot wallet holds {held} base units of token {asset}; the transfer needs {amount}"
                ));
            }
        }
        Ok(())
    }

    async fn anchor(&mut self, flow: FlowHash) -> Result<(), RunError> {
        let now = self.now()?;
        let wallet = self.wallet()?;
        let call = Call::anchor(wallet, flow.0);
        let gas = match self.eth.estimate_gas(wallet, &call).await {
            Ok(g) => g.saturating_mul(5) / 4,
            Err(e) => {
                self.warn_once(flow.0, &format!("cannot estimate the anchoring of {flow} yet: {}", e.0));
                return Ok(());
            }
        };
        let cap: U256 = self.config.ethereum.anchor_max_fee.parse().unwrap_or(U256::ZERO);
        self.sign_and_send(flow.0, ExecutionKind::Anchor, call, gas, cap, now).await
    }

    /// Fees for a new transaction within `cap` (wei for the whole gas), or why not.
    async fn fees_within(&self, gas: u64, cap: U256, at_least: Option<Fees>) -> Result<Fees, String> {
        let mut f = self.eth.fees().await.map_err(|e| e.0)?;
        if let Some(prev) = at_least {
            // A replacement must raise both fees by at least 10% (geth's rule); use 12.5%.
            f.max_fee_per_gas = f.max_fee_per_gas.max(prev.max_fee_per_gas + prev.max_fee_per_gas / 8 + 1);
            f.priority_fee_per_gas =
                f.priority_fee_per_gas.max(prev.priority_fee_per_gas + prev.priority_fee_per_gas / 8 + 1);
        }
        let gas_u = U256::from(gas.max(1));
        let allowed = cap / gas_u;
        if U256::from(f.max_fee_per_gas) > allowed {
            let allowed = u128::try_from(allowed).unwrap_or(u128::MAX);
            let base = self.eth.base_fee().await.map_err(|e| e.0)?;
            let floor = at_least.map_or(base, |p| p.max_fee_per_gas + p.max_fee_per_gas / 8 + 1).max(base);
            if allowed < floor {
                return Err(format!(
                    "the signed fee cap of {cap} wei allows {allowed} wei per gas for {gas} gas, below the {floor} wei per gas needed now"
                ));
            }
            f.max_fee_per_gas = allowed;
        }
        f.priority_fee_per_gas = f.priority_fee_per_gas.min(f.max_fee_per_gas);
        Ok(f)
    }

    async fn sign_and_send(
        &mut self,
        subject: B256,
        kind: ExecutionKind,
        call: Call,
        gas: u64,
        cap: U256,
        now: u64,
    ) -> Result<(), RunError> {
        let fees = match self.fees_within(gas, cap, None).await {
            Ok(f) => f,
            Err(reason) if matches!(kind, ExecutionKind::Anchor) => {
                self.warn_once(subject, &format!("cannot anchor flow {subject} yet: {reason}"));
                return Ok(());
            }
            Err(reason) => return self.refuse(subject, kind, now, reason),
        };
        let wallet = self.wallet()?;
        let pending = match self.eth.pending_nonce(wallet).await {
            Ok(n) => n,
            Err(e) => {
                self.warn_once(subject, &format!("cannot read the wallet nonce: {}", e.0));
                return Ok(());
            }
        };
        let nonce = pending.max(self.store.max_nonce()?.map_or(0, |n| n + 1));
        let Some(key) = self.vault.key() else { return Ok(()) };
        let tx = sign_tx(key, self.config.ethereum.chain_id, nonce, gas, fees, &call).map_err(RunError::Setup)?;
        let x = Execution {
            kind,
            nonce: Some(nonce),
            raw: vec![tx.raw.clone()],
            hashes: vec![tx.hash],
            max_fee_per_gas: fees.max_fee_per_gas,
            priority_fee_per_gas: fees.priority_fee_per_gas,
            gas,
            fee_cap: cap,
            time: now,
            sent_at: unix_now(),
            note: String::new(),
            note_reported: false,
            state: ExecutionState::Signed,
        };
        if !self.store.insert_execution(&subject, &x)? {
            tracing::error!(subject = %subject, nonce, "not recorded: the subject or nonce already has an execution");
            return Ok(());
        }
        tracing::info!(subject = %subject, nonce, tx = %tx.hash, "signed and recorded");
        if self.fault == Some(Fault::AfterSign) {
            std::process::abort();
        }
        self.broadcast(subject, x).await
    }

    async fn broadcast(&mut self, subject: B256, mut x: Execution) -> Result<(), RunError> {
        let Some(raw) = x.raw.last().cloned() else { return Ok(()) };
        match self.eth.send_raw(&raw).await {
            Ok(()) => {
                if x.state == ExecutionState::Signed {
                    x.state = ExecutionState::Broadcast;
                    if let Some(seen) = self.notarized_at.remove(&subject) {
                        // Read by the latency benchmark (benches/latency.rs).
                        tracing::info!(subject = %subject, micros = seen.elapsed().as_micros() as u64, "notarized to broadcast");
                    }
                }
                x.sent_at = unix_now();
                self.store.update_execution(&subject, &x)?;
                tracing::info!(subject = %subject, tx = ?x.hashes.last(), "broadcast");
                if self.fault == Some(Fault::AfterBroadcast) {
                    std::process::abort();
                }
            }
            Err(e) => self.warn_once(subject, &format!("broadcast of {subject} failed, will retry: {}", e.0)),
        }
        Ok(())
    }

    /// Follows every unfinished execution on the public chain.
    pub(crate) async fn track_all(&mut self) -> Result<(), RunError> {
        let open: Vec<(B256, Execution)> = self
            .store
            .executions()?
            .into_iter()
            .filter(|(_, x)| {
                matches!(x.state, ExecutionState::Signed | ExecutionState::Broadcast | ExecutionState::Mined { .. })
            })
            .collect();
        if open.is_empty() {
            return Ok(());
        }
        let head = match self.eth.block_number().await {
            Ok(h) => h,
            Err(e) => {
                self.warn_once(B256::ZERO, &format!("the Ethereum node is unreachable: {}", e.0));
                return Ok(());
            }
        };
        for (subject, x) in open {
            self.track(subject, x, head).await?;
        }
        Ok(())
    }

    async fn track(&mut self, subject: B256, mut x: Execution, head: u64) -> Result<(), RunError> {
        let mut mined = None;
        for h in x.hashes.iter().rev() {
            match self.eth.receipt(*h).await {
                Ok(Some(r)) => {
                    mined = Some((*h, r));
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    self.warn_once(subject, &format!("cannot read receipts: {}", e.0));
                    return Ok(());
                }
            }
        }
        match mined {
            Some((tx_hash, r)) if !r.success => {
                x.state = ExecutionState::Failed { reason: format!("reverted on chain in block {}", r.block), tx_hash };
                tracing::warn!(subject = %subject, tx = %tx_hash, "reverted on chain");
                self.store.update_execution(&subject, &x)?;
            }
            Some((tx_hash, r)) => {
                let depth = head.saturating_sub(r.block) + 1;
                let next = if depth >= self.config.ethereum.confirmations {
                    ExecutionState::Confirmed { tx_hash, block: r.block }
                } else {
                    ExecutionState::Mined { block: r.block, tx_hash }
                };
                if next != x.state {
                    if matches!(next, ExecutionState::Confirmed { .. }) {
                        tracing::info!(subject = %subject, tx = %tx_hash, block = r.block, "confirmed");
                    }
                    x.state = next;
                    self.store.update_execution(&subject, &x)?;
                }
            }
            None => match x.state {
                ExecutionState::Mined { block, .. } => {
                    tracing::warn!(subject = %subject, block, "the receipt vanished in a reorg; broadcasting again");
                    x.state = ExecutionState::Broadcast;
                    self.store.update_execution(&subject, &x)?;
                    self.broadcast(subject, x).await?;
                }
                ExecutionState::Signed => self.broadcast(subject, x).await?,
                ExecutionState::Broadcast
                    if unix_now().saturating_sub(x.sent_at) >= self.config.ethereum.replace_after_secs =>
                {
                    self.bump(subject, x).await?;
                }
                _ => {}
            },
        }
        Ok(())
    }

    /// Replaces a stuck transaction with a higher fee on the same nonce, while
    /// the signed cap allows; otherwise notes it for the report.
    async fn bump(&mut self, subject: B256, mut x: Execution) -> Result<(), RunError> {
        let Some(nonce) = x.nonce else { return Ok(()) };
        if self.vault.key().is_none() {
            return self.broadcast(subject, x).await; // sealed: keep the same bytes in the pool
        }
        let prev = Fees { max_fee_per_gas: x.max_fee_per_gas, priority_fee_per_gas: x.priority_fee_per_gas };
        let Some(call) = x.raw.last().and_then(|raw| decode_call(raw)) else { return Ok(()) };
        match self.fees_within(x.gas, x.fee_cap, Some(prev)).await {
            Ok(fees) => {
                let Some(key) = self.vault.key() else { return Ok(()) };
                let tx =
                    sign_tx(key, self.config.ethereum.chain_id, nonce, x.gas, fees, &call).map_err(RunError::Setup)?;
                x.raw.push(tx.raw);
                x.hashes.push(tx.hash);
                x.max_fee_per_gas = fees.max_fee_per_gas;
                x.priority_fee_per_gas = fees.priority_fee_per_gas;
                x.note.clear();
                self.store.update_execution(&subject, &x)?;
                tracing::info!(subject = %subject, nonce, tx = %tx.hash, "re-priced a stuck transaction");
                self.broadcast(subject, x).await
            }
            Err(reason) => {
                if x.note.is_empty() {
                    x.note = format!("stuck: {reason}");
                    x.note_reported = false;
                    x.sent_at = unix_now();
                    self.store.update_execution(&subject, &x)?;
                    tracing::warn!(subject = %subject, "{}", x.note);
                }
                Ok(())
            }
        }
    }

    /// Brings the chain's record in line with the signer's: every outcome goes
    /// back as a signed report, re-sent until the chain reflects it.
    pub(crate) async fn reconcile_reports(&mut self) -> Result<(), RunError> {
        let mut due = Vec::new();
        {
            let state = self.follower.verifier().state();
            for (subject, x) in self.store.executions()? {
                let report = match &x.kind {
                    ExecutionKind::Anchor => match (&x.state, state.flow(&FlowHash(subject))) {
                        (ExecutionState::Confirmed { tx_hash, .. }, Some(f)) if f.status == FlowStatus::Authorized => {
                            Some(report(subject, ReportStatus::Anchored, *tx_hash, x.nonce, ""))
                        }
                        _ => None,
                    },
                    ExecutionKind::Transfer { .. } => {
                        let Some(t) = state.transfer(&TransferId(subject)) else { continue };
                        match transfer_report(subject, &x, &t.status) {
                            Some(r) => Some(r),
                            None if !x.note.is_empty() && !x.note_reported && x.state == ExecutionState::Broadcast => {
                                let mut x = x.clone();
                                x.note_reported = true;
                                self.store.update_execution(&subject, &x)?;
                                let sent = x.hashes.last().copied().unwrap_or_default();
                                Some(report(subject, ReportStatus::Broadcast, sent, x.nonce, &x.note))
                            }
                            None => None,
                        }
                    }
                };
                if let Some(r) = report {
                    due.push(r);
                }
            }
        }
        let now = Instant::now();
        for r in due {
            let subject = r.subject;
            if self.last_report.get(&subject).is_some_and(|t| now.duration_since(*t) < REPORT_EVERY) {
                continue;
            }
            self.last_report.insert(subject, now);
            let bytes = Subject::SignerReport(Signed::new(&self.domain, &self.identity, r)).encode();
            if let Err(e) = self.link.submit(bytes).await {
                self.warn_once(subject, &format!("cannot report on {subject} yet: {e}"));
            }
        }
        Ok(())
    }
}

fn report(subject: B256, status: ReportStatus, tx: B256, nonce: Option<u64>, detail: &str) -> SignerReport {
    SignerReport { subject, status: status as u8, txHash: tx, nonce: nonce.unwrap_or(0), detail: detail.to_owned() }
}

/// The next report a transfer needs, given what the chain shows.
fn transfer_report(subject: B256, x: &Execution, chain: &TransferStatus) -> Option<SignerReport> {
    use ExecutionState as E;
    use TransferStatus as T;
    let newest = x.hashes.last().copied().unwrap_or_default();
    let sent = match &x.state {
        E::Mined { tx_hash, .. } | E::Confirmed { tx_hash, .. } | E::Failed { tx_hash, .. } => *tx_hash,
        _ => newest,
    };
    let broadcast = || report(subject, ReportStatus::Broadcast, sent, x.nonce, &x.note);
    match (&x.state, chain) {
        (E::Refused { reason }, T::Notarized) => Some(report(subject, ReportStatus::Refused, B256::ZERO, None, reason)),
        (E::Broadcast | E::Mined { .. } | E::Confirmed { .. } | E::Failed { .. }, T::Notarized) => Some(broadcast()),
        (E::Broadcast | E::Mined { .. }, T::Broadcast { tx_hash, .. }) if *tx_hash != sent => Some(broadcast()),
        (E::Confirmed { tx_hash, .. }, T::Broadcast { .. }) => {
            Some(report(subject, ReportStatus::Confirmed, *tx_hash, x.nonce, ""))
        }
        (E::Failed { reason, tx_hash }, T::Broadcast { .. }) => {
            Some(report(subject, ReportStatus::Failed, *tx_hash, x.nonce, reason))
        }
        _ => None,
    }
}

/// The call inside a raw transaction the signer made itself (for fee bumps).
fn decode_call(raw: &[u8]) -> Option<Call> {
    use alloy::consensus::{Transaction, TxEnvelope};
    use alloy::eips::eip2718::Decodable2718;
    let env = TxEnvelope::decode_2718(&mut &raw[..]).ok()?;
    Some(Call { to: env.to()?, value: env.value(), data: env.input().clone() })
}
