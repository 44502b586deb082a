//! Raft over gRPC with mutual TLS.
//!
//! Both directions require a certificate from the deployment CA: the server
//! demands a client certificate at the handshake, the client verifies the
//! server's. openraft messages travel inside a bytes field, serialized with
//! serde: as postcard (a compact binary format; byte strings as bytes) to a
//! peer whose answers said it reads it, else as JSON, which every version
//! reads ([`Encoding`]). A node thus talks to a peer of an earlier version
//! in JSON, and to its own version in postcard from that peer's first answer.
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
/// `snapshot_max_chunk_size`; its default is 3 MiB): 256 KiB. In postcard
/// the chunk travels as its bytes; to a peer that reads only JSON, as an
/// array of numbers, up to 4 bytes a byte ("255,"), so a message stays near
/// 1 MiB, far below [`MAX_RAFT_MESSAGE_BYTES`] (with
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
    /// What this connection sends: JSON until the peer's answer says it
    /// reads postcard, and again after it refused a postcard message (a
    /// peer replaced by an earlier version).
    encoding: Encoding,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        let client = self.channels.get(&node.addr).map(pb::raft_client::RaftClient::new).map_err(|e| e.to_string());
        Connection {
            target,
            addr: node.addr.clone(),
            health: self.health.clone(),
            cause: String::new(),
            client,
            encoding: Encoding::Json,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

/// How a raft message's bytes are encoded (proto `RaftMessage.encoding`).
/// An answer is in its request's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// serde_json: what every version of box-node reads and sends (0 on the
    /// wire, the field's default, so an earlier version's messages read as JSON).
    Json = 0,
    /// postcard 1 (<https://postcard.jamesmunns.com/wire-format>): byte
    /// strings (entries, signatures, snapshot chunks) as bytes, not as hex or
    /// arrays of numbers (1 on the wire).
    Postcard = 1,
}

/// The highest [`Encoding`] this node reads, said in every message it sends
/// (proto `RaftMessage.reads`).
pub const READS: Encoding = Encoding::Postcard;

impl Encoding {
    /// The encoding a message's `encoding` field names; the error says which
    /// ones this node reads.
    pub fn from_wire(n: u32) -> Result<Self, String> {
        match n {
            0 => Ok(Self::Json),
            1 => Ok(Self::Postcard),
            n => Err(format!("raft message encoding {n} is unknown to this node (it reads 0, JSON, and 1, postcard)")),
        }
    }

    /// `v` in this encoding.
    pub fn encode<T: Serialize>(self, v: &T) -> Result<Vec<u8>, String> {
        match self {
            Self::Json => serde_json::to_vec(v).map_err(|e| e.to_string()),
            Self::Postcard => postcard::to_stdvec(v).map_err(|e| e.to_string()),
        }
    }

