//! Execution as a pure step: `(executor, context, observation) -> actions`.
//!
//! ```text
//!             ┌──────────── Observation (Execute, Quoted, Recorded, Sent, Track, Head, Receipt, Fees, Report) ◀──┐
//!             ▼                                                                                                 │
//!   Executor::step(context) ──▶ Vec<Action> ──▶ driver: EthereumRpc · ExecutionStore · NotaryLink · log ──────────┘
//! ```
//!
//! The executor holds no connection, no clock and no disk: every answer from
//! the Ethereum node, the store and the chain comes back as an
//! [`Observation`], every time is in the [`Context`], and the verdict on
//! every transfer is box-core's [`authorize`](box_core::decision::authorize).
//! The [`driver`] performs the actions against the boundary traits of
//! [`crate::ports`], depth first: an action's answer is stepped, and its
//! actions performed, before the next action of the same step.
//!
//! Exactly once: a transaction is signed only from an
//! [`AuthorizedTransfer`](box_core::decision::AuthorizedTransfer), recorded
//! with the nonce it owns by [`Action::Insert`] (the store refuses a second
//! record for the same subject or nonce, durably, before it answers), and
//! broadcast only after the store answered. After a crash the same bytes are
//! broadcast again; a re-pricing signs on the same nonce, so at most one of
//! a transfer's transactions can be mined.
//!
//! A round: [`Observation::Execute`] signs what is new (flows to anchor,
//! notarized transfers), one at a time; [`Observation::Track`] follows every
//! unfinished execution on the public chain (receipts, depth, reorgs,
//! re-pricing); [`Observation::Report`] sends the chain every outcome it does
//! not reflect yet.

pub mod driver;
mod execute;
mod record;
mod recover;
mod report;
#[cfg(test)]
mod tests;
mod track;
mod waiting;

pub use record::Record;
pub use track::RESEND_EVERY_MS;
pub use waiting::{RETRY_BASE_MS, backoff_ms};

use crate::runtime::Fault;
use crate::store::Execution;
use crate::tx::TxSigner;
use box_core::ids::ChainId;
use box_core::notary::{Event, NotaryState};
use box_core::typed::SignerReport;
use box_core::{Address, B256, U256};
use box_eth::{Bytes, Call, EthError, Fees, Receipt};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Gas for a plain ETH transfer.
pub const ETH_TRANSFER_GAS: u64 = 21_000;
/// Re-send a report no more often than this (milliseconds) while the chain
/// has not taken it.
pub const REPORT_EVERY_MS: u64 = 3_000;

/// The executor's settings (from the signer's configuration).
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// The public chain (the signer's configuration, checked against the
    /// genesis and the node at start).
    pub chain_id: ChainId,
    /// Receipt depth that counts as confirmed.
    pub confirmations: u64,
    /// Re-price a transaction still unmined after this many seconds.
    pub replace_after_secs: u64,
    /// The fee budget (wei) of a flow's anchoring.
    pub anchor_max_fee: U256,
    /// The longest delay between retries of a subject held for a transient
    /// reason (seconds); the backoff doubles from [`RETRY_BASE_MS`] up to it.
    pub retry_max_secs: u64,
    /// Raise an alert when a subject has been held this long (seconds).
    pub alert_after_secs: u64,
    /// A transfer the wallet cannot pay waits (no nonce taken) this long
    /// for funds, then is refused by rule (seconds; 0: refused at once).
    pub funds_wait_secs: u64,
    /// A transfer's transaction whose fee cap has stayed below the base fee
    /// this long is cancelled (a 0-value self-send on its nonce); 0: never.
    pub cancel_after_secs: u64,
    /// The most one cancellation may spend on fees (wei).
    pub cancel_max_fee: U256,
    /// A confirmed transfer's receipt is checked for this many blocks after
    /// its block (a reorg deeper than `confirmations`).
    pub reorg_watch_blocks: u64,
}

