//! The executor's three boundaries, each a narrow trait with the guarantee
//! an implementation must give, an in-memory implementation ([`memory`]) and
//! one conformance suite ([`conformance`]) that the real implementation
//! passes too:
//!
//! | trait | real | in memory | suite |
//! |---|---|---|---|
//! | [`EthereumRpc`] | [`box_eth::Eth`] (tests/ports.rs, on anvil) | [`memory::MemoryEthereum`] | [`conformance::ethereum_rpc`] |
//! | [`ExecutionStore`] | [`crate::store::Store`] in redb, off the async executor | [`memory::MemoryStore`] | [`conformance::execution_store`] |
//! | [`NotaryLink`] | [`crate::link::Link`] (tests/ports.rs, on a box-node cluster) | [`memory::MemoryLink`] | [`conformance::notary_link`] |

pub mod conformance;
pub mod memory;

use crate::link::Link;
use crate::store::{Execution, Store, StoreError};
use box_core::B256;
use box_core::encoding::Canonical;
use box_core::notary::Subject;
use box_core::typed::{Signed, SignerReport};
use box_eth::{Address, Call, Eth, EthError, Fees, Receipt, U256};
use box_proto::NodeError;
use std::future::Future;
use std::sync::Arc;

/// The public chain, as the executor needs it.
///
/// Guarantees an implementation must give:
/// - every answer is the node's view at the time of the call; nothing is
///   cached, nothing retried: a failure is returned, classified
///   ([`EthError::is_transient`]: try again; [`EthError::Node`]: the node
///   refused, e.g. a call that reverts or a transaction it will not take);
/// - [`send_raw`](Self::send_raw) of bytes the node already holds in its
///   pool succeeds (re-broadcasting is idempotent while pending);
/// - [`pending_nonce`](Self::pending_nonce) counts the sender's pending
///   transactions; a replacement on the same nonce with both fees raised by
///   at least 10 % is taken, and at most one transaction per nonce is ever
///   mined;
/// - [`receipt`](Self::receipt) is `None` until the transaction is in a
///   block, and may become `None` again after a reorganisation; its
///   `block_hash` is [`block_hash`](Self::block_hash) at its height while
///   that block is canonical.
pub trait EthereumRpc: Send + Sync {
    /// `eth_chainId`.
    fn chain_id(&self) -> impl Future<Output = Result<u64, EthError>> + Send;
    /// The latest block number.
    fn block_number(&self) -> impl Future<Output = Result<u64, EthError>> + Send;
    /// The next nonce of `who`, counting its pending transactions.
    fn pending_nonce(&self, who: Address) -> impl Future<Output = Result<u64, EthError>> + Send;
    /// ETH balance (wei).
    fn balance(&self, who: Address) -> impl Future<Output = Result<U256, EthError>> + Send;
    /// ERC-20 balance (base units).
    fn token_balance(&self, token: Address, who: Address) -> impl Future<Output = Result<U256, EthError>> + Send;
    /// `token.decimals()`; a token without it (a reverting or empty
    /// answer) is an error that is not transient.
    fn token_decimals(&self, token: Address) -> impl Future<Output = Result<u8, EthError>> + Send;
    /// `token.symbol()`.
    fn token_symbol(&self, token: Address) -> impl Future<Output = Result<String, EthError>> + Send;
    /// A fee suggestion.
    fn fees(&self) -> impl Future<Output = Result<Fees, EthError>> + Send;
    /// The next block's base fee per gas.
    fn base_fee(&self) -> impl Future<Output = Result<u128, EthError>> + Send;
    /// Whether `who` has code (a contract) at the latest block.
    fn has_code(&self, who: Address) -> impl Future<Output = Result<bool, EthError>> + Send;
    /// Gas for `call` from `from`; a call that reverts is [`EthError::Node`].
    fn estimate_gas(&self, from: Address, call: &Call) -> impl Future<Output = Result<u64, EthError>> + Send;
    /// Broadcasts EIP-2718 bytes.
    fn send_raw(&self, raw: &[u8]) -> impl Future<Output = Result<(), EthError>> + Send;
    /// The canonical block hash at `number` now (`None` above the head).
    fn block_hash(&self, number: u64) -> impl Future<Output = Result<Option<B256>, EthError>> + Send;
    /// The receipt of `tx`, once in a block.
    fn receipt(&self, tx: B256) -> impl Future<Output = Result<Option<Receipt>, EthError>> + Send;
}

