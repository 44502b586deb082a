//! The signer process: start-up checks, the loop that follows the chain, and
//! the console.
//!
//! ```text
//!  chain nodes ──Blocks (mTLS)──▶ BlockFollower (box-proto) + HistoryVerifier ──▶ ceremony messages ──▶ Vault
//!                                                        │ verified state
//!                                                        ▼
//!                      Executor: checks (DESIGN §6) ─▶ sign ─▶ record ─▶ broadcast ─▶ track ─▶ report
//! ```
//!
//! One task owns all state; the follower feeds it blocks and a timer drives
//! execution, tracking and reports. Execution waits until the verified state
//! has caught up with the newest height any node serves, so it never acts on
//! a stale view (an old pause lifted, a freeze not yet seen).

use crate::config::Config;
use crate::exec::driver::{Log, Shell};
use crate::exec::{Context, ExecConfig, Executor, Observation};
use crate::link::Link;
use crate::locked::harden_process;
use crate::ports::ExecutionStore;
use crate::store::Store;
use crate::vault::{Vault, VaultError};
use box_core::audit::HistoryVerifier;
use box_core::ceremony::{Ceremony, SignerAnnounce, SignerState};
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::governance::GovernanceAction;
use box_core::notary::{Entry, Event, FlowStatus, Subject, TransferStatus};
use box_core::typed::{Domain, Genesis, Signed};
use box_core::{Address, B256};
use box_eth::Eth;
use box_proto::{BlockFollower, Followed, Outcome, Refusal, TlsMaterial};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

/// Test hooks that stop the process (like `kill -9`: no clean-up runs) at
/// one exact point of an execution, so crash recovery can be tested without
/// racing a timer. Set with `BOX_SIGNER_FAULT`; unset in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// After the transaction is signed and durably recorded, before broadcast.
    AfterSign,
    /// Right after the Ethereum node accepted the transaction.
    AfterBroadcast,
}

impl Fault {
    /// Reads `BOX_SIGNER_FAULT` (`after-sign` or `after-broadcast`).
    pub fn from_env() -> Option<Self> {
        match std::env::var("BOX_SIGNER_FAULT").ok()?.as_str() {
            "after-sign" => Some(Self::AfterSign),
            "after-broadcast" => Some(Self::AfterBroadcast),
            _ => None,
        }
    }
}

/// Why the signer cannot start or must stop.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Start-up check failed.
    #[error("{0}")]
    Setup(String),
    /// The vault or store failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

fn setup<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> RunError + '_ {
    move |e| RunError::Setup(format!("{what}: {e}"))
}

/// Key of the rate-limited warning about announcements.
const ANNOUNCE_WARNING: B256 = B256::repeat_byte(0xAA);

/// How the signer is started.
#[derive(Debug)]
pub struct Options {
    /// The configuration.
    pub config: Config,
    /// `d` from a paper backup and the wallet it must give (restore on an empty data dir).
    pub restore: Option<(Zeroizing<[u8; 32]>, Option<Address>)>,
    /// A crash hook for tests.
    pub fault: Option<Fault>,
    /// How the identity key file is opened (the default: only an encrypted keystore).
    pub unlock: box_ops::unlock::Unlock,
    /// Where the enrolment code and `d` are shown (the default: the controlling terminal only).
    pub reveal: crate::console::Reveal,
}

