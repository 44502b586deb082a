#![doc = include_str!("../README.md")]

pub mod bootstrap;
pub mod client;
pub mod crosscheck;
pub mod follower;
pub mod genesis;
pub mod reply;
pub mod tls;
pub mod witness;

pub use bootstrap::{BootstrapError, Bootstrapped, bootstrap};
pub use client::{Node, NodeClient, NodeError, NodeView, ProvenTransfer, Timeouts};
pub use follower::{BlockFollower, BoxFuture, Followed, Refusal, RetiredIndex, VerifierCell};
pub use genesis::{GenesisMismatch, check_genesis};
pub use reply::{Outcome, ProposeReply, SubjectStatus, SubjectView, SubmitOutcome, SubmitReply};
pub use tls::{Channels, TlsMaterial};
pub use witness::Witnesses;

/// Generated gRPC code for `proto/box.proto`: messages, the `Notary` and
/// `Raft` clients and servers. Clients other than box-node's own peers use
/// [`NodeClient`] and [`BlockFollower`] instead of the generated client.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod pb {
    tonic::include_proto!("boxchain.v1");
}

/// A server stream of `T`, as the generated servers' streaming calls return it.
pub type Feed<T> = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, tonic::Status>> + Send + 'static>>;
