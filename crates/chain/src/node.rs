//! Starting a node: stores, raft, the gRPC server, the companion and the sealer.

use crate::access::Access;
use crate::api::NotaryService;
use crate::config::{NodeConfig, Role};
use crate::fault::{Fault, Faults};
use crate::liveness::{Liveness, LivenessSetup};
use crate::log_store::LogStore;
use crate::network::{Network, RaftService};
use crate::proposer::Proposer;
use crate::state_machine::{Shared, StateMachine};
use crate::types::TypeConfig;
use crate::{companion, crosscheck, liveness, sealer};
use box_core::typed::Genesis;
use box_proto::pb;
use box_proto::{Channels, TlsMaterial};
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A file could not be read or parsed.
    #[error("{0}")]
    Setup(String),
    /// Raft could not start.
    #[error("raft: {0}")]
    Raft(String),
}

/// A running node.
pub struct RunningNode {
    /// The raft handle.
    pub raft: Raft<TypeConfig>,
    /// The replicated state.
    pub shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningNode {
    /// Waits for the server to stop (it runs until [`RunningNode::shutdown`]),
    /// or for raft to stop on its own: openraft stops a node's raft for good
    /// when its storage refuses a step, as `install_snapshot` refuses a
    /// snapshot that does not verify (crate README, "Snapshots"). A node
    /// whose raft stopped could only serve a state that no longer moves, so
    /// that is an `Err` naming why: the process exits and its supervisor
    /// starts it again, which asks the leader anew.
    pub async fn wait(mut self) -> Result<(), StartError> {
        let mut metrics = self.raft.metrics();
        let raft_stopped = async move {
            loop {
                if let Err(fatal) = &metrics.borrow_and_update().running_state {
                    return fatal.to_string();
                }
                if metrics.changed().await.is_err() {
                    return "its metrics ended".to_owned();
                }
            }
        };
        tokio::select! {
            served = &mut self.server => match served {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(StartError::Setup(format!("server stopped: {e}"))),
                Err(e) => Err(StartError::Setup(format!("server task failed: {e}"))),
            },
            why = raft_stopped => {
                let e = format!(
                    "stopped on this node ({why}); it cannot follow the chain until restarted, and a restart \
                     asks the leader again (the log above says what was refused)"
                );
                tracing::error!("raft {e}");
                self.shutdown().await;
                Err(StartError::Raft(e))
            }
        }
    }

    /// Stops serving, the companion, the sealer and raft. Background tasks
    /// are aborted rather than awaited: one may be waiting on a proposal that
    /// can no longer commit (the rest of the cluster may already be gone).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
        // Graceful shutdown waits for open streams (a subscriber may never
        // leave): give in-flight requests a moment, then stop.
        let server = self.server;
        let abort = server.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), server).await.is_err() {
            abort.abort();
        }
        let _ = self.raft.shutdown().await;
    }
}

fn setup<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> StartError + '_ {
    move |e| StartError::Setup(format!("{what}: {e}"))
}

/// Starts a node from its configuration.
pub async fn start(cfg: &NodeConfig) -> Result<RunningNode, StartError> {
    start_with_fault(cfg, None).await
}