impl EthereumRpc for Eth {
    async fn chain_id(&self) -> Result<u64, EthError> {
        Eth::chain_id(self).await
    }
    async fn block_number(&self) -> Result<u64, EthError> {
        Eth::block_number(self).await
    }
    async fn pending_nonce(&self, who: Address) -> Result<u64, EthError> {
        Eth::pending_nonce(self, who).await
    }
    async fn balance(&self, who: Address) -> Result<U256, EthError> {
        Eth::balance(self, who).await
    }
    async fn token_balance(&self, token: Address, who: Address) -> Result<U256, EthError> {
        Eth::token_balance(self, token, who).await
    }
    async fn token_decimals(&self, token: Address) -> Result<u8, EthError> {
        Eth::token_decimals(self, token).await
    }
    async fn token_symbol(&self, token: Address) -> Result<String, EthError> {
        Eth::token_symbol(self, token).await
    }
    async fn fees(&self) -> Result<Fees, EthError> {
        Eth::fees(self).await
    }
    async fn base_fee(&self) -> Result<u128, EthError> {
        Eth::base_fee(self).await
    }
    async fn has_code(&self, who: Address) -> Result<bool, EthError> {
        Eth::has_code(self, who).await
    }
    async fn estimate_gas(&self, from: Address, call: &Call) -> Result<u64, EthError> {
        Eth::estimate_gas(self, from, call).await
    }
    async fn send_raw(&self, raw: &[u8]) -> Result<(), EthError> {
        Eth::send_raw(self, raw).await
    }
    async fn block_hash(&self, number: u64) -> Result<Option<B256>, EthError> {
        Eth::block_hash(self, number).await
    }
    async fn receipt(&self, tx: B256) -> Result<Option<Receipt>, EthError> {
        Eth::receipt(self, tx).await
    }
}

/// The signer's durable record of executions.
///
/// Guarantees an implementation must give:
/// - **durable before it returns**: once [`insert`](Self::insert) returned
///   `true` or [`update`](Self::update) returned, the record survives a
///   crash of the process at any later instruction;
/// - **exactly once**: `insert` refuses (returns `false`, writes nothing) a
///   record for a subject that has one, or one whose nonce another record
///   owns; the check and the write are one atomic step;
/// - [`executions`](Self::executions) returns every record last written.
///
/// It does not order or validate records beyond that: the executor decides.
pub trait ExecutionStore: Send + Sync {
    /// Every execution, by subject.
    fn executions(&self) -> impl Future<Output = Result<Vec<(B256, Execution)>, StoreError>> + Send;
    /// Records a new execution (see the trait's guarantees).
    fn insert(&self, subject: B256, execution: Execution) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Replaces the record of `subject` (same nonce).
    fn update(&self, subject: B256, execution: Execution) -> impl Future<Output = Result<(), StoreError>> + Send;
}

// redb blocks: every call runs on tokio's blocking pool, off the async workers.
impl ExecutionStore for Arc<Store> {
    async fn executions(&self) -> Result<Vec<(B256, Execution)>, StoreError> {
        let s = self.clone();
        tokio::task::spawn_blocking(move || Store::executions(&s)).await.map_err(joined)?
    }
    async fn insert(&self, subject: B256, execution: Execution) -> Result<bool, StoreError> {
        let s = self.clone();
        tokio::task::spawn_blocking(move || s.insert_execution(&subject, &execution)).await.map_err(joined)?
    }
    async fn update(&self, subject: B256, execution: Execution) -> Result<(), StoreError> {
        let s = self.clone();
        tokio::task::spawn_blocking(move || s.update_execution(&subject, &execution)).await.map_err(joined)?
    }
}