/// The running signer's state (owned by one task).
pub struct Signer {
    pub(crate) config: Config,
    /// Where the enrolment code and `d` are shown.
    pub(crate) reveal: crate::console::Reveal,
    pub(crate) domain: Domain,
    pub(crate) identity: SecretKey,
    pub(crate) eth: Eth,
    pub(crate) store: Arc<Store>,
    pub(crate) vault: Vault,
    pub(crate) link: Link,
    /// Blocks from the nodes, verified into its `HistoryVerifier` (the verified state).
    pub(crate) follower: BlockFollower<HistoryVerifier>,
    /// Newest height any node said it has, and whether one has said.
    pub(crate) tip: Tip,
    /// Log time of the newest verified block.
    pub(crate) last_time: u64,
    pub(crate) announce_due: bool,
    /// Hashes of the ceremony messages handled this boot: a message replayed
    /// into the log (by a node re-proposing it, or a dishonest majority)
    /// is handled once, so an old panic cannot lock the signer again.
    pub(crate) ceremony_seen: std::collections::HashSet<B256>,
    pub(crate) paused: bool,
    pub(crate) fault: Option<Fault>,
    /// The execution state machine (sans-IO; see [`crate::exec`]).
    pub(crate) exec: Executor,
    /// Its shell's warnings and latency marks.
    pub(crate) log: Log,
    work_due: bool,
    verified: Arc<crate::crosscheck::VerifiedHeight>,
    /// Headers of verified blocks, for the cross-check.
    pub(crate) headers: Arc<crate::crosscheck::Verified>,
    /// Height up to which every node reached agrees (see [`crate::crosscheck`]).
    pub(crate) confirmed: u64,
    /// Equivocation the signer found itself (kept in its store).
    pub(crate) evidence: Vec<crate::crosscheck::Evidence>,
    /// The registered equivocator execution is halted for, if any.
    pub(crate) halt: Option<(Address, u64)>,
    /// The subjects held for transient reasons when last announced.
    announced_waiting: Vec<B256>,
    /// The verified state persisted by this run ([`crate::resume`]).
    persisted: crate::resume::Persisted,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({:?}, height {})", self.vault, self.follower.verifier().height())
    }
}

/// Reads the genesis JSON.
pub fn load_genesis(path: &std::path::Path) -> Result<Genesis, RunError> {
    let text = std::fs::read(path).map_err(setup(&format!("cannot read the genesis {}", path.display())))?;
    serde_json::from_slice(&text).map_err(setup(&format!("the genesis {} is not valid", path.display())))
}

