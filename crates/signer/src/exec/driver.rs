//! The executor's shell: performs its [`Action`]s against the boundary
//! traits and steps it with the answers, depth first (an answer's actions
//! run before the next action of the step that asked). It decides nothing.

use super::{Action, Context, Executor, GasQuote, Market, Mined, Note, Observation, Quote};
use crate::ports::{EthereumRpc, ExecutionStore, NotaryLink};
use crate::runtime::Fault;
use crate::store::StoreError;
use box_core::B256;
use box_core::crypto::SecretKey;
use box_core::typed::{Domain, Signed};
use box_eth::EthError;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// What the shell remembers between rounds: when it last warned about each
/// subject (at most every 30 s), and when each transfer was seen notarized
/// (for the latency benchmark's log line).
#[derive(Debug, Default)]
pub struct Log {
    warned: HashMap<B256, Instant>,
    /// When each transfer was seen notarized.
    pub notarized_at: HashMap<B256, Instant>,
}

impl Log {
    /// Warns at most every 30 s per subject.
    pub fn warn_once(&mut self, subject: B256, msg: &str) {
        let now = Instant::now();
        if self.warned.get(&subject).is_none_or(|t| now.duration_since(*t) > Duration::from_secs(30)) {
            self.warned.insert(subject, now);
            tracing::warn!("{msg}");
        }
    }
}

/// The executor's boundaries and the signer's identity (reports are signed here).
pub struct Shell<'a, R, S, L> {
    /// The public chain.
    pub rpc: &'a R,
    /// The durable record.
    pub store: &'a S,
    /// The private chain.
    pub link: &'a L,
    /// The deployment's domain.
    pub domain: &'a Domain,
    /// The signer's identity key (signs reports; moves no funds).
    pub identity: &'a SecretKey,
    /// The armed crash hook, if any (tests).
    pub fault: Option<Fault>,
    /// Warnings and latency marks.
    pub log: &'a mut Log,
}

