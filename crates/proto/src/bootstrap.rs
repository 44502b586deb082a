//! Starting a new follower (a fresh gateway, an auditor) from a state a
//! strict majority of the node registry attests, instead of replaying the
//! history from the genesis (issue 13, item 3).
//!
//! [`bootstrap`], in order:
//! 1. asks every node for the notarized node-registry changes
//!    (`Notary.RegistryChain`) and verifies each answer from the genesis
//!    (box-core `attestation::verify_registry_chain`: every change's quorum
//!    certificate against the registry before it); the longest chain that
//!    verifies is used;
//! 2. fetches the latest state a node keeps (`Notary.GetState`) and takes
//!    it back with box-core's `checkpoint::decode` (its rows give the root
//!    its sealed header names; the header chains to the verifier);
//! 3. requires the state's node registry to be the verified registry in
//!    force at its height;
//! 4. asks every node of that registry (at the endpoints the genesis and
//!    the changes give, and every configured node) for its attestation of
//!    that height (`Notary.Attest`), and requires a strict majority of the
//!    registry to attest exactly the header's height, hash and state root
//!    (box-core `attestation::certify`).
//!
//! The caller then resumes its [`crate::BlockFollower`] from the returned
//! verifier and verifies every later block as usual.
//!
//! Refusals ([`BootstrapError::Refused`]) name what broke: a registry chain
//! that does not verify, a state that does not decode or whose registry is
//! not the verified one, too few attestations. A caller falls back to
//! replaying from the genesis then (and says so). [`BootstrapError::Unavailable`]
//! is transient: no node answered, or none keeps a state yet.
//!
//! What it does not do: protect against a majority of node accounts
//! signing a false root (outside the threat model), or prove that the
//! registry chain a node served is complete (a node that omits a change gives
//! a registry the attested state's own node rows contradict: refused in
//! step 3, and the other nodes' longer chains win in step 1).

use crate::client::{NodeClient, Timeouts};
use crate::pb;
use crate::pb::notary_client::NotaryClient;
use box_core::attestation::{
    Certified, RegistryChain, RegistryChange, SignedAttestation, StateAttestation, certify, statement_of,
    verify_registry_chain,
};
use box_core::block::BlockHeader;
use box_core::checkpoint::{Checkpoint, decode};
use box_core::crypto::signature_from_bytes;
use box_core::typed::{Domain, Genesis};
use box_core::{Address, B256};
use std::collections::BTreeSet;
use tonic::transport::Channel;

/// The largest kept state a follower takes (it holds the whole checkpoint
/// in memory to decode it): 16 GiB, about 500 million retired ids.
pub const MAX_STATE_BYTES: u64 = 16 << 30;

/// The largest message a follower takes from a node here: a piece of a
/// state (at most 4 MiB), a registry chain, an attestation.
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Why a follower did not start from a certified state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootstrapError {
    /// No node answered, or none keeps a state yet: try again later, or replay.
    #[error("no certified state to start from yet: {0}")]
    Unavailable(String),
    /// A rule broke (the reason says which): replay from the genesis instead.
    #[error("the certified state is refused: {0}")]
    Refused(String),
}

/// A state a strict majority of the verified registry attests.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    /// The verifier at the state's height, with its sealed header.
    pub checkpoint: Checkpoint,
    /// The attestation and who signed it.
    pub certified: Certified,
    /// The node the state came from.
    pub source: String,
}

fn timed<T>(msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.set_timeout(Timeouts::default().read);
    r
}

fn dial(client: &NodeClient, addr: &str) -> Result<NotaryClient<Channel>, String> {
    client
        .channels()
        .get(addr)
        .map(|c| NotaryClient::new(c).max_decoding_message_size(MAX_MESSAGE_BYTES))
        .map_err(|e| format!("{addr}: {e}"))
}