/// Opens the signer's store in its data directory (created 0700 if missing).
pub fn open_store(config: &Config) -> Result<Arc<Store>, RunError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(setup(&format!("cannot create the data directory {}", config.data_dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(Arc::new(Store::open(&config.data_dir.join("signer.redb"))?))
}

impl Signer {
    /// Runs every start-up check and opens the vault; prints the console banner.
    pub async fn start(opts: Options) -> Result<Self, RunError> {
        harden_process().map_err(setup("cannot make the process undumpable"))?;
        let config = opts.config;
        let genesis = load_genesis(&config.genesis)?;
        let identity = box_ops::unlock::load_key(&config.identity_key, &opts.unlock, "box-signer")
            .map_err(setup("identity key"))?;
        if identity.address() != genesis.signer {
            return Err(RunError::Setup(format!(
                "the identity key is {} but the genesis names {} as the signer",
                identity.address(),
                genesis.signer
            )));
        }
        if config.ethereum.chain_id != genesis.chainId {
            return Err(RunError::Setup(format!(
                "config ethereum.chain_id is {} but the genesis is for chain {}; refusing to run",
                config.ethereum.chain_id, genesis.chainId
            )));
        }
        let eth = Eth::connect(&config.ethereum.rpc).map_err(setup("ethereum.rpc"))?;
        let anchor_max_fee = config.ethereum.anchor_max_fee.parse().map_err(setup("ethereum.anchor_max_fee"))?;
        let cancel_max_fee = config.ethereum.cancel_max_fee.parse().map_err(setup("ethereum.cancel_max_fee"))?;
        let actual = eth.chain_id().await.map_err(setup(&format!("cannot reach {}", config.ethereum.rpc)))?;
        if actual != config.ethereum.chain_id {
            return Err(RunError::Setup(format!(
                "the Ethereum node at {} is on chain {actual}, not the configured {}; refusing to run",
                config.ethereum.rpc, config.ethereum.chain_id
            )));
        }
        let tls = TlsMaterial::load(&config.tls.ca, &config.tls.cert, &config.tls.key).map_err(RunError::Setup)?;
        let store = open_store(&config)?;
        let lock_after = config.lock_after_failures;
        let vault = Vault::open(store.clone(), genesis.domain(), genesis.keyHolders.clone(), lock_after, opts.restore)?;
        let link = Link::named(config.nodes.clone(), &genesis.nodes, &tls);
        // Nothing runs on a genesis the nodes do not run (waits while no node answers).
        let fingerprint = box_core::genesis::Fingerprint::of(&genesis);
        link.check_genesis(fingerprint).await.map_err(|m| RunError::Setup(m.to_string()))?;
        tracing::info!(fingerprint = %fingerprint, "the nodes run this genesis");
        // The persisted verified state if it holds together, else the genesis.
        let crate::resume::Loaded { verifier, header: resumed, outdated } =
            crate::resume::load(&store, &genesis).map_err(RunError::Setup)?;
        let indexed = verifier.state().retired_indexed();
        let follower = link.follow(verifier).with_index(Arc::new(crate::resume::StoreIndex(store.clone())));
        let evidence = store.get(crate::crosscheck::EVIDENCE_KEY)?.unwrap_or_default();
        let exec = Executor::new(
            ExecConfig {
                chain_id: genesis.domain().chain_id,
                confirmations: config.ethereum.confirmations,
                replace_after_secs: config.ethereum.replace_after_secs,
                anchor_max_fee,
                retry_max_secs: config.ethereum.retry_max_secs,
                alert_after_secs: config.ethereum.alert_after_secs,
                funds_wait_secs: config.ethereum.funds_wait_secs,
                cancel_after_secs: config.ethereum.cancel_after_secs,
                cancel_max_fee,
                reorg_watch_blocks: config.ethereum.reorg_watch_blocks,
            },
            store.executions().await?,
            follower.verifier().state(),
        );
        let mut s = Self {
            domain: genesis.domain(),
            config,
            reveal: opts.reveal,
            identity,
            eth,
            store,
            vault,
            link,
            follower,
            tip: Tip::default(),
            last_time: 0,
            announce_due: true,
            ceremony_seen: std::collections::HashSet::new(),
            paused: false,
            fault: opts.fault,
            exec,
            log: Log::default(),
            work_due: false,
            verified: Arc::default(),
            headers: Arc::default(),
            confirmed: 0,
            evidence,
            halt: None,
            announced_waiting: Vec::new(),
            persisted: crate::resume::Persisted::new(
                resumed.as_ref().map_or(0, |h| h.header.height),
                indexed,
                outdated,
            ),
        };
        s.resumed(resumed);
        s.banner();
        Ok(s)
    }

    /// Takes in a resumed state's header: the cross-check compares it with
    /// the nodes before anything is executed, and the log time, pause and
    /// halt are the resumed state's.
    fn resumed(&mut self, header: Option<box_core::evidence::SealedHeader>) {
        let Some(h) = header else { return };
        self.verified.set(h.header.height);
        self.last_time = h.header.time;
        self.headers.insert(h);
        self.paused = self.follower.verifier().state().paused().is_some();
        self.update_halt();
    }

    /// What the operator sees on the signer's own console.
    fn banner(&self) {
        println!("box-signer: boot {}", self.vault.boot());
        println!("box-signer: state: {}", self.vault.state().as_str());
        if let Some(w) = self.vault.wallet() {
            println!("box-signer: hot wallet {w}");
        }
        if let Some(code) = self.vault.enrolment_code() {
            println!("box-signer: {}", crate::console::show_enrolment_code(&self.reveal, code));
        }
    }

    /// Follows the chain and executes until `stop` resolves (a stop signal);
    /// then persists the verified state at its tip ([`crate::resume`]) and
    /// returns. Stopping between awaits is safe: every step the signer takes
    /// is recorded before it acts, as a `kill -9` must be survived too.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) -> Result<(), RunError> {
        let mut stop = std::pin::pin!(stop);
        let (check_tx, mut findings) = mpsc::channel(256);
        let check = crate::crosscheck::run(
            self.link.clone(),
            self.domain,
            self.headers.clone(),
            self.verified.clone(),
            check_tx,
        );
        tokio::spawn(check);
        let mut tick = tokio::time::interval(Duration::from_millis(self.config.ethereum.poll_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                Some(followed) = self.follower.next() => {
                    self.on_block(followed)?;
                    self.progressed().await?;
                }
                // A round of the cross-check also tells the nodes' tip: a
                // signer resumed at the tip is caught up without waiting
                // for a new block.
                Some(finding) = findings.recv() => {
                    self.on_finding(finding).await?;
                    self.progressed().await?;
                }
                _ = tick.tick() => self.on_tick().await?,
                () = &mut stop => {
                    let v = self.follower.verifier();
                    self.persisted.on_stop(&self.store, v, self.headers.get(v.height())).await;
                    return Ok(());
                }
            }
        }
    }

    /// After a block or a cross-check round: once caught up, logs it the
    /// first time and persists the verified state when due
    /// ([`crate::resume`]); new work is executed at once, not at the next
    /// tick.
    async fn progressed(&mut self) -> Result<(), RunError> {
        if self.caught_up() {
            let v = self.follower.verifier();
            self.persisted.caught_up(&self.store, v, self.headers.get(v.height()));
        }
        if self.work_due && self.caught_up() && self.may_execute() {
            self.work_due = false;
            self.execution(Observation::Execute).await?;
        }
        Ok(())
    }

    fn on_block(&mut self, followed: Followed) -> Result<(), RunError> {
        let (block, events) = match followed {
            Followed::Verified { block, events, .. } => (block, events),
            Followed::Refused { node, reason: Refusal::DoesNotVerify { height, block, error } } => {
                tracing::error!(%node, "block {height} does not verify: {error}");
                let registry_change = block.entries.iter().any(|e| {
                    matches!(&e.entry, Entry::Submit(Subject::Governance(g)) if matches!(g.action, GovernanceAction::NodeChange(_)))
                });
                if registry_change && self.vault.state() == SignerState::Unsealed {
                    let why = format!("an unverifiable node-registry change at height {height}: {error}");
                    let o = tokio::task::block_in_place(|| self.vault.lock(&why))?;
                    tracing::error!("{}", o.note);
                    self.announce_due = true;
                }
                return Ok(());
            }
            Followed::Refused { node, reason: reason @ Refusal::Undecodable(_) } => {
                tracing::warn!(%node, "a node sent an undecodable block: {reason}");
                return Ok(());
            }
            Followed::Refused { node, reason } => {
                tracing::debug!(%node, "{reason}");
                return Ok(());
            }
        };
        let height = block.header.height;
        tracing::debug!(height, "verified block {height}");
        let seen = Instant::now();
        for ev in &events {
            match ev {
                Event::TransferStatus { transfer, status: TransferStatus::Notarized } => {
                    self.log.notarized_at.insert(transfer.0, seen);
                    self.work_due = true;
                }
                Event::FlowStatus { status: FlowStatus::Authorized, .. } => self.work_due = true,
                _ => {}
            }
        }
        self.exec.verified(&events);
        self.headers.insert(block.sealed_header());
        self.verified.set(height);
        self.update_halt();
        self.last_time = self.last_time.max(block.header.time);
        for e in &block.entries {
            if let Entry::Ceremony(c @ Ceremony::Message(m)) = &e.entry {
                let Ok(device) = m.signer(&self.domain) else { continue };
                if m.value.boot != self.vault.boot()
                    || !self.ceremony_seen.insert(alloy::primitives::keccak256(Canonical::encode(c)))
                {
                    tracing::debug!("ceremony message ignored: another boot's, or a replay");
                    continue;
                }
                let before = self.vault.state();
                // Argon2 runs here (64 MiB, about a second): keep the runtime's other workers free.
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let outcome = tokio::task::block_in_place(|| self.vault.handle(device, &m.value, now))?;
                if outcome.changed {
                    tracing::info!("ceremony: {}", outcome.note);
                    println!("box-signer: {}", outcome.note);
                    self.announce_due = true;
                } else {
                    tracing::debug!("ceremony message ignored: {}", outcome.note);
                }
                if self.vault.state() != before {
                    println!("box-signer: state: {}", self.vault.state().as_str());
                    if before == SignerState::AwaitingGenesis
                        && let (Some(w), Ok(Some(d))) = (self.vault.wallet(), self.vault.d())
                    {
                        println!("box-signer: hot wallet {w}");
                        println!("box-signer: {}", crate::console::show_d(&self.reveal, &d));
                    }
                }
            }
        }
        let paused = self.follower.verifier().state().paused().is_some();
        if paused != self.paused {
            self.paused = paused;
            self.announce_due = true;
        }
        Ok(())
    }

    /// Whether the verified state is as new as anything a node has shown
    /// ([`Tip::caught_up`]).
    pub(crate) fn caught_up(&self) -> bool {
        let streamed = self.follower.heard().then(|| self.follower.latest());
        self.tip.caught_up(self.follower.verifier().height(), streamed)
    }

    async fn on_tick(&mut self) -> Result<(), RunError> {
        if self.announce_due && self.announce().await {
            self.announce_due = false;
        }
        if !self.caught_up() {
            return Ok(());
        }
        if self.may_execute() {
            self.execution(Observation::Execute).await?;
        }
        self.execution(Observation::Track).await?;
        self.execution(Observation::Report).await?;
        Ok(())
    }

    /// One observation for the executor, and everything it leads to
    /// (see [`crate::exec`]).
    pub(crate) async fn execution(&mut self, observation: Observation) -> Result<(), RunError> {
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let key = self.vault.key().map(|k| k as &dyn crate::tx::TxSigner);
        let ctx = Context {
            state: self.follower.verifier().state(),
            key,
            wallet: self.vault.wallet(),
            may_execute: self.caught_up() && self.may_execute(),
            log_time: self.last_time,
            now: wall.as_secs(),
            now_ms: u64::try_from(wall.as_millis()).unwrap_or(u64::MAX),
        };
        let mut shell = Shell {
            rpc: &self.eth,
            store: &self.store,
            link: &self.link,
            domain: &self.domain,
            identity: &self.identity,
            fault: self.fault,
            log: &mut self.log,
        };
        shell.run(&mut self.exec, &ctx, observation).await?;
        // Announce when what waits changes: `waiting: <reason>` in the status.
        let waiting = self.exec.waiting_subjects();
        if waiting != self.announced_waiting {
            self.announced_waiting = waiting;
            self.announce_due = true;
        }
        Ok(())
    }

    /// The announcement's detail: an execution halt, else what execution
    /// waits for (while unsealed), else the vault's state.
    fn detail(&self) -> String {
        if let Some(halt) = self.halt_detail() {
            return halt;
        }
        match self.exec.waiting() {
            Some(w) if self.vault.state() == SignerState::Unsealed => w,
            _ => self.vault.detail().to_owned(),
        }
    }

    /// Publishes the signer's state on the chain. Returns whether a node took it.
    async fn announce(&mut self) -> bool {
        // Never below what the chain has seen: a signer restored on a new
        // machine starts with an empty store.
        let on_chain = self.follower.verifier().state().signer_status().map_or(0, |a| a.value.sequence);
        // The store is redb: off the async executor.
        let store = self.store.clone();
        let next = tokio::task::spawn_blocking(move || -> Result<u64, crate::store::StoreError> {
            let sequence = store.get::<u64>("sequence")?.unwrap_or(0).max(on_chain) + 1;
            store.put("sequence", &sequence)?;
            Ok(sequence)
        });
        let sequence = match next.await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::error!("{e}");
                return false;
            }
            Err(e) => {
                tracing::error!("the store task failed: {e}");
                return false;
            }
        };
        let a = SignerAnnounce {
            boot: self.vault.boot(),
            sequence,
            state: self.vault.state() as u8,
            ceremonyKey: self.vault.ceremony_key().into(),
            wallet: self.vault.wallet().unwrap_or(Address::ZERO),
            devices: self.vault.devices(),
            holders: u8::try_from(self.vault.devices().len()).unwrap_or(u8::MAX),
            received: u8::try_from(self.vault.received()).unwrap_or(u8::MAX),
            paused: self.paused,
            detail: self.detail(),
            time: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        };
        let entry = Entry::Ceremony(Ceremony::Announce(Signed::new(&self.domain, &self.identity, a))).encode();
        match self.link.propose(entry).await {
            Ok(Outcome::Relayed) => true,
            Ok(outcome) => {
                self.warn_once(ANNOUNCE_WARNING, &format!("announcement not taken: {outcome}"));
                false
            }
            Err(e) => {
                self.warn_once(ANNOUNCE_WARNING, &format!("cannot announce yet: {e}"));
                false
            }
        }
    }

    /// Warns at most every 30 s per subject.
    pub(crate) fn warn_once(&mut self, subject: B256, msg: &str) {
        self.log.warn_once(subject, msg);
    }
}