    /// A `T` from `bytes` in this encoding; the error says what did not decode.
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, String> {
        match self {
            Self::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            Self::Postcard => postcard::from_bytes(bytes).map_err(|e| e.to_string()),
        }
    }
}

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
        let sent = self.encoding;
        let data = sent.encode(req).map_err(|e| {
            self.cause = format!("the message does not encode: {e}");
            RPCError::Network(NetworkError::new(&Message(e)))
        })?;
        let mut r = Request::new(pb::RaftMessage { data, encoding: sent as u32, reads: READS as u32 });
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
                if st.code() == tonic::Code::InvalidArgument && sent != Encoding::Json {
                    // A peer that does not read what it said it did (replaced by an earlier
                    // version): JSON from the next message on.
                    self.encoding = Encoding::Json;
                }
                self.cause = format!("{}: {}", st.code().description(), st.message());
                return Err(RPCError::Network(NetworkError::new(&st)));
            }
        };
        let answer = resp.into_inner();
        self.encoding = if answer.reads >= Encoding::Postcard as u32 { Encoding::Postcard } else { Encoding::Json };
        let out: Result<P, RaftError<NodeId, E>> =
            Encoding::from_wire(answer.encoding).and_then(|enc| enc.decode(&answer.data)).map_err(|e| {
                self.cause = format!("its answer does not decode: {e}");
                RPCError::Network(NetworkError::new(&Message(e)))
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

/// The answer `v`, in the request's encoding `enc`.
fn encode<T: Serialize>(v: &T, enc: Encoding) -> Result<Response<pb::RaftMessage>, Status> {
    let data = enc.encode(v).map_err(Status::internal)?;
    Ok(Response::new(pb::RaftMessage { data, encoding: enc as u32, reads: READS as u32 }))
}

/// A request's message, and the encoding it came in.
fn decode<T: DeserializeOwned>(m: &pb::RaftMessage) -> Result<(T, Encoding), Status> {
    let enc = Encoding::from_wire(m.encoding).map_err(Status::invalid_argument)?;
    let msg = enc.decode(&m.data).map_err(|e| Status::invalid_argument(format!("undecodable raft message: {e}")))?;
    Ok((msg, enc))
}

impl RaftService {
    /// The caller's message and its encoding, once `access` lets it
    /// through: `sender` says which node the message claims to come from.
    fn admit<T: DeserializeOwned>(
        &self,
        r: Request<pb::RaftMessage>,
        rpc: &str,
        sender: impl FnOnce(&T) -> Option<NodeId>,
    ) -> Result<(T, Encoding), Status> {
        let caller = access::caller(&r)?;
        let (msg, enc): (T, _) = decode(r.get_ref())?;
        self.access.raft(caller, rpc, sender(&msg))?;
        Ok((msg, enc))
    }
}

#[tonic::async_trait]
impl pb::raft_server::Raft for RaftService {
    async fn append_entries(&self, r: Request<pb::RaftMessage>) -> Result<Response<pb::RaftMessage>, Status> {
        let (req, enc) =
            self.admit(r, "AppendEntries", |m: &AppendEntriesRequest<TypeConfig>| m.vote.leader_id().voted_for())?;
        self.unsuspected(req.vote.leader_id().voted_for().unwrap_or_default())?;
        let commit = req.leader_commit.map(|c| c.index);
        let resp = self.raft.append_entries(req).await;
        if matches!(&resp, Ok(r) if !matches!(r, AppendEntriesResponse::HigherVote(_))) {
            // From the leader this node follows: how far behind it is, for the liveness rules.
            self.suspects.heard_commit(commit);
        }
        encode(&resp, enc)
    }

    async fn vote(&self, r: Request<pb::RaftMessage>) -> Result<Response<pb::RaftMessage>, Status> {
        let (req, enc) = self.admit(r, "Vote", |m: &VoteRequest<NodeId>| m.vote.leader_id().voted_for())?;
        self.unsuspected(req.vote.leader_id().voted_for().unwrap_or_default())?;
        encode(&self.raft.vote(req).await, enc)
    }

    async fn install_snapshot(&self, r: Request<pb::RaftMessage>) -> Result<Response<pb::RaftMessage>, Status> {
        let (req, enc) =
            self.admit(r, "InstallSnapshot", |m: &InstallSnapshotRequest<TypeConfig>| m.vote.leader_id().voted_for())?;
        self.unsuspected(req.vote.leader_id().voted_for().unwrap_or_default())?;
        encode(&self.raft.install_snapshot(req).await, enc)
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
        // In postcard the chunk is its bytes, plus a few hundred for the rest.
        let binary = Encoding::Postcard.encode(&req).unwrap().len();
        assert!(binary < SNAPSHOT_CHUNK_BYTES as usize + 1024, "{binary} bytes");
    }

    fn log_id(term: u64, index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    /// `v` through `enc` and back, compared as JSON values (openraft's
    /// messages do not all implement `PartialEq`).
    fn round_trip<T: Serialize + DeserializeOwned>(enc: Encoding, v: &T) {
        let back: T = enc.decode(&enc.encode(v).unwrap()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(v).unwrap(), "{enc:?}");
    }

    /// Every message and answer a node sends, with each kind of entry and
    /// each error openraft answers, decodes in postcard (and JSON) to what
    /// was sent; an entry's bytes travel as bytes in postcard and as hex in
    /// JSON (what the log store and earlier versions read).
    #[test]
    fn every_raft_message_round_trips_in_both_encodings() {
        use crate::types::Command;
        use openraft::error::{Fatal, SnapshotMismatch};
        use openraft::{Entry, EntryPayload, SnapshotSegmentId};
        let nodes: BTreeMap<NodeId, BasicNode> =
            (1..=3).map(|i| (i, BasicNode::new(format!("127.0.0.1:700{i}")))).collect();
        let membership = Membership::new(vec![nodes.keys().copied().collect::<BTreeSet<_>>()], nodes);
        let flow = vec![0xAB; 834];
        let entries = vec![
            Entry::<TypeConfig> { log_id: log_id(2, 10), payload: EntryPayload::Blank },
            Entry {
                log_id: log_id(2, 11),
                payload: EntryPayload::Normal(Command::Notary { time: 1_700_000_000, entry: flow.clone() }),
            },
            Entry {
                log_id: log_id(2, 12),
                payload: EntryPayload::Normal(Command::Seal { height: 7, time: 1_700_000_001 }),
            },
            Entry {
                log_id: log_id(2, 13),
                payload: EntryPayload::Normal(Command::SignBlock { height: 7, signature: vec![0x1B; 65] }),
            },
            Entry { log_id: log_id(2, 14), payload: EntryPayload::Membership(membership.clone()) },
        ];
        let append = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(2, 1),
            prev_log_id: Some(log_id(2, 9)),
            entries,
            leader_commit: Some(log_id(2, 9)),
        };
        let vote = VoteRequest::<NodeId>::new(Vote::new(3, 2), Some(log_id(2, 14)));
        let snapshot = InstallSnapshotRequest::<TypeConfig> {
            vote: Vote::new_committed(2, 1),
            meta: SnapshotMeta {
                last_log_id: Some(log_id(2, 14)),
                last_membership: StoredMembership::new(Some(log_id(2, 14)), membership),
                snapshot_id: "2-14-1".into(),
            },
            offset: 262_144,
            data: (0..=255).collect(),
            done: true,
        };
        type Answer<T, E = openraft::error::Infallible> = Result<T, RaftError<NodeId, E>>;
        for enc in [Encoding::Json, Encoding::Postcard] {
            round_trip(enc, &append);
            round_trip(enc, &vote);
            round_trip(enc, &snapshot);
            for a in [
                AppendEntriesResponse::<NodeId>::Success,
                AppendEntriesResponse::PartialSuccess(Some(log_id(2, 12))),
                AppendEntriesResponse::Conflict,
                AppendEntriesResponse::HigherVote(Vote::new(4, 3)),
            ] {
                round_trip::<Answer<_>>(enc, &Ok(a));
            }
            round_trip::<Answer<AppendEntriesResponse<NodeId>>>(enc, &Err(RaftError::Fatal(Fatal::Stopped)));
            round_trip::<Answer<_>>(enc, &Ok(VoteResponse::new(Vote::new(3, 2), Some(log_id(2, 14)), true)));
            round_trip::<Answer<_>>(enc, &Ok(InstallSnapshotResponse { vote: Vote::new_committed(2, 1) }));
            let mismatch = SnapshotMismatch {
                expect: SnapshotSegmentId { id: "2-14-1".into(), offset: 0 },
                got: SnapshotSegmentId { id: "2-14-1".into(), offset: 262_144 },
            };
            round_trip::<Answer<InstallSnapshotResponse<NodeId>, InstallSnapshotError>>(
                enc,
                &Err(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(mismatch))),
            );
        }
        let json = Encoding::Json.encode(&append).unwrap();
        let binary = Encoding::Postcard.encode(&append).unwrap();
        assert!(String::from_utf8_lossy(&json).contains(&hex::encode(&flow)), "JSON keeps the entry in hex");
        assert!(binary.windows(flow.len()).any(|w| w == flow.as_slice()), "postcard carries the entry's bytes");
        assert!(
            binary.len() < flow.len() + 300 && json.len() > 2 * flow.len(),
            "{} and {} bytes",
            binary.len(),
            json.len()
        );
    }

    /// Bytes that are not a message, or not the message the encoding
    /// names, are refused with the reason, never a panic.
    #[test]
    fn undecodable_bytes_are_refused_with_the_reason() {
        let vote = VoteRequest::<NodeId>::new(Vote::new(3, 2), None);
        let binary = Encoding::Postcard.encode(&vote).unwrap();
        assert!(Encoding::Json.decode::<VoteRequest<NodeId>>(&binary).is_err());
        for cut in 0..binary.len() {
            assert!(Encoding::Postcard.decode::<VoteRequest<NodeId>>(&binary[..cut]).is_err(), "cut at {cut}");
        }
        assert!(Encoding::Postcard.decode::<AppendEntriesRequest<TypeConfig>>(&[0xFF; 64]).is_err());
        assert_eq!(Encoding::from_wire(1), Ok(Encoding::Postcard));
        assert!(Encoding::from_wire(2).unwrap_err().contains("raft message encoding 2 is unknown"));
    }
}