/// Step 1: the longest registry chain a node serves that verifies from
/// `genesis`.
pub async fn registry_chain(client: &NodeClient, genesis: &Genesis) -> Result<RegistryChain, BootstrapError> {
    let mut best: Option<(usize, RegistryChain)> = None;
    let (mut unreachable, mut refused) = (Vec::new(), Vec::new());
    for node in client.nodes() {
        let answer = match dial(client, &node.addr) {
            Ok(mut c) => c.registry_chain(timed(pb::RegistryChainQuery {})).await.map_err(|s| s.message().to_owned()),
            Err(e) => Err(e),
        };
        let info = match answer {
            Ok(r) => r.into_inner(),
            Err(e) => {
                unreachable.push(format!("{}: {e}", node.addr));
                continue;
            }
        };
        let changes: Vec<RegistryChange> = info
            .changes
            .into_iter()
            .map(|c| RegistryChange { height: c.height, subject: c.subject, certificate: c.certificate })
            .collect();
        match verify_registry_chain(genesis, &changes) {
            Ok(chain) if best.as_ref().is_none_or(|(n, _)| changes.len() > *n) => best = Some((changes.len(), chain)),
            Ok(_) => {}
            Err(e) => refused.push(format!("{}: {e}", node.addr)),
        }
    }
    match best {
        Some((_, chain)) => Ok(chain),
        None if !refused.is_empty() => Err(BootstrapError::Refused(format!(
            "no node serves a registry chain that verifies ({})",
            refused.join("; ")
        ))),
        None => {
            Err(BootstrapError::Unavailable(format!("no node served its registry chain ({})", unreachable.join("; "))))
        }
    }
}

/// Step 2's fetch: the latest kept state of the first node that has one:
/// (node, height, checkpoint bytes). Not verified.
pub async fn fetch_state(client: &NodeClient) -> Result<(String, u64, Vec<u8>), BootstrapError> {
    fetch_state_in_pieces(client, 0).await.map(|(node, height, bytes, _)| (node, height, bytes))
}

/// [`fetch_state`], asking for pieces of at most `piece_bytes` (0: the
/// node's default, 4 MiB); also how many pieces made it. Each piece is
/// awaited for at most the client's read timeout, so a large state is not
/// cut off by a deadline for the whole of it, and a node that stalls is
/// left for the next. A node whose pieces do not fit together
/// ([`StateAssembly`]) is passed over, the reason kept.
pub async fn fetch_state_in_pieces(
    client: &NodeClient,
    piece_bytes: u32,
) -> Result<(String, u64, Vec<u8>, usize), BootstrapError> {
    let wait = Timeouts::default().read;
    let mut reasons = Vec::new();
    for node in client.nodes() {
        let fetched = async {
            let mut c = dial(client, &node.addr)?;
            let query = pb::StateQuery { height: 0, piece_bytes };
            let mut stream = tokio::time::timeout(wait, c.get_state(query))
                .await
                .map_err(|_| format!("no answer within {} s", wait.as_secs()))?
                .map_err(|s| s.message().to_owned())?
                .into_inner();
            let mut state = StateAssembly::default();
            loop {
                let piece = tokio::time::timeout(wait, stream.message())
                    .await
                    .map_err(|_| format!("no piece within {} s after {}", wait.as_secs(), state.received()))?
                    .map_err(|s| s.message().to_owned())?;
                match piece {
                    Some(p) => state.push(p)?,
                    None => return state.finish(),
                }
            }
        };
        match fetched.await {
            Ok((height, bytes, pieces)) => return Ok((node.addr.clone(), height, bytes, pieces)),
            Err(e) => reasons.push(format!("{}: {e}", node.addr)),
        }
    }
    Err(BootstrapError::Unavailable(format!("no node served a kept state ({})", reasons.join("; "))))
}

/// A kept state put back together from the pieces `Notary.GetState` sends,
/// each checked against the first: the same height and total size, its
/// offset where the bytes so far end, nothing past the total, the total
/// at most [`MAX_STATE_BYTES`].
#[derive(Debug, Default)]
pub struct StateAssembly {
    /// The height and total size the first piece named.
    first: Option<(u64, u64)>,
    bytes: Vec<u8>,
    pieces: usize,
}