/// The newest height the nodes have shown the signer, from two sources:
/// a cross-check round's (the greatest height enough nodes claim that at
/// least one honest node holds it, [`crate::crosscheck`]) and the block
/// stream's standing claim ([`box_proto::BlockFollower::latest`]: one
/// node's word, dropped when that node is caught claiming more than it
/// serves). The signer acts only once it has verified that far, so never on
/// a view older than the nodes showed it, and one lying node holds it back
/// for at most the follower's stall timeout.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    /// The greatest height a cross-check round has told; `None` before the
    /// first round.
    round: Option<u64>,
}

impl Tip {
    /// Takes a cross-check round's height (heights only rise: each is
    /// backed by at least one honest node).
    pub fn saw(&mut self, latest: u64) {
        self.round = Some(self.round.map_or(latest, |l| l.max(latest)));
    }

    /// Whether a state verified up to `verified` is caught up, given the
    /// block stream's standing claim (`None` while no node has streamed):
    /// some node has told its tip, neither source claims more than
    /// `verified`, and at least one block is verified. A state resumed from
    /// the store is not caught up before a node has answered: its height
    /// says nothing of what was sealed while the signer was down.
    pub fn caught_up(&self, verified: u64, streamed: Option<u64>) -> bool {
        let told = match (self.round, streamed) {
            (None, None) => return false,
            (round, streamed) => round.unwrap_or(0).max(streamed.unwrap_or(0)),
        };
        verified > 0 && verified >= told
    }
}

