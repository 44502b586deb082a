//! Getting commands into the log: locally when this node leads, otherwise
//! relayed once to the leader, which stamps its own clock on the entry.

use crate::network::Channels;
use crate::pb;
use crate::types::{Applied, Command, NodeId, TypeConfig};
use openraft::Raft;
use openraft::error::{ClientWriteError, RaftError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// Seconds since the epoch by this node's clock.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Proposes commands on behalf of this node.
#[derive(Clone)]
pub struct Proposer {
    raft: Raft<TypeConfig>,
    channels: Channels,
    id: NodeId,
}

impl Proposer {
    /// A proposer for node `id`.
    pub fn new(raft: Raft<TypeConfig>, channels: Channels, id: NodeId) -> Self {
        Self { raft, channels, id }
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
    pub async fn entry(&self, entry: Vec<u8>, forwarded: bool) -> Result<(u64, Applied), ProposeError> {
        for attempt in 0..20u64 {
            let cmd = Command::Notary { time: now(), entry: entry.clone() };
            match self.raft.client_write(cmd).await {
                Ok(r) => return Ok((r.log_id.index, r.data)),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    if forwarded {
                        return Err(ProposeError::NoLeader);
                    }
                    match f.leader_node {
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

    async fn relay(&self, addr: &str, entry: Vec<u8>) -> Result<(u64, Applied), ProposeError> {
        let unreachable = |reason: String| ProposeError::Unreachable { addr: addr.to_owned(), reason };
        let ch = self.channels.get(addr).map_err(|e| unreachable(e.to_string()))?;
        let mut client = pb::notary_client::NotaryClient::new(ch);
        let r = client
            .propose(pb::ProposeRequest { entry, forwarded: true })
            .await
            .map_err(|s| match s.code() {
                tonic::Code::Unavailable => ProposeError::NoLeader,
                _ => unreachable(s.message().to_owned()),
            })?
            .into_inner();
        Ok((r.index, Applied { outcome: r.outcome, subject: None }))
    }
}