impl StateAssembly {
    /// Takes the next piece.
    ///
    /// # Errors
    /// Why it does not fit, in words naming the offsets and sizes.
    pub fn push(&mut self, p: pb::StateInfo) -> Result<(), String> {
        let (height, total) = *self.first.get_or_insert((p.height, p.total_bytes));
        if total > MAX_STATE_BYTES {
            return Err(format!(
                "the state at block {height} is {total} bytes, more than the {MAX_STATE_BYTES} a follower takes"
            ));
        }
        if (p.height, p.total_bytes) != (height, total) {
            return Err(format!(
                "a piece of the state names block {} and {} bytes after one that named block {height} and {total} bytes",
                p.height, p.total_bytes
            ));
        }
        let have = self.bytes.len() as u64;
        if p.offset != have {
            return Err(format!("a piece of the state starts at byte {} where {have} bytes were received", p.offset));
        }
        if have + p.piece.len() as u64 > total {
            return Err(format!("the pieces of the state run past the {total} bytes it announced"));
        }
        self.bytes.extend_from_slice(&p.piece);
        self.pieces += 1;
        Ok(())
    }

    /// Bytes received so far, in words.
    fn received(&self) -> String {
        match self.first {
            Some((_, total)) => format!("{} of {total} bytes", self.bytes.len()),
            None => "no piece".to_owned(),
        }
    }

    /// The height, the checkpoint bytes and the number of pieces.
    ///
    /// # Errors
    /// No piece came, or fewer bytes than the total announced.
    pub fn finish(self) -> Result<(u64, Vec<u8>, usize), String> {
        let Some((height, total)) = self.first else {
            return Err("the state ended before its first piece".into());
        };
        if self.bytes.len() as u64 != total {
            return Err(format!("the state at block {height} ended after {} of its {total} bytes", self.bytes.len()));
        }
        Ok((height, self.bytes, self.pieces))
    }
}

/// Every answer to `Notary.Attest` at `height` from the nodes of `registry`
/// (at their registered endpoints) and the configured ones.
pub async fn attestations(
    client: &NodeClient,
    chain: &RegistryChain,
    height: u64,
) -> (Vec<SignedAttestation>, Vec<String>) {
    let mut addrs: BTreeSet<String> = client.nodes().iter().map(|n| n.addr.clone()).collect();
    let accounts: Vec<Address> = chain.at(height).accounts().copied().collect();
    addrs.extend(accounts.iter().filter_map(|a| chain.endpoint(a)).map(str::to_owned));
    let mut tasks = tokio::task::JoinSet::new();
    for addr in addrs {
        let c = dial(client, &addr);
        tasks.spawn(async move {
            let mut c = c?;
            let a =
                c.attest(timed(pb::AttestQuery { height })).await.map_err(|s| format!("{addr}: {}", s.message()))?;
            attestation_of(a.into_inner()).map_err(|e| format!("{addr}: {e}"))
        });
    }
    let (mut got, mut failed) = (Vec::new(), Vec::new());
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(a)) => got.push(a),
            Ok(Err(e)) => failed.push(e),
            Err(e) => failed.push(e.to_string()),
        }
    }
    (got, failed)
}

fn b256(bytes: &[u8], what: &str) -> Result<B256, String> {
    B256::try_from(bytes).map_err(|_| format!("its {what} is {} bytes, not 32", bytes.len()))
}

fn attestation_of(a: pb::AttestationInfo) -> Result<SignedAttestation, String> {
    Ok(SignedAttestation {
        attestation: StateAttestation {
            height: a.height,
            blockHash: b256(&a.block_hash, "block hash")?,
            stateRoot: b256(&a.state_root, "state root")?,
        },
        signature: signature_from_bytes(&a.signature).map_err(|e| format!("its signature: {e}"))?,
    })
}

/// Steps 2–4 for `bytes` (a checkpoint some node served): taken back,
/// its registry compared with `chain`'s, its header certified by the
/// attestations of a strict majority.
pub async fn certify_state(
    client: &NodeClient,
    genesis: &Genesis,
    chain: &RegistryChain,
    source: &str,
    bytes: &[u8],
) -> Result<Bootstrapped, BootstrapError> {
    let refused = BootstrapError::Refused;
    let checkpoint = decode(genesis, bytes).map_err(|e| refused(format!("the state {source} served: {e}")))?;
    let Some(header) = checkpoint.header.clone() else {
        return Err(refused(format!("the state {source} served is the genesis state, not a sealed block's")));
    };
    let height = header.header.height;
    let registry = chain.at(height);
    if checkpoint.verifier.state().registry() != registry {
        return Err(refused(format!(
            "the node registry in the state {source} served for block {height} is not the one the verified \
             registry chain gives for that height ({} accounts against {})",
            checkpoint.verifier.state().registry().len(),
            registry.len()
        )));
    }
    let certified = certify_header(client, &genesis.domain(), chain, &header.header)
        .await
        .map_err(|e| refused(format!("block {height} from {source}: {e}")))?;
    Ok(Bootstrapped { checkpoint, certified, source: source.to_owned() })
}