impl<R: EthereumRpc, S: ExecutionStore, L: NotaryLink> Shell<'_, R, S, L> {
    /// Steps `exec` with `observation` and performs everything that follows.
    /// A store failure stops the round (the signer stops rather than act
    /// without a record).
    pub async fn run(
        &mut self,
        exec: &mut Executor,
        ctx: &Context<'_>,
        observation: Observation,
    ) -> Result<(), StoreError> {
        let mut stack: Vec<VecDeque<Action>> = vec![exec.step(ctx, observation).into()];
        while let Some(top) = stack.last_mut() {
            let Some(action) = top.pop_front() else {
                stack.pop();
                continue;
            };
            if let Some(answer) = self.perform(action).await? {
                stack.push(exec.step(ctx, answer).into());
            }
        }
        Ok(())
    }

    async fn perform(&mut self, action: Action) -> Result<Option<Observation>, StoreError> {
        Ok(match action {
            Action::Quote { subject, request } => {
                let gas = match request.gas {
                    GasQuote::Estimate => Some(self.rpc.estimate_gas(request.from, &request.call).await),
                    GasQuote::EstimateIfCode => match self.rpc.has_code(request.call.to).await {
                        Ok(true) => Some(self.rpc.estimate_gas(request.from, &request.call).await),
                        Ok(false) => None,
                        Err(e) => Some(Err(e)),
                    },
                };
                let market = self.market(request.from, request.token).await;
                let token = match request.token {
                    Some(t) => Some(match (self.rpc.token_decimals(t).await, self.rpc.token_symbol(t).await) {
                        (Ok(d), Ok(s)) => Ok((d, s)),
                        (Err(e), _) | (_, Err(e)) => Err(e),
                    }),
                    None => None,
                };
                Some(Observation::Quoted { subject, quote: Quote { gas, market, token } })
            }
            Action::Insert { subject, execution } => {
                let inserted = self.store.insert(subject, execution).await?;
                Some(Observation::Recorded { subject, inserted })
            }
            Action::Update { subject, execution } => {
                self.store.update(subject, execution).await?;
                None
            }
            Action::Broadcast { subject, raw } => {
                Some(Observation::Sent { subject, result: self.rpc.send_raw(&raw).await })
            }
            Action::Head => Some(Observation::Head(self.rpc.block_number().await)),
            Action::Receipts { subject, hashes } => {
                let mut result = Ok(None);
                for h in hashes {
                    match self.rpc.receipt(h).await {
                        Ok(Some(receipt)) => {
                            result = match self.rpc.block_hash(receipt.block).await {
                                Ok(canonical) => Ok(Some(Mined { tx: h, receipt, canonical })),
                                Err(e) => Err(e),
                            };
                            break;
                        }
                        Ok(None) => {}
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                Some(Observation::Receipt { subject, result })
            }
            Action::Fees { subject } => {
                let result = match (self.rpc.fees().await, self.rpc.base_fee().await) {
                    (Ok(f), Ok(b)) => Ok((f, b)),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                };
                Some(Observation::Fees { subject, result })
            }
            Action::Report(r) => {
                let subject = r.subject;
                if let Err(e) = self.link.submit_report(Signed::new(self.domain, self.identity, r)).await {
                    self.log.warn_once(subject, &format!("cannot report on {subject} yet: {e}"));
                }
                None
            }
            Action::Crashpoint(f) => {
                if self.fault == Some(f) {
                    std::process::abort();
                }
                None
            }
            Action::Note { subject, note } => {
                self.note(subject, note);
                None
            }
        })
    }

    async fn market(&self, who: box_core::Address, token: Option<box_core::Address>) -> Result<Market, EthError> {
        // Independent reads, asked at once: one round trip of latency, not five.
        let token_balance = async {
            match token {
                Some(t) => self.rpc.token_balance(t, who).await.map(Some),
                None => Ok(None),
            }
        };
        let (fees, base_fee, balance, token_balance, pending_nonce) = tokio::try_join!(
            self.rpc.fees(),
            self.rpc.base_fee(),
            self.rpc.balance(who),
            token_balance,
            self.rpc.pending_nonce(who)
        )?;
        Ok(Market { fees, base_fee, balance, token_balance, pending_nonce })
    }

    fn note(&mut self, subject: B256, note: Note) {
        match note {
            Note::Refused(reason) => tracing::warn!(subject = %subject, "refused, nothing signed: {reason}"),
            Note::Waiting(why) => self.log.warn_once(subject, &why),
            Note::Alert(what) => tracing::error!(subject = %subject, "ALERT: {what}"),
            Note::Signed { nonce, tx } => tracing::info!(subject = %subject, nonce, tx = %tx, "signed and recorded"),
            Note::NotRecorded { nonce } => tracing::error!(
                subject = %subject, nonce, "not recorded: the subject or nonce already has an execution"
            ),
            Note::Broadcast { tx, first } => {
                if first && let Some(seen) = self.log.notarized_at.remove(&subject) {
                    // Read by the latency benchmark (benches/signer.rs).
                    let micros = u64::try_from(seen.elapsed().as_micros()).unwrap_or(u64::MAX);
                    tracing::info!(subject = %subject, micros, "notarized to broadcast");
                }
                tracing::info!(subject = %subject, tx = %tx, "broadcast");
            }
            Note::Mined { tx, block } => {
                tracing::info!(subject = %subject, tx = %tx, block, "mined, not yet deep enough")
            }
            Note::Confirmed { tx, block } => tracing::info!(subject = %subject, tx = %tx, block, "confirmed"),
            Note::Reverted { tx } => tracing::warn!(subject = %subject, tx = %tx, "failed on chain"),
            Note::Shortfall { delivered, amount } => tracing::warn!(
                subject = %subject, %delivered, %amount, "the token delivered less than the amount (fee on transfer)"
            ),
            Note::StaleReceipt { block, hash } => tracing::warn!(
                subject = %subject, block, %hash, "a receipt from a block that is no longer canonical: not mined"
            ),
            Note::Reorged { block } => {
                tracing::warn!(subject = %subject, block, "the receipt vanished in a reorg; broadcasting again");
            }
            Note::Repriced { nonce, tx } => {
                tracing::info!(subject = %subject, nonce, tx = %tx, "re-priced a stuck transaction");
            }
            Note::Stuck(note) => tracing::warn!(subject = %subject, "{note}"),
            Note::Cancelling { nonce, tx, first } => tracing::warn!(
                subject = %subject, nonce, tx = %tx, first,
                "cancelling a transaction whose fee cap stayed below the base fee (a 0-value send to the wallet itself)"
            ),
            Note::Cancelled { tx, block } => tracing::warn!(
                subject = %subject, tx = %tx, block, "cancelled: the transfer failed, nothing was moved"
            ),
        }
    }
}