/// What the executor is told with every step: the verified chain, the
/// wallet key (while unsealed) and the times. Nothing in it is trusted
/// beyond what the signer verified itself.
pub struct Context<'a> {
    /// The notary state the signer verified from the genesis.
    pub state: &'a NotaryState,
    /// The wallet key, while the signer is unsealed.
    pub key: Option<&'a dyn TxSigner>,
    /// The hot wallet's address, once derived.
    pub wallet: Option<Address>,
    /// Whether new work may be signed: the verified state is caught up and
    /// cross-checked, and no registered node account stands convicted of
    /// equivocation.
    pub may_execute: bool,
    /// Log time of the newest verified block (seconds): the clock of the
    /// period limits.
    pub log_time: u64,
    /// Wall-clock seconds (when a transaction was sent; re-pricing).
    pub now: u64,
    /// Wall-clock milliseconds (spacing of re-sent reports).
    pub now_ms: u64,
}

/// What the executor needs to know before it signs: gas (see [`GasQuote`]),
/// fees and base fee, the wallet's balances, its pending nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteRequest {
    /// The hot wallet.
    pub from: Address,
    /// What the transaction will call.
    pub call: Call,
    /// How to find the gas limit.
    pub gas: GasQuote,
    /// The token whose balance the wallet needs, if any.
    pub token: Option<Address>,
}

/// How the gas limit of a transaction is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GasQuote {
    /// Ask for an estimate (token calls, anchors).
    Estimate,
    /// A plain ETH transfer: ask for an estimate only when the recipient
    /// has code (a contract's `receive()` may need more than 21,000 gas,
    /// or refuse); otherwise [`ETH_TRANSFER_GAS`].
    EstimateIfCode,
}

/// The market as the Ethereum node sees it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Market {
    /// A fee suggestion.
    pub fees: Fees,
    /// The next block's base fee per gas.
    pub base_fee: u128,
    /// The wallet's ETH.
    pub balance: U256,
    /// The wallet's balance of the requested token.
    pub token_balance: Option<U256>,
    /// The wallet's next nonce, counting its pending transactions.
    pub pending_nonce: u64,
}

/// The answer to [`Action::Quote`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// The gas estimate, when one was made (`None`: a plain ETH transfer to
    /// an address without code).
    pub gas: Option<Result<u64, EthError>>,
    /// Fees, balances and nonce.
    pub market: Result<Market, EthError>,
    /// For a token transfer: what the token answers to `decimals()` and
    /// `symbol()` now.
    pub token: Option<Result<(u8, String), EthError>>,
}

/// A receipt found for one of a subject's transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mined {
    /// The transaction it is for.
    pub tx: B256,
    /// The receipt.
    pub receipt: Receipt,
    /// The canonical block hash at the receipt's height now (`None`: the
    /// chain is shorter). The receipt counts only if this is its block.
    pub canonical: Option<B256>,
}

/// Something the executor was told.
#[derive(Debug)]
pub enum Observation {
    /// Sign what is new, one subject at a time.
    Execute,
    /// Follow every unfinished execution on the public chain.
    Track,
    /// Report every outcome the chain does not reflect yet.
    Report,
    /// Answer to [`Action::Quote`].
    Quoted {
        /// The subject.
        subject: B256,
        /// The answer.
        quote: Quote,
    },
    /// Answer to [`Action::Insert`]: whether the store took the record.
    Recorded {
        /// The subject.
        subject: B256,
        /// `false`: the subject or its nonce already had a record; nothing was written.
        inserted: bool,
    },
    /// Answer to [`Action::Broadcast`].
    Sent {
        /// The subject.
        subject: B256,
        /// Whether the node took the bytes (or already had them).
        result: Result<(), EthError>,
    },
    /// Answer to [`Action::Head`].
    Head(Result<u64, EthError>),
    /// Answer to [`Action::Receipts`]: the first of the hashes that has a
    /// receipt, with it and the canonical hash at its height.
    Receipt {
        /// The subject.
        subject: B256,
        /// The answer.
        result: Result<Option<Mined>, EthError>,
    },
    /// Answer to [`Action::Fees`]: a fee suggestion and the base fee.
    Fees {
        /// The subject.
        subject: B256,
        /// The answer.
        result: Result<(Fees, u128), EthError>,
    },
}

