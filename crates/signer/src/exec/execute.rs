//! The execute round: for each new subject, the verdict (box-core's
//! `authorize`, or an authorized flow to anchor), a quote, the fee within
//! the signed cap, the signature, the durable record, the broadcast.

use super::{Action, Context, Current, ETH_TRANSFER_GAS, Executor, GasQuote, Market, Note, Quote, QuoteRequest, note};
use crate::runtime::Fault;
use crate::store::{Execution, ExecutionKind, ExecutionState};
use crate::tx::{self, Payload};
use box_core::decision::{Attempt, authorize};
use box_core::ids::{FlowHash, Timestamp, TransferId};
use box_core::notary::{FlowStatus, TransferStatus};
use box_core::{Address, B256, U256};
use box_eth::{EthError, Fees};

/// What an execution signs, and under which cap.
#[derive(Debug)]
pub(super) struct Job {
    payload: Payload,
    kind: ExecutionKind,
    /// The most the transaction may spend on fees (wei).
    cap: U256,
    /// The decision time (the clock of the period limits).
    time: u64,
}

/// Fees for a transaction of `gas` within `cap` (wei for the whole gas),
/// starting from the market's `suggested`; a replacement (`at_least`: the
/// fees it replaces) raises both by 12.5 % (geth wants 10 %). Refused when
/// the cap allows less than the base fee (or the replacement's floor);
/// `cap_name` names the cap in the reason.
pub(super) fn fees_within(
    cap_name: &str,
    gas: u64,
    cap: U256,
    at_least: Option<Fees>,
    suggested: Fees,
    base_fee: u128,
) -> Result<Fees, String> {
    let mut f = suggested;
    if let Some(prev) = at_least {
        f.max_fee_per_gas = f.max_fee_per_gas.max(prev.max_fee_per_gas + prev.max_fee_per_gas / 8 + 1);
        f.priority_fee_per_gas =
            f.priority_fee_per_gas.max(prev.priority_fee_per_gas + prev.priority_fee_per_gas / 8 + 1);
    }
    let allowed = cap / U256::from(gas.max(1));
    if U256::from(f.max_fee_per_gas) > allowed {
        let allowed = u128::try_from(allowed).unwrap_or(u128::MAX);
        let floor = at_least.map_or(base_fee, |p| p.max_fee_per_gas + p.max_fee_per_gas / 8 + 1).max(base_fee);
        if allowed < floor {
            return Err(format!(
                "{cap_name} of {cap} wei allows {allowed} wei per gas for {gas} gas, below the {floor} wei per gas needed now"
            ));
        }
        f.max_fee_per_gas = allowed;
    }
    f.priority_fee_per_gas = f.priority_fee_per_gas.min(f.max_fee_per_gas);
    Ok(f)
}

impl Executor {
    /// The signer's clock for limits: the newest verified log time, never
    /// earlier than anything it has recorded.
    fn limit_now(&self, ctx: &Context<'_>) -> u64 {
        ctx.log_time.max(self.record.latest_time())
    }

    /// Starts an execute round (nothing while one is under way, sealed, or
    /// not allowed to execute).
    pub(super) fn execute(&mut self, ctx: &Context<'_>) -> Vec<Action> {
        if self.current.is_some() || !ctx.may_execute || ctx.key.is_none() || ctx.wallet.is_none() {
            return Vec::new();
        }
        // Anchors first (kind 0), then transfers, each in id order.
        self.queue = self.candidates.iter().rev().copied().collect();
        self.next(ctx)
    }

    /// Works through the round's queue until one subject waits for an answer.
    fn next(&mut self, ctx: &Context<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        while self.current.is_none() {
            let Some((kind, subject)) = self.queue.pop() else { break };
            if self.record.has(&subject) {
                self.candidates.remove(&(kind, subject));
                self.resolved(&subject);
                continue;
            }
            if !self.due(&subject, ctx.now_ms) {
                continue; // held: its backoff has not run out
            }
            let actions = if kind == 0 { self.start_anchor(ctx, subject) } else { self.start_transfer(ctx, subject) };
            out.extend(actions);
        }
        out
    }

    fn start_anchor(&mut self, ctx: &Context<'_>, subject: B256) -> Vec<Action> {
        let flow = FlowHash(subject);
        if ctx.state.flow(&flow).is_none_or(|f| f.status != FlowStatus::Authorized) {
            self.candidates.remove(&(0, subject));
            self.resolved(&subject);
            return Vec::new();
        }
        let Some(wallet) = ctx.wallet else { return Vec::new() };
        let payload = Payload::Anchor { wallet, flow, chain_id: self.config.chain_id.0 };
        let job =
            Job { payload, kind: ExecutionKind::Anchor, cap: self.config.anchor_max_fee, time: self.limit_now(ctx) };
        self.quote(subject, job, wallet, GasQuote::Estimate, None)
    }