fn joined(e: tokio::task::JoinError) -> StoreError {
    StoreError::new(format!("the store task failed: {e}"))
}

/// Why the chain did not take a subject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// A node refused it by rule (e.g. not signed by the signer): sending
    /// the same bytes again will not help.
    #[error("refused by the chain: {0}")]
    Refused(String),
    /// No node took it (unreachable, timed out, no leader): try again.
    #[error("no node took it yet: {0}")]
    Unavailable(String),
}

/// The chain, as the executor needs it: a way to submit the signer's
/// signed reports.
///
/// Guarantees an implementation must give:
/// - `Ok` means a node took the subject into the log, or already had it (a
///   duplicate is not an error): submitting is idempotent;
/// - a subject that breaks an admission rule is [`LinkError::Refused`],
///   never `Ok`; a transient failure is [`LinkError::Unavailable`].
///
/// It does not promise the subject is notarized: the executor re-sends
/// every report until the verified chain reflects it.
pub trait NotaryLink: Send + Sync {
    /// Submits a signed report.
    fn submit_report(&self, report: Signed<SignerReport>) -> impl Future<Output = Result<(), LinkError>> + Send;
}

impl From<NodeError> for LinkError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::Refused(reason) => Self::Refused(reason),
            // A node that does not have something yet is no refusal by rule.
            NodeError::Unavailable(reason) | NodeError::NotFound(reason) => Self::Unavailable(reason),
        }
    }
}

impl NotaryLink for Link {
    async fn submit_report(&self, report: Signed<SignerReport>) -> Result<(), LinkError> {
        // Submitted or a duplicate: either way the chain has it. A refusal by
        // rule is box-proto's `NodeError::Refused`.
        self.submit(Subject::SignerReport(report).encode()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::conformance;
    use super::memory::{MemoryEthereum, MemoryLink, MemoryStore};
    use crate::store::Store;
    use box_core::B256;
    use box_core::crypto::SecretKey;
    use box_core::ids::Timestamp;
    use box_core::notary::NotaryState;
    use box_core::typed::{Genesis, GenesisNode};
    use std::sync::Arc;

    #[tokio::test]
    async fn the_memory_store_passes_the_execution_store_suite() {
        conformance::execution_store(MemoryStore::default(), |s| s).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_redb_store_passes_the_execution_store_suite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signer.redb");
        let open = |p: &std::path::Path| Arc::new(Store::open(p).unwrap());
        conformance::execution_store(open(&path), |s| {
            drop(s);
            open(&path)
        })
        .await;
    }

    #[tokio::test]
    async fn the_memory_ethereum_passes_the_ethereum_rpc_suite() {
        let eth = MemoryEthereum::new(31337);
        conformance::ethereum_rpc(&eth, &eth).await;
    }

    #[tokio::test]
    async fn the_memory_link_passes_the_notary_link_suite() {
        let nodes: Vec<SecretKey> = (0..3).map(|i| SecretKey::from_label_unchecked(&format!("n{i}"))).collect();
        let signer = SecretKey::from_label_unchecked("signer");
        let genesis = Genesis {
            deploymentId: B256::repeat_byte(7),
            chainId: 31337,
            keyHolders: (0..3).map(|i| SecretKey::from_label_unchecked(&format!("h{i}")).address()).collect(),
            nodes: nodes
                .iter()
                .zip(1u64..)
                .map(|(k, id)| GenesisNode { nodeId: id, endpoint: format!("127.0.0.1:{id}"), account: k.address() })
                .collect(),
            signer: signer.address(),
            assets: vec![],
            time: 1,
        };
        let domain = genesis.domain();
        let link = MemoryLink::new(NotaryState::new(genesis).unwrap(), nodes, Timestamp(1));
        let stranger = SecretKey::from_label_unchecked("stranger");
        conformance::notary_link(&link, &domain, &signer, &stranger, || async { Some(link.state()) }).await;
    }
}
