//! Raft over gRPC with mutual TLS.
//!
//! Both directions require a certificate from the deployment CA: the server
//! demands a client certificate at the handshake, the client verifies the
//! server's. openraft messages travel as JSON inside a bytes field.
//!
//! A certificate of the CA is not enough to speak raft: the server takes a
//! message only from a node certificate of the current membership, and only
//! for that node's own messages ([`crate::access::Access::raft`]). openraft
//! followers accept an AppendEntries whose vote is at least their own, so
//! without this any holder of a deployment certificate could declare itself
//! leader.

use crate::access::{self, Access};
use crate::liveness::Suspects;
use crate::peers::{self, PeerHealth};
use crate::types::{NodeId, TypeConfig};
use box_proto::Channels;
use box_proto::pb;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{Backoff, RPCOption};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{BasicNode, Raft, RaftNetwork, RaftNetworkFactory};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// The largest raft message a node takes (gRPC's decoding limit on the
/// `Raft` service; tonic's default is 4 MiB): 64 MiB.
pub const MAX_RAFT_MESSAGE_BYTES: usize = 64 << 20;

/// The bytes of a snapshot sent in one InstallSnapshot message (openraft's
/// `snapshot_max_chunk_size`; its default is 3 MiB): 256 KiB. The chunk
/// travels as a JSON array of numbers, up to 4 bytes a byte ("255,"), so a
/// message stays near 1 MiB, far below [`MAX_RAFT_MESSAGE_BYTES`] (with
/// 3 MiB chunks and gRPC's 4 MiB limit, no follower could take a snapshot
/// larger than about 1 MiB, and the leader sent it again without end), and
/// it reaches a follower within the 2 s openraft waits for each chunk's
/// answer (`install_snapshot_timeout`) on a link of 5 Mbit/s; a 1 MiB
/// chunk needed 17 Mbit/s. A 10 MB snapshot is 40 messages.
pub const SNAPSHOT_CHUNK_BYTES: u64 = 256 << 10;

/// openraft's network factory.
#[derive(Clone)]
pub struct Network {
    channels: Channels,
    health: PeerHealth,
}

impl Network {
    /// Dials peers through `channels`.
    pub fn new(channels: Channels) -> Self {
        Self { channels, health: PeerHealth::default() }
    }
}

/// One peer connection.
pub struct Connection {
    target: NodeId,
    addr: String,
    health: PeerHealth,
    /// Why the last message did not reach the peer, in words.
    cause: String,
    client: Result<pb::raft_client::RaftClient<Channel>, String>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        let client = self.channels.get(&node.addr).map(pb::raft_client::RaftClient::new).map_err(|e| e.to_string());
        Connection { target, addr: node.addr.clone(), health: self.health.clone(), cause: String::new(), client }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

#[derive(Clone, Copy)]
enum Rpc {
    Append,
    Vote,
    Snapshot,
}

impl Connection {
    async fn call<Q, P, E>(
        &mut self,
        rpc: Rpc,
        req: &Q,
        option: &RPCOption,
    ) -> Result<P, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Q: Serialize,
        P: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let result = self.send(rpc, req, option).await;
        match &result {
            Err(RPCError::Unreachable(_) | RPCError::Network(_)) => {
                self.health.unreachable(self.target, &self.addr, &self.cause)
            }
            Err(RPCError::Timeout(_)) => self.health.unreachable(self.target, &self.addr, "no answer in time"),
            Err(RPCError::PayloadTooLarge(_)) => {}
            Ok(_) | Err(RPCError::RemoteError(_)) => self.health.reached(self.target, &self.addr),
        }
        result
    }

    async fn send<Q, P, E>(
        &mut self,
        rpc: Rpc,
        req: &Q,
        option: &RPCOption,
    ) -> Result<P, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Q: Serialize,
        P: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let client = match self.client.as_mut() {
            Ok(c) => c,
            Err(e) => {
                self.cause.clone_from(e);
                return Err(RPCError::Unreachable(Unreachable::new(&Message(e.clone()))));
            }
        };
        let data = serde_json::to_vec(req).map_err(|e| {
            self.cause = format!("the message does not encode: {e}");
            RPCError::Network(NetworkError::new(&e))
        })?;
        let mut r = Request::new(pb::RaftMessage { data });
        r.set_timeout(option.hard_ttl());
        let res = match rpc {
            Rpc::Append => client.append_entries(r).await,
            Rpc::Vote => client.vote(r).await,
            Rpc::Snapshot => client.install_snapshot(r).await,
        };
        let resp = match res {
            Ok(resp) => resp,
            // The message in words (e.g. "tcp connect error"), not Status's Debug-like Display.
            Err(st) if st.code() == tonic::Code::Unavailable => {
                self.cause = st.message().to_owned();
                return Err(RPCError::Unreachable(Unreachable::new(&Message(self.cause.clone()))));
            }
            // The deadline set above passed (`grpc-timeout`): in words an operator can act on.
            Err(st) if st.code() == tonic::Code::Cancelled && st.message() == "Timeout expired" => {
                self.cause = format!(
                    "no answer within {} ms (raft.heartbeat_ms for AppendEntries)",
                    option.hard_ttl().as_millis()
                );
                return Err(RPCError::Network(NetworkError::new(&st)));
            }
            Err(st) => {
                self.cause = format!("{}: {}", st.code().description(), st.message());
                return Err(RPCError::Network(NetworkError::new(&st)));
            }
        };
        let out: Result<P, RaftError<NodeId, E>> = serde_json::from_slice(&resp.into_inner().data).map_err(|e| {
            self.cause = format!("its answer does not decode: {e}");
            RPCError::Network(NetworkError::new(&e))
        })?;
        out.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Append, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Vote, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        self.call(Rpc::Snapshot, &rpc, &option).await
    }

    /// Exponential, capped ([`peers::backoff`]) instead of openraft's 500 ms.
    fn backoff(&self) -> Backoff {
        peers::backoff()
    }
}