    fn start_transfer(&mut self, ctx: &Context<'_>, subject: B256) -> Vec<Action> {
        let tid = TransferId(subject);
        let Some(rec) = ctx.state.transfer(&tid) else {
            self.candidates.remove(&(1, subject));
            self.resolved(&subject);
            return Vec::new();
        };
        if rec.status != TransferStatus::Notarized {
            self.candidates.remove(&(1, subject));
            self.resolved(&subject);
            return Vec::new();
        }
        let kind = ExecutionKind::Transfer {
            flow: rec.flow.0,
            asset: rec.asset,
            amount: rec.amount.0,
            max_fee: rec.max_fee.0,
            to: Address::ZERO,
        };
        let now = self.limit_now(ctx);
        let a = match authorize(ctx.state, &tid, self.config.chain_id, &self.record, Attempt::First, Timestamp(now)) {
            Ok(a) => a,
            Err(refusal) => return self.refuse(subject, kind, now, refusal.to_string()),
        };
        let Some(wallet) = ctx.wallet else { return Vec::new() };
        let mut kind = kind;
        if let ExecutionKind::Transfer { to, .. } = &mut kind {
            *to = a.request().to;
        }
        let token = (!a.request().asset.is_zero()).then_some(a.request().asset);
        let job = Job { cap: a.fee_cap().0, payload: Payload::Transfer(Box::new(a)), kind, time: now };
        let gas = if token.is_some() { GasQuote::Estimate } else { GasQuote::EstimateIfCode };
        self.quote(subject, job, wallet, gas, token)
    }

    fn quote(&mut self, subject: B256, job: Job, from: Address, gas: GasQuote, token: Option<Address>) -> Vec<Action> {
        let request = QuoteRequest { from, call: job.payload.call(), gas, token };
        self.current = Some(Current::Quoting { subject, job });
        vec![Action::Quote { subject, request }]
    }

    /// Records a refusal: nothing is signed, the reason goes to the chain.
    fn refuse(&mut self, subject: B256, kind: ExecutionKind, time: u64, reason: String) -> Vec<Action> {
        let execution = Execution {
            kind,
            nonce: None,
            raw: vec![],
            hashes: vec![],
            max_fee_per_gas: 0,
            priority_fee_per_gas: 0,
            gas: 0,
            fee_cap: U256::ZERO,
            time,
            sent_at: 0,
            note: String::new(),
            note_reported: false,
            delivered: None,
            state: ExecutionState::Refused { reason: reason.clone() },
            recovery: Default::default(),
        };
        self.current = Some(Current::Refusing { subject, execution: execution.clone() });
        vec![note(subject, Note::Refused(reason)), Action::Insert { subject, execution }]
    }

    /// Holds `subject` for a transient reason (retried with backoff, never
    /// refused for it) and goes on with the round.
    fn wait(&mut self, ctx: &Context<'_>, subject: B256, why: String) -> Vec<Action> {
        self.current = None;
        let mut out = self.hold(ctx, subject, why);
        out.extend(self.next(ctx));
        out
    }