/// Starts a node that misbehaves as `fault` says (tests only; `None` is
/// [`start`]).
pub async fn start_with_fault(cfg: &NodeConfig, fault: Option<Fault>) -> Result<RunningNode, StartError> {
    if let Some(f) = fault {
        tracing::warn!("fault injection: this node misbehaves on purpose ({f:?}); never in production");
    }
    let faults = Arc::new(Faults::new(fault));
    std::fs::create_dir_all(&cfg.data_dir).map_err(setup("cannot create data_dir"))?;
    let genesis_bytes = std::fs::read(&cfg.genesis).map_err(setup("cannot read the genesis file"))?;
    let genesis: Genesis = serde_json::from_slice(&genesis_bytes).map_err(setup("the genesis file is not valid"))?;
    let key = box_ops::unlock::load_key(&cfg.account_key, &cfg.unlock, "box-node").map_err(setup("account_key"))?;
    let tls = TlsMaterial::load(&cfg.tls.ca, &cfg.tls.cert, &cfg.tls.key).map_err(StartError::Setup)?;

    let fingerprint = box_core::genesis::Fingerprint::of(&genesis);
    let mut log = LogStore::open(&cfg.data_dir.join("raft-log.redb")).map_err(setup("raft log store"))?;
    let sm = StateMachine::open(&cfg.data_dir.join("state.redb"), genesis)
        .map_err(StartError::Setup)?
        .forging_snapshots(faults.forges_snapshots());
    let shared = sm.shared();
    let applied = shared.read().last_applied;
    if let Some(mark) = log.repair_unfinished_install(applied).map_err(StartError::Setup)? {
        tracing::warn!(
            "the raft log was purged up to entry {} for a snapshot this node never installed (refused, or \
             interrupted); it now resumes from its own state and asks the leader again",
            mark.index
        );
    }
    shared.keeper.configure(key.clone(), cfg.state_checkpoint_every);
    shared.keeper.snapshots_every(cfg.raft.snapshot_every);
    let registered = shared.read().notary.registry().contains(&key.address());
    let config = Config {
        cluster_name: "box".into(),
        heartbeat_interval: cfg.raft.heartbeat_ms,
        election_timeout_min: cfg.raft.election_min_ms,
        election_timeout_max: cfg.raft.election_max_ms,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.raft.snapshot_every),
        max_in_snapshot_log_to_keep: 500,
        install_snapshot_timeout: 2_000,
        snapshot_max_chunk_size: crate::network::SNAPSHOT_CHUNK_BYTES,
        enable_elect: false,
        ..Default::default()
    }
    .validate()
    .map_err(|e| StartError::Raft(e.to_string()))?;
    let channels = Channels::new(tls.client());
    // A peer that answers with another genesis: refuse to run (peers not up yet are not waited for;
    // they make the same check when they start).
    let peers: Vec<box_proto::Node> = cfg
        .peers
        .iter()
        .filter(|p| p.id != cfg.id)
        .map(|p| box_proto::Node { id: p.id, addr: p.addr.clone() })
        .collect();
    let mut peers_leader = None;
    if !peers.is_empty() {
        let client = box_proto::NodeClient::with_channels(peers.clone(), channels.clone());
        let views = client.cluster().await;
        box_proto::genesis::compare(&views, fingerprint).map_err(|m| StartError::Setup(m.to_string()))?;
        // The leader a peer follows, if any but this node (see `ELECTION_HOLD`).
        peers_leader =
            views.iter().filter_map(|v| v.info.as_ref().ok()).map(|i| i.leader).find(|&l| l != 0 && l != cfg.id);
    }
    tracing::info!(%fingerprint, "genesis");
    // A voter's account must be registered: in the genesis or the state
    // restored from this node's snapshot. A node added on a live deployment
    // starts as a learner; once its addition is notarized it may restart as a
    // voter: its raft log (admitted by the leader) then replays the change,
    // which a snapshot may not hold yet.
    let admitted = {
        use openraft::storage::RaftLogStorage;
        log.get_log_state().await.map_err(|e| StartError::Raft(e.to_string()))?.last_log_id.is_some()
    };
    if cfg.role == Role::Voter && !registered && !admitted {
        return Err(StartError::Setup(format!(
            "this node's account {} is not a registered node account and this node holds no log yet; a voter must be registered: start a new node as a learner (role = \"learner\") until its addition is notarized",
            key.address()
        )));
    }

    let raft = Raft::new(cfg.id, Arc::new(config), Network::new(channels.clone()), log, sm)
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
    // A peer follows a leader: this node, back after an absence, waits for
    // that leader's next message instead of deposing it with an election.
    let hold = match peers_leader {
        Some(leader) if admitted && cfg.role == Role::Voter => {
            let hold = crate::peers::ELECTION_HOLD + Duration::from_millis(cfg.raft.election_max_ms);
            tracing::info!(
                "peers follow node {leader}: this node starts no election for {} s, until that leader reaches it",
                hold.as_secs_f32()
            );
            hold
        }
        _ => Duration::ZERO,
    };
    let elect = raft.clone();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // A snapshot's tip must be attested by a majority of the registry before it is installed.
    shared.attest_tips_with(Arc::new(crate::state_machine::PeerAttesters::new(
        peers.clone(),
        channels.clone(),
        shutdown_rx.clone(),
    )));
    let deadline = Duration::from_millis(cfg.raft.progress_deadline_ms);
    let voter = cfg.role == Role::Voter;
    let suspects = Liveness::suspects_for(deadline);
    let mut proposer =
        Proposer::new(raft.clone(), channels.clone(), cfg.id).with_faults(faults.clone()).avoiding(suspects.clone());
    if voter {
        proposer = proposer.watching(shared.clone(), deadline);
    }
    let rules = LivenessSetup {
        id: cfg.id,
        advertise: cfg.advertise.clone(),
        voter,
        deadline,
        configured: cfg.peers.iter().map(|p| p.addr.clone()).collect(),
    };
    let liveness = Arc::new(Liveness::new(rules, shared.clone(), suspects, faults.clone(), channels.clone()));
    let configured_voters = cfg.peers.iter().filter(|p| p.role == Role::Voter).map(|p| p.id).collect();
    let access = Access::new(raft.clone(), shared.clone(), cfg.id, configured_voters);
    let api = NotaryService::new(
        shared.clone(),
        proposer.clone(),
        raft.clone(),
        cfg.id,
        key.address(),
        access.clone(),
        liveness.clone(),
    );
    let listener = tokio::net::TcpListener::bind(cfg.listen).await.map_err(setup("cannot listen"))?;
    let mut stop = shutdown_rx.clone();
    let server = Server::builder()
        .tls_config(tls.server())
        .map_err(setup("TLS"))?
        .add_service(
            pb::raft_server::RaftServer::new(RaftService::new(raft.clone(), access, liveness.suspects()))
                .max_decoding_message_size(crate::network::MAX_RAFT_MESSAGE_BYTES),
        )
        .add_service(pb::notary_server::NotaryServer::new(api))
        // TCP_NODELAY on every accepted connection: a reply is several small
        // writes (HTTP/2 headers, data, trailers), and with Nagle's algorithm the
        // later ones wait for the peer's delayed ACK, about 40 ms a request.
        // (`Server::tcp_nodelay` does not apply to a listener passed in.)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), async move {
            let _ = stop.changed().await;
        });
    let server = tokio::spawn(server);

    // The lowest-numbered voter bootstraps a brand-new cluster; everyone else
    // learns the membership from it.
    let voters: BTreeMap<u64, BasicNode> =
        cfg.peers.iter().filter(|p| p.role == Role::Voter).map(|p| (p.id, BasicNode::new(p.addr.clone()))).collect();
    if voters.keys().next() == Some(&cfg.id)
        && !raft.is_initialized().await.map_err(|e| StartError::Raft(e.to_string()))?
    {
        raft.initialize(voters).await.map_err(|e| StartError::Raft(e.to_string()))?;
    }

    let mut tasks = vec![
        tokio::spawn(companion::run(shared.clone(), proposer.clone(), key.clone(), shutdown_rx.clone())),
        tokio::spawn(sealer::run(
            shared.clone(),
            proposer.clone(),
            key.clone(),
            Duration::from_millis(cfg.seal_interval_ms),
            faults,
            shutdown_rx.clone(),
        )),
        tokio::spawn(liveness::run(liveness.clone(), proposer.clone(), raft.clone(), shutdown_rx.clone())),
        tokio::spawn(crosscheck::run(shared.clone(), liveness, proposer.clone(), shutdown_rx.clone())),
        tokio::spawn(crate::backfill::run(shared.clone(), peers, cfg.id, channels.clone(), shutdown_rx.clone())),
        tokio::spawn(crate::state_machine::warm::run(shared.clone(), shutdown_rx.clone())),
    ];
    tasks.push(tokio::spawn(async move {
        tokio::time::sleep(hold).await;
        elect.runtime_config().elect(true);
    }));
    tasks.push(tokio::spawn(log_leaders(raft.clone(), cfg.id)));
    let learners: Vec<(u64, String)> =
        cfg.peers.iter().filter(|p| p.role == Role::Learner).map(|p| (p.id, p.addr.clone())).collect();
    tasks.push(tokio::spawn(reconcile_membership(
        raft.clone(),
        proposer.clone(),
        shared.clone(),
        learners,
        shutdown_rx,
    )));
    Ok(RunningNode { raft, shared, shutdown: shutdown_tx, server, tasks })
}