#[cfg(test)]
mod tests {
    use super::Tip;

    #[test]
    fn a_resumed_state_is_caught_up_only_once_a_node_has_shown_it_holds_nothing_newer() {
        let mut tip = Tip::default();
        // Resumed at 40: nothing heard yet, whatever the height.
        assert!(!tip.caught_up(40, None));
        // A cross-check round: the nodes hold 40. Caught up without a new block.
        tip.saw(40);
        assert!(tip.caught_up(40, None));
        // A round shows 43: not until 43 is verified.
        tip.saw(43);
        assert!(!tip.caught_up(41, None));
        assert!(tip.caught_up(43, None));
        // A lower round (nodes behind) lowers nothing.
        tip.saw(12);
        assert!(!tip.caught_up(42, None));
        // Nothing verified (a start from the genesis) is never caught up.
        let mut genesis = Tip::default();
        genesis.saw(0);
        assert!(!genesis.caught_up(0, None));
    }

    #[test]
    fn the_streamed_claim_holds_the_signer_back_only_while_it_stands() {
        let mut tip = Tip::default();
        // Before any round, the stream alone tells the tip.
        assert!(tip.caught_up(40, Some(40)));
        assert!(!tip.caught_up(40, Some(41)));
        // A round at 40 and a streamed claim of 1,000: held back...
        tip.saw(40);
        assert!(!tip.caught_up(40, Some(1_000)));
        // ...until the claim is dropped (the follower found its node
        // claiming more than it serves): the claim then is what was verified.
        assert!(tip.caught_up(40, Some(40)));
        // The round's height still holds it back on its own.
        tip.saw(45);
        assert!(!tip.caught_up(44, Some(44)));
    }
}