    pub(super) fn quoted(&mut self, ctx: &Context<'_>, subject: B256, quote: Quote) -> Vec<Action> {
        let job = match self.current.take() {
            Some(Current::Quoting { subject: s, job }) if s == subject => job,
            other => {
                self.current = other;
                return Vec::new();
            }
        };
        let anchor = matches!(job.payload, Payload::Anchor { .. });
        if let (Payload::Transfer(a), Some(answer)) = (&job.payload, &quote.token) {
            match registry_mismatch(ctx, a.request().asset, answer) {
                Some(Err(e)) => {
                    return self.wait(ctx, subject, format!("cannot read token {} yet: {e}", a.request().asset));
                }
                Some(Ok(reason)) => return self.refuse(subject, job.kind, job.time, reason),
                None => {}
            }
        }
        let gas = match quote.gas {
            None => ETH_TRANSFER_GAS,
            // A margin over the estimate; the fee for all of it stays within
            // the signed cap (`fees_within`).
            Some(Ok(g)) => g.saturating_mul(5) / 4,
            Some(Err(e)) if anchor || e.is_transient() => {
                return self.wait(ctx, subject, format!("cannot estimate the gas of {subject} yet: {e}"));
            }
            Some(Err(e)) => {
                // The node's refusal may only be the wallet's funds: that waits.
                if let (Payload::Transfer(_), Ok(m)) = (&job.payload, &quote.market)
                    && let Some(short) = self.short_of_funds(&job, ETH_TRANSFER_GAS, m)
                {
                    return self.wait_or_expire(ctx, subject, job, short);
                }
                let call = job.payload.call();
                let reason = match &job.kind {
                    ExecutionKind::Transfer { asset, .. } if asset.is_zero() => format!(
                        "the recipient {} is a contract that does not accept this transfer (the node says it would revert: {})",
                        call.to,
                        rpc_words(&e)
                    ),
                    _ => format!("the token transfer would fail: {}", rpc_words(&e)),
                };
                return self.refuse(subject, job.kind, job.time, reason);
            }
        };
        let market = match quote.market {
            Ok(m) => m,
            Err(e) => return self.wait(ctx, subject, format!("cannot price {subject} yet: {e}")),
        };
        if matches!(job.payload, Payload::Transfer(_))
            && let Some(short) = self.short_of_funds(&job, gas, &market)
        {
            return self.wait_or_expire(ctx, subject, job, short);
        }
        let fees = match fees_within("the signed fee cap", gas, job.cap, None, market.fees, market.base_fee) {
            Ok(f) => f,
            Err(reason) if anchor => {
                return self.wait(ctx, subject, format!("cannot anchor flow {subject} yet: {reason}"));
            }
            // A fee spike passes: wait (no nonce), refused by rule only once
            // it has lasted the configured wait.
            Err(reason) => return self.wait_or_expire(ctx, subject, job, format!("fees too high: {reason}")),
        };
        let nonce = market.pending_nonce.max(self.record.max_nonce().map_or(0, |n| n + 1));
        let Some(key) = ctx.key else { return self.wait(ctx, subject, "sealed".into()) };
        let signed = match tx::sign(key, nonce, gas, fees, &job.payload) {
            Ok(s) => s,
            Err(e) => return self.wait(ctx, subject, format!("cannot sign: {e}")),
        };
        let execution = Execution {
            kind: job.kind,
            nonce: Some(nonce),
            raw: vec![signed.raw],
            hashes: vec![signed.hash],
            max_fee_per_gas: fees.max_fee_per_gas,
            priority_fee_per_gas: fees.priority_fee_per_gas,
            gas,
            fee_cap: job.cap,
            time: job.time,
            sent_at: ctx.now,
            note: String::new(),
            note_reported: false,
            delivered: None,
            state: ExecutionState::Signed,
            recovery: Default::default(),
        };
        self.current = Some(Current::Recording { subject, execution: execution.clone() });
        vec![Action::Insert { subject, execution }]
    }

    /// Why the wallet cannot pay `job` now, counting what is signed but
    /// not yet mined (amounts and worst-case fees), or `None`.
    fn short_of_funds(&self, job: &Job, gas: u64, market: &Market) -> Option<String> {
        let Payload::Transfer(a) = &job.payload else { return None };
        let call = job.payload.call();
        let r = a.request();
        let token = (!r.asset.is_zero()).then_some(r.asset);
        let (wei_in_flight, token_in_flight) = self.record.in_flight(token);
        let fees = U256::from(gas) * U256::from(market.fees.max_fee_per_gas);
        let needs = call.value.saturating_add(fees).saturating_add(wei_in_flight);
        if market.balance < needs {
            return Some(format!(
                "insufficient funds: the hot wallet holds {} wei, {wei_in_flight} wei of it for transactions not yet mined; \
                 this transfer needs {} wei plus up to {fees} wei of fees",
                market.balance, call.value
            ));
        }
        let held = market.token_balance?;
        if held < r.amount.saturating_add(token_in_flight) {
            return Some(format!(
                "insufficient funds: the hot wallet holds {held} base units of token {}, {token_in_flight} of them for \
                 transactions not yet mined; the transfer needs {}",
                r.asset, r.amount
            ));
        }
        None
    }

    /// Holds a transfer the wallet cannot pay yet, or whose signed fee cap
    /// is below the base fee now (no nonce taken), until it can go, or
    /// refuses it by rule once it has waited `funds_wait_secs`.
    fn wait_or_expire(&mut self, ctx: &Context<'_>, subject: B256, job: Job, short: String) -> Vec<Action> {
        let waited = self.waited_secs(&subject, ctx.now_ms);
        if waited >= self.config.funds_wait_secs {
            let reason = match waited {
                0 => short,
                w => format!("{short}; waited {w} s (ethereum.funds_wait_secs)"),
            };
            return self.refuse(subject, job.kind, job.time, reason);
        }
        self.wait(ctx, subject, short)
    }