/// While leading, keeps raft's membership equal to the notarized node set:
/// the voters are exactly the registered node accounts (genesis plus
/// notarized node changes), and every configured learner replicates. A node
/// added by governance is first added as a learner, then promoted; a removed
/// one stops voting. The notary's majority changes with the notarized
/// decision itself; this makes raft's quorum follow it.
async fn reconcile_membership(
    raft: Raft<TypeConfig>,
    proposer: Proposer,
    shared: Arc<Shared>,
    learners: Vec<(u64, String)>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
            _ = shutdown.changed() => return,
        }
        if !proposer.is_leader() {
            continue;
        }
        let voters: BTreeMap<u64, String> =
            shared.read().notary.nodes().map(|n| (n.nodeId, n.endpoint.clone())).collect();
        let (known, current): (BTreeSet<u64>, BTreeSet<u64>) = {
            let m = raft.metrics().borrow().membership_config.clone();
            (m.membership().nodes().map(|(id, _)| *id).collect(), m.membership().voter_ids().collect())
        };
        let wanted =
            voters.iter().chain(learners.iter().map(|(id, a)| (id, a)).filter(|(id, _)| !voters.contains_key(id)));
        for (id, addr) in wanted {
            if !known.contains(id)
                && let Err(e) = raft.add_learner(*id, BasicNode::new(addr.clone()), false).await
            {
                tracing::debug!("node {id} not added yet: {e}");
            }
        }
        // A node added by governance votes in raft once it has caught up as a
        // learner: promoting an empty log would make it a voter that cannot
        // help a quorum for as long as it replays. Removals apply at once.
        let target: BTreeSet<u64> =
            voters.keys().copied().filter(|id| current.contains(id) || caught_up(&raft, *id)).collect();
        if target != current && !target.is_empty() {
            match raft.change_membership(target.clone(), false).await {
                Ok(_) => tracing::info!(voters = ?target, "raft voters now follow the notarized node set"),
                Err(e) => tracing::debug!("membership change deferred: {e}"),
            }
        }
    }
}

