//! # box-chain
//!
//! `box-node`: BOX's private chain (私链) and its companion (伴生程序). A cluster
//! of 2n+1 authority nodes replicates a log with openraft over gRPC with mutual
//! TLS; each node applies it to box-core's notary state machine, and each
//! node's companion verifies every subject independently and votes with its
//! node account key. A strict majority of registered accounts notarizes.
//! Committed entries are sealed into hash-chained blocks signed by the leader.
//!
//! ```text
//!   gateway / signer / auditor ──mTLS gRPC (Notary)──▶ box-node ◀──raft (mTLS)──▶ box-node …
//!                                                        │ state machine: box-core NotaryState + blocks (redb)
//!                                                        └ companion: verdict → signed NodeVote → log
//! ```

// openraft's storage traits fix `StorageError` (224 bytes) as the error type;
// the helpers that feed those traits return it as is.
#![allow(clippy::result_large_err)]

pub mod access;
pub mod api;
pub mod backfill;
pub mod companion;
pub mod config;
pub mod crosscheck;
pub mod fault;
pub mod followers;
pub mod liveness;
pub mod log_store;
pub mod network;
pub mod node;
pub mod peers;
pub mod proposer;
pub mod sealer;
pub mod state_machine;
pub mod status;
pub mod types;
