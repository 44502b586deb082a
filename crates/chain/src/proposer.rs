//! Getting commands into the log: locally when this node leads, otherwise
//! relayed once to the leader, which stamps its own clock on the entry.

use crate::fault::Faults;
use crate::liveness::Suspects;
use crate::state_machine::Shared;
use crate::types::{Applied, Command, NodeId, TypeConfig};
use box_proto::Channels;
use box_proto::pb;
use box_proto::reply::ProposeReply;
use openraft::Raft;
use openraft::error::{ClientWriteError, RaftError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a relayed proposal may wait for the leader's answer: a leader
/// that holds requests must not hold this node's callers (or companion) too.
const RELAY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a proposal did not make it into the log.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// No leader is known (an election is under way or a majority is down).
    #[error("no leader is available (election in progress or a majority of nodes is down); retry shortly")]
    NoLeader,
    /// The leader could not be reached.
    #[error("the leader at {addr} is unreachable: {reason}")]
    Unreachable {
        /// Leader address.
        addr: String,
        /// Transport error.
        reason: String,
    },
    /// Raft refused the write.
    #[error("the log refused the write: {0}")]
    Raft(String),
}

/// Seconds since the epoch by this node's clock, plus `BOX_NODE_CLOCK_AHEAD`
/// seconds if that is set: a test hook (like `BOX_NODE_FAULT`) that lets a
/// test move log time past a retention without waiting for it. Unset in
/// production; a node run with it is a node whose clock is wrong, which log
/// time already tolerates (it never goes backwards).
pub fn now() -> u64 {
    static AHEAD: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let ahead =
        *AHEAD.get_or_init(|| std::env::var("BOX_NODE_CLOCK_AHEAD").ok().and_then(|v| v.parse().ok()).unwrap_or(0));
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()).saturating_add(ahead)
}

/// An entry in the log: where, what applying it produced, and which node
/// appended it.
#[derive(Debug)]
pub struct Appended {
    /// Its log index.
    pub index: u64,
    /// What applying it produced.
    pub applied: Applied,
    /// The node that appended it, the leader then: this node, or the leader
    /// it was relayed to; `None` when that leader did not say (an older
    /// version).
    pub leader: Option<NodeId>,
}

/// Proposes commands on behalf of this node.
#[derive(Clone)]
pub struct Proposer {
    raft: Raft<TypeConfig>,
    channels: Channels,
    id: NodeId,
    watch: Option<(Arc<Shared>, Duration)>,
    faults: Arc<Faults>,
    suspects: Arc<Suspects>,
}

impl Proposer {
    /// A proposer for node `id`.
    pub fn new(raft: Raft<TypeConfig>, channels: Channels, id: NodeId) -> Self {
        Self {
            raft,
            channels,
            id,
            watch: None,
            faults: Arc::new(Faults::none()),
            suspects: Arc::new(Suspects::new(Duration::ZERO)),
        }
    }

    /// Starts a deadline (`shared.progress`) for every entry proposed on this
    /// node's own behalf (not relayed for another node), so a leader that
    /// leaves it out is noticed (see [`crate::liveness`]).
    pub fn watching(mut self, shared: Arc<Shared>, deadline: Duration) -> Self {
        self.watch = Some((shared, deadline));
        self
    }

    /// Relays nothing to a leader `suspects` names; waits for another one instead.
    pub fn avoiding(mut self, suspects: Arc<Suspects>) -> Self {
        self.suspects = suspects;
        self
    }

    /// Misbehaves as `faults` says (tests only).
    pub fn with_faults(mut self, faults: Arc<Faults>) -> Self {
        self.faults = faults;
        self
    }

    /// Whether this node currently believes it leads.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.id)
    }

    /// Appends a command only if this node leads; returns what applying it produced.
    pub async fn local(&self, cmd: Command) -> Result<(u64, Applied), ProposeError> {
        match self.raft.client_write(cmd).await {
            Ok(r) => Ok((r.log_id.index, r.data)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Err(ProposeError::NoLeader),
            Err(e) => Err(ProposeError::Raft(e.to_string())),
        }
    }

    /// Appends a notary entry (canonical `Entry` bytes): here if this node
    /// leads, otherwise relayed to the leader. `forwarded` requests are never
    /// relayed again.
    pub async fn entry(&self, entry: Vec<u8>, forwarded: bool) -> Result<Appended, ProposeError> {
        if let (Some((shared, deadline)), false) = (&self.watch, forwarded) {
            shared.progress.watch(&entry, Instant::now() + *deadline, crate::liveness::Origin::Proposed);
        }
        if self.faults.withholds() && self.is_leader() {
            // Fault injection: hold the request until the caller gives up.
            return std::future::pending().await;
        }
        for attempt in 0..20u64 {
            let cmd = Command::Notary { time: now(), entry: entry.clone() };
            match self.raft.client_write(cmd).await {
                Ok(r) => return Ok(Appended { index: r.log_id.index, applied: r.data, leader: Some(self.id) }),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    if forwarded {
                        return Err(ProposeError::NoLeader);
                    }
                    // A leader this node suspects of withholding gets nothing
                    // more from it: wait for the next one instead.
                    let suspected = f.leader_id.is_some_and(|l| self.suspects.admit(l).is_err());
                    match f.leader_node.filter(|_| !suspected) {
                        Some(node) => return self.relay(&node.addr, entry).await,
                        // An election is running: wait a little for a leader.
                        None => tokio::time::sleep(Duration::from_millis(50 * (attempt + 1))).await,
                    }
                }
                Err(e) => return Err(ProposeError::Raft(e.to_string())),
            }
        }
        Err(ProposeError::NoLeader)
    }

    async fn relay(&self, addr: &str, entry: Vec<u8>) -> Result<Appended, ProposeError> {
        let unreachable = |reason: String| ProposeError::Unreachable { addr: addr.to_owned(), reason };
        let ch = self.channels.get(addr).map_err(|e| unreachable(e.to_string()))?;
        let mut client = pb::notary_client::NotaryClient::new(ch);
        let mut req = tonic::Request::new(pb::ProposeRequest { entry, forwarded: true });
        req.set_timeout(RELAY_TIMEOUT);
        let r = client
            .propose(req)
            .await
            .map_err(|s| match s.code() {
                tonic::Code::Unavailable => ProposeError::NoLeader,
                _ => unreachable(s.message().to_owned()),
            })?
            .into_inner();
        let r = ProposeReply::from_wire(r).map_err(|e| unreachable(e.to_string()))?;
        Ok(Appended { index: r.index, applied: Applied::only(r.outcome), leader: r.leader })
    }
}