/// Something the executor asks the driver to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Ask the Ethereum node for a [`Quote`]; answer [`Observation::Quoted`].
    Quote {
        /// The subject.
        subject: B256,
        /// What to ask.
        request: QuoteRequest,
    },
    /// Record a new execution, durably; answer [`Observation::Recorded`].
    Insert {
        /// The subject (transfer id or flow hash).
        subject: B256,
        /// The record.
        execution: Execution,
    },
    /// Replace the record of an execution, durably, before the next action.
    Update {
        /// The subject.
        subject: B256,
        /// The record.
        execution: Execution,
    },
    /// Send raw transaction bytes; answer [`Observation::Sent`].
    Broadcast {
        /// The subject.
        subject: B256,
        /// EIP-2718 bytes.
        raw: Bytes,
    },
    /// Ask for the latest block number; answer [`Observation::Head`].
    Head,
    /// Look for a receipt of any of `hashes`, in that order, and the
    /// canonical hash at its height; answer [`Observation::Receipt`].
    Receipts {
        /// The subject.
        subject: B256,
        /// Transaction hashes, newest first.
        hashes: Vec<B256>,
    },
    /// Ask for a fee suggestion and the base fee; answer [`Observation::Fees`].
    Fees {
        /// The subject.
        subject: B256,
    },
    /// Sign (with the identity key) and submit a report to the chain.
    Report(SignerReport),
    /// A test hook: stop the process here if this fault is armed.
    Crashpoint(Fault),
    /// Tell the operator.
    Note {
        /// The subject it concerns (zero: none).
        subject: B256,
        /// What happened.
        note: Note,
    },
}

/// What the executor tells the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Refused before signing; nothing signed (warning).
    Refused(String),
    /// Cannot proceed yet for a transient reason; tried again later with
    /// backoff (warning, at most every 30 s per subject).
    Waiting(String),
    /// Held for longer than the configured time (error, once per hold).
    Alert(String),
    /// Signed and durably recorded (info).
    Signed {
        /// The nonce it owns.
        nonce: u64,
        /// Its transaction.
        tx: B256,
    },
    /// The store refused the record: the subject or nonce already has one (error).
    NotRecorded {
        /// The nonce.
        nonce: u64,
    },
    /// The Ethereum node took the transaction (info).
    Broadcast {
        /// Its hash.
        tx: B256,
        /// Whether this was its first broadcast.
        first: bool,
    },
    /// In a canonical block, not yet deep enough (info).
    Mined {
        /// The mined transaction.
        tx: B256,
        /// Its block.
        block: u64,
    },
    /// Deep enough (info).
    Confirmed {
        /// The mined transaction.
        tx: B256,
        /// Its block.
        block: u64,
    },
    /// A token delivered less than the amount (fee on transfer) (warning).
    Shortfall {
        /// Base units its receipt shows delivered.
        delivered: U256,
        /// Base units approved.
        amount: U256,
    },
    /// Reverted on chain, or a token transfer that moved nothing (warning).
    Reverted {
        /// The reverted transaction.
        tx: B256,
    },
    /// A receipt from a block that is not canonical at its height (warning).
    StaleReceipt {
        /// Its height.
        block: u64,
        /// Its block's hash.
        hash: B256,
    },
    /// The receipt vanished in a reorg; broadcasting again (warning).
    Reorged {
        /// Where it was mined.
        block: u64,
    },
    /// A stuck transaction was re-priced on the same nonce (info).
    Repriced {
        /// The nonce.
        nonce: u64,
        /// The new transaction.
        tx: B256,
    },
    /// Stuck at the fee cap or otherwise not re-priceable (warning).
    Stuck(String),
    /// A cancellation of a transaction whose fee cap stayed below the base
    /// fee was signed on its nonce (warning).
    Cancelling {
        /// The nonce.
        nonce: u64,
        /// The cancellation.
        tx: B256,
        /// Whether it is the first cancellation (not a re-priced one).
        first: bool,
    },
    /// The cancellation is deep enough: the transfer failed, nothing moved (warning).
    Cancelled {
        /// The cancellation.
        tx: B256,
        /// Its block.
        block: u64,
    },
}