/// The raft gRPC service: serves member nodes their own messages only.
pub struct RaftService {
    raft: Raft<TypeConfig>,
    access: Access,
    suspects: Arc<Suspects>,
}

impl RaftService {
    /// Serves `raft` to the callers `access` lets speak raft, refusing
    /// messages from the nodes `suspects` names (leaders that withheld
    /// entries, proven equivocators; see [`crate::liveness`]).
    pub fn new(raft: Raft<TypeConfig>, access: Access, suspects: Arc<Suspects>) -> Self {
        Self { raft, access, suspects }
    }

    /// Refuses a message that `node` sent as leader or candidate while it is suspected.
    fn unsuspected(&self, node: NodeId) -> Result<(), Status> {
        self.suspects.admit(node).map_err(|left| {
            Status::unavailable(format!(
                "node {node} left entries out of the log or equivocated; its raft messages are refused for {} s more",
                left.as_secs() + 1
            ))
        })
    }
}

fn encode<T: Serialize>(v: &T) -> Result<Response<pb::RaftMessage>, Status> {
    Ok(Response::new(pb::RaftMessage { data: serde_json::to_vec(v).map_err(|e| Status::internal(e.to_string()))? }))
}

fn decode<T: DeserializeOwned>(data: &[u8]) -> Result<T, Status> {
    serde_json::from_slice(data).map_err(|e| Status::invalid_argument(format!("undecodable raft message: {e}")))
}

impl RaftService {
    /// The caller's role and its message, once `access` lets it through:
    /// `sender` says which node the message claims to come from.
    fn admit<T: DeserializeOwned>(
        &self,
        r: Request<pb::RaftMessage>,
        rpc: &str,
        sender: impl FnOnce(&T) -> Option<NodeId>,
    ) -> Result<T, Status> {
        let caller = access::caller(&r)?;
        let msg: T = decode(&r.into_inner().data)?;
        self.access.raft(caller, rpc, sender(&msg))?;
        Ok(msg)
    }
}

#[tonic::async_trait]
impl pb::raft_server::Raft for RaftService {
    async fn append_entries(&self, r: Request<pb::RaftMessage>) -> Result<Response<pb::RaftMessage>, Status> {
        let req =
            self.admit(r, "AppendEntries", |m: &AppendEntriesRequest<TypeConfig>| m.vote.leader_id().voted_for())?;
        self.unsuspected(req.vote.leader_id().voted_for().unwrap_or_default())?;
        let commit = req.leader_commit.map(|c| c.index);
        let resp = self.raft.append_entries(req).await;
        if matches!(&resp, Ok(r) if !matches!(r, AppendEntriesResponse::HigherVote(_))) {
            // From the leader this node follows: how far behind it is, for the liveness rules.
            self.suspects.heard_commit(commit);
        }
        encode(&resp)
    }

    async fn vote(&self, r: Request<pb::RaftMessage>) -> Result<Response<pb::RaftMessage>, Status> {
        let req = self.admit(r, "Vote", |m: &VoteRequest<NodeId>| m.vote.leader_id().voted_for())?;
        self.unsuspected(req.vote.leader_id().voted_for().unwrap_or_default())?;
        encode(&self.raft.vote(req).await)
    }

    async fn install_snapshot(&self, r: Request<pb::RaftMessage>) -> Result<Response<pb::RaftMessage>, Status> {
        let req =
            self.admit(r, "InstallSnapshot", |m: &InstallSnapshotRequest<TypeConfig>| m.vote.leader_id().voted_for())?;
        self.unsuspected(req.vote.leader_id().voted_for().unwrap_or_default())?;
        encode(&self.raft.install_snapshot(req).await)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use openraft::{CommittedLeaderId, LogId, Membership, SnapshotMeta, StoredMembership, Vote};
    use std::collections::{BTreeMap, BTreeSet};

    /// A full snapshot chunk of the worst bytes for JSON (each "255,"), with
    /// a seven-node membership, is one message a node takes: before, 3 MiB
    /// chunks met tonic's 4 MiB limit and a follower could never take a
    /// snapshot above about 1 MiB.
    #[test]
    fn a_full_snapshot_chunk_fits_one_raft_message() {
        let nodes: BTreeMap<NodeId, BasicNode> =
            (1..=7).map(|i| (i, BasicNode::new(format!("node-{i}.example.internal:7000")))).collect();
        let ids: BTreeSet<NodeId> = nodes.keys().copied().collect();
        let last = LogId::new(CommittedLeaderId::new(u64::MAX, u64::MAX), u64::MAX);
        let req = InstallSnapshotRequest::<TypeConfig> {
            vote: Vote::new_committed(u64::MAX, u64::MAX),
            meta: SnapshotMeta {
                last_log_id: Some(last),
                last_membership: StoredMembership::new(Some(last), Membership::new(vec![ids], nodes)),
                snapshot_id: format!("{}-{}", u64::MAX, u64::MAX),
            },
            offset: u64::MAX,
            data: vec![255; SNAPSHOT_CHUNK_BYTES as usize],
            done: false,
        };
        let len = serde_json::to_vec(&req).unwrap().len();
        assert!(len > 4 * SNAPSHOT_CHUNK_BYTES as usize, "the chunk is encoded 4 bytes a byte");
        assert!(len <= MAX_RAFT_MESSAGE_BYTES / 8, "{len} bytes: too close to the {MAX_RAFT_MESSAGE_BYTES}-byte limit");
    }
}