/// Logs each raft term's leader once it is known (`raft term 4: node 1
/// leads`), so that the log shows every election.
async fn log_leaders(raft: Raft<TypeConfig>, id: u64) {
    let mut metrics = raft.metrics();
    let mut logged = None;
    loop {
        let (term, leader) = {
            let m = metrics.borrow_and_update();
            (m.current_term, m.current_leader)
        };
        if let Some(leader) = leader
            && logged != Some((term, leader))
        {
            logged = Some((term, leader));
            if leader == id {
                tracing::info!("raft term {term}: this node leads");
            } else {
                tracing::info!("raft term {term}: node {leader} leads");
            }
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// How many log entries a learner may trail the leader by and still be
/// promoted: it is replicating at the line rate, not replaying history.
const PROMOTE_WITHIN: u64 = 64;

/// Whether node `id` replicates within [`PROMOTE_WITHIN`] entries of this
/// (leading) node's log, per raft's replication metrics.
fn caught_up(raft: &Raft<TypeConfig>, id: u64) -> bool {
    let m = raft.metrics().borrow().clone();
    let last = m.last_log_index.unwrap_or(0);
    // No match yet: the learner has not answered (down, or not started).
    let matched = m.replication.as_ref().and_then(|r| r.get(&id).cloned().flatten()).map(|l| l.index);
    let caught = matched.is_some_and(|i| i + PROMOTE_WITHIN >= last);
    let matched = matched.unwrap_or(0);
    if !caught {
        tracing::debug!(
            "node {id} is a learner catching up (entry {matched} of {last}); promoted once within {PROMOTE_WITHIN}"
        );
    }
    caught
}