    pub(super) fn recorded(&mut self, ctx: &Context<'_>, subject: B256, inserted: bool) -> Vec<Action> {
        match self.current.take() {
            Some(Current::Recording { subject: s, execution }) if s == subject => {
                if !inserted {
                    let n = execution.nonce.unwrap_or(0);
                    let mut out = vec![note(subject, Note::NotRecorded { nonce: n })];
                    out.extend(self.next(ctx));
                    return out;
                }
                let (raw, tx) = match (execution.raw.last(), execution.hashes.last()) {
                    (Some(r), Some(h)) => (r.clone(), *h),
                    _ => return self.next(ctx),
                };
                let nonce = execution.nonce.unwrap_or(0);
                self.resolved(&subject);
                self.record.put(subject, execution);
                self.candidates.retain(|(_, s)| *s != subject);
                self.current = Some(Current::Sending { subject });
                vec![
                    note(subject, Note::Signed { nonce, tx }),
                    Action::Crashpoint(Fault::AfterSign),
                    Action::Broadcast { subject, raw },
                ]
            }
            Some(Current::Refusing { subject: s, execution }) if s == subject => {
                if inserted {
                    self.record.put(subject, execution);
                }
                self.resolved(&subject);
                self.candidates.retain(|(_, s)| *s != subject);
                self.next(ctx)
            }
            other => {
                self.current = other;
                Vec::new()
            }
        }
    }

    /// A broadcast's answer, from the execute round or from tracking.
    pub(super) fn sent(&mut self, ctx: &Context<'_>, subject: B256, result: Result<(), EthError>) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(mut x) = self.record.get(&subject).cloned() {
            match result {
                // The first broadcast of a signed transaction (also after a
                // crash before it) is recorded; a re-broadcast of bytes the
                // node may have dropped changes nothing (no write, and the
                // re-pricing clock keeps running from the first send).
                Ok(()) if x.state == ExecutionState::Signed => {
                    x.state = ExecutionState::Broadcast;
                    x.sent_at = ctx.now;
                    let tx = x.hashes.last().copied().unwrap_or_default();
                    self.record.put(subject, x.clone());
                    out.push(Action::Update { subject, execution: x });
                    out.push(note(subject, Note::Broadcast { tx, first: true }));
                    out.push(Action::Crashpoint(Fault::AfterBroadcast));
                    self.resolved(&subject);
                }
                Ok(()) => {
                    if self.waiting.contains_key(&subject) {
                        let tx = x.hashes.last().copied().unwrap_or_default();
                        out.push(note(subject, Note::Broadcast { tx, first: false }));
                        self.resolved(&subject);
                    }
                }
                Err(e) => {
                    out.extend(self.hold(ctx, subject, format!("broadcast of {subject} failed, will retry: {e}")))
                }
            }
        }
        if matches!(self.current, Some(Current::Sending { subject: s }) if s == subject) {
            self.current = None;
            out.extend(self.next(ctx));
        }
        out
    }
}

/// Whether `token` has the decimals the registry (what the key holders
/// signed) says: `Some(Ok(reason))` to refuse (other decimals, or no
/// `decimals()`), `Some(Err(e))` when the node could not be asked, `None`
/// when they agree. Amounts were approved in the registry's decimals: a
/// token whose own differ moves another amount than people saw. (The
/// symbol is shown, not compared: it changes no amount.)
fn registry_mismatch(
    ctx: &Context<'_>,
    token: Address,
    answer: &Result<(u8, String), EthError>,
) -> Option<Result<String, EthError>> {
    let registered = ctx.state.assets().get(&token)?;
    let (decimals, symbol) = match answer {
        Ok(a) => a,
        Err(e) if e.is_transient() => return Some(Err(e.clone())),
        Err(e) => {
            return Some(Ok(format!(
                "token {token} does not answer decimals() ({}); the key holders registered it with {} decimals, \
                 which the chain cannot confirm",
                rpc_words(e),
                registered.decimals()
            )));
        }
    };
    (*decimals != registered.decimals()).then(|| {
        Ok(format!(
            "token {token} ({symbol}) has {decimals} decimals on chain, but the key holders registered {} decimals: \
             amounts would not mean what the approvers saw; register it again with the chain's decimals",
            registered.decimals()
        ))
    })
}

/// The node's words, without the layer names around them.
pub(super) fn rpc_words(e: &EthError) -> String {
    match e {
        EthError::Node(m) | EthError::Unreachable(m) | EthError::Unexpected(m) | EthError::Config(m) => m.clone(),
    }
}