/// Which execution is under way in an execute round.
#[derive(Debug)]
enum Current {
    /// Waiting for a quote to sign `payload`.
    Quoting { subject: B256, job: execute::Job },
    /// Waiting for the store to take a signed record.
    Recording { subject: B256, execution: Execution },
    /// Waiting for the store to take a refusal.
    Refusing { subject: B256, execution: Execution },
    /// Waiting for the first broadcast's answer.
    Sending { subject: B256 },
}

/// The signer's execution state: the mirror of its durable record and the
/// round under way. Made by [`Executor::new`] from the store's records.
#[derive(Debug)]
pub struct Executor {
    config: ExecConfig,
    record: Record,
    /// Subjects that may need executing: (0 = anchor, 1 = transfer; id).
    candidates: BTreeSet<(u8, B256)>,
    /// The execute round's remaining subjects.
    queue: Vec<(u8, B256)>,
    current: Option<Current>,
    /// The latest block number, from this round's [`Observation::Head`].
    head: u64,
    /// When each subject's report was last sent (milliseconds).
    last_report: HashMap<B256, u64>,
    /// Subjects held for a transient reason (see [`waiting`]).
    waiting: BTreeMap<B256, waiting::Waiting>,
    /// When each unmined transaction's bytes were last sent again (milliseconds).
    last_resend: HashMap<B256, u64>,
}

impl Executor {
    /// An executor over `executions` (everything the store holds), with
    /// `state`'s notarized transfers and authorized flows as candidates.
    pub fn new(config: ExecConfig, executions: Vec<(B256, Execution)>, state: &NotaryState) -> Self {
        let mut e = Self {
            config,
            record: Record::new(executions),
            candidates: BTreeSet::new(),
            queue: Vec::new(),
            current: None,
            head: 0,
            last_report: HashMap::new(),
            waiting: BTreeMap::new(),
            last_resend: HashMap::new(),
        };
        e.scan(state);
        e
    }

    /// Every flow and transfer of `state` that may need executing.
    fn scan(&mut self, state: &NotaryState) {
        use box_core::notary::{FlowStatus, TransferStatus};
        for (h, f) in state.flows() {
            if f.status == FlowStatus::Authorized && !self.record.has(&h.0) {
                self.candidates.insert((0, h.0));
            }
        }
        for (t, r) in state.transfers() {
            if r.status == TransferStatus::Notarized && !self.record.has(&t.0) {
                self.candidates.insert((1, t.0));
            }
        }
    }

    /// The mirror of the signer's record.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// One step: what `observation` leads to, given `ctx`.
    pub fn step(&mut self, ctx: &Context<'_>, observation: Observation) -> Vec<Action> {
        match observation {
            Observation::Execute => self.execute(ctx),
            Observation::Quoted { subject, quote } => self.quoted(ctx, subject, quote),
            Observation::Recorded { subject, inserted } => self.recorded(ctx, subject, inserted),
            Observation::Sent { subject, result } => self.sent(ctx, subject, result),
            Observation::Track => self.track(),
            Observation::Head(h) => self.head(ctx, h),
            Observation::Receipt { subject, result } => self.receipt(ctx, subject, result),
            Observation::Fees { subject, result } => self.reprice(ctx, subject, result),
            Observation::Report => self.report(ctx),
        }
    }

    /// Blocks were verified with these `events`: notarized transfers and
    /// authorized flows become work for the next execute round.
    pub fn verified(&mut self, events: &[Event]) {
        use box_core::notary::{FlowStatus, TransferStatus};
        for ev in events {
            match ev {
                Event::TransferStatus { transfer, status: TransferStatus::Notarized } => {
                    self.candidates.insert((1, transfer.0));
                }
                Event::FlowStatus { flow, status: FlowStatus::Authorized } => {
                    self.candidates.insert((0, flow.0));
                }
                _ => {}
            }
        }
    }
}

fn note(subject: B256, note: Note) -> Action {
    Action::Note { subject, note }
}