/// Whether a strict majority of the registry `chain` gives for the
/// header's height attests `header` (its height, EIP-712 block hash and
/// state root; box-core `attestation::certify`), asking every node of that
/// registry and every configured one (`Notary.Attest`).
///
/// How a follower trusts a sealed header it did not verify itself (one
/// below the height it bootstrapped at, say) and what it proves (a
/// transfer's row against the header's `stateHash`).
///
/// # Errors
/// Why it is not certified: too few attest it (the reason counts them and
/// names the nodes that did not answer), or they attest another block.
pub async fn certify_header(
    client: &NodeClient,
    domain: &Domain,
    chain: &RegistryChain,
    header: &BlockHeader,
) -> Result<Certified, String> {
    let statement = statement_of(domain, header);
    let (got, failed) = attestations(client, chain, header.height).await;
    certify(domain, chain.at(header.height), &statement, &got).map_err(|e| {
        let mut why = e.to_string();
        if !failed.is_empty() {
            why.push_str(&format!("; no attestation from {}", failed.join("; ")));
        }
        why
    })
}

/// The whole of it: steps 1 to 4 (module doc).
pub async fn bootstrap(client: &NodeClient, genesis: &Genesis) -> Result<Bootstrapped, BootstrapError> {
    let chain = registry_chain(client, genesis).await?;
    let (source, _, bytes) = fetch_state(client).await?;
    certify_state(client, genesis, &chain, &source, &bytes).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn piece(height: u64, total: u64, offset: u64, bytes: &[u8]) -> pb::StateInfo {
        pb::StateInfo { height, piece: bytes.to_vec(), total_bytes: total, offset }
    }

    fn assembled(pieces: Vec<pb::StateInfo>) -> Result<(u64, Vec<u8>, usize), String> {
        let mut a = StateAssembly::default();
        for p in pieces {
            a.push(p)?;
        }
        a.finish()
    }

    #[test]
    fn pieces_in_order_give_the_checkpoint_and_any_that_do_not_fit_are_refused_with_the_reason() {
        let ok = assembled(vec![piece(7, 5, 0, b"ab"), piece(7, 5, 2, b"cd"), piece(7, 5, 4, b"e")]).unwrap();
        assert_eq!(ok, (7, b"abcde".to_vec(), 3));
        assert_eq!(assembled(vec![piece(7, 0, 0, b"")]).unwrap(), (7, Vec::new(), 1));
        let refused = |pieces, why: &str| {
            let e = assembled(pieces).unwrap_err();
            assert!(e.contains(why), "{e}");
        };
        refused(vec![], "ended before its first piece");
        refused(vec![piece(7, 5, 0, b"ab"), piece(7, 5, 3, b"de")], "starts at byte 3 where 2 bytes were received");
        refused(vec![piece(7, 5, 0, b"ab"), piece(7, 5, 0, b"ab")], "starts at byte 0 where 2 bytes were received");
        refused(
            vec![piece(7, 5, 0, b"ab"), piece(8, 5, 2, b"cde")],
            "names block 8 and 5 bytes after one that named block 7",
        );
        refused(vec![piece(7, 5, 0, b"ab"), piece(7, 6, 2, b"cde")], "names block 7 and 6 bytes");
        refused(vec![piece(7, 5, 0, b"abc"), piece(7, 5, 3, b"def")], "run past the 5 bytes it announced");
        refused(vec![piece(7, 5, 0, b"abc")], "ended after 3 of its 5 bytes");
        refused(vec![piece(7, MAX_STATE_BYTES + 1, 0, b"a")], "more than the 17179869184 a follower takes");
    }
}
