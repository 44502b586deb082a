//! A fresh gateway starts from a majority-attested state instead of
//! replaying the history from the genesis (issue 13, item 3), when its
//! config says `[chain] bootstrap = true`.
//!
//! With an empty store, [`load`] runs box-proto's [`box_proto::bootstrap`]:
//! the node-registry chain verified from the genesis, the latest state a
//! node keeps, and a strict majority of that registry attesting its height,
//! block hash and state root. It then fetches the attested block itself
//! from the nodes (its sealed header must be the attested one) and writes
//! that block and the verified state in one transaction
//! ([`Store::put_bootstrap`]): the store is either still fresh or holds a
//! complete starting point, never half of one. From there the follower
//! verifies every later block as usual, and a restart resumes from the
//! gateway's own persisted state ([`crate::resume`]) like any gateway.
//!
//! A refused state (a minority, another root, a forged or edited state, a
//! registry chain that does not verify) or no answer (no node keeps a state
//! yet, none reachable) is logged with the reason, nothing is written, and
//! the gateway replays from the genesis (block 1), as without the option.
//! A store that holds chain data already ignores the option, unless it
//! bootstrapped before and its persisted state was discarded: it holds no
//! blocks before its bootstrap to replay, so it bootstraps again ([`again`]).
//!
//! What such a gateway does not have, and how each reader is served:
//! - blocks 1 to H-1 (H: the attested height): the audit export refuses a
//!   range that starts before H ([`check_export`]: "export from an auditor's
//!   replica or a node") instead of a silently partial history; a replay of
//!   the stored blocks, which would need them, is refused with what to do
//!   ([`load`]);
//! - the events of those blocks: what is still in the attested state (live
//!   transfers, flows, subjects not yet retired, the policy, the registry)
//!   is read from the replica as usual; final statuses recorded from events
//!   ([`crate::finals`]) exist only for what finished after H. A fresh
//!   gateway stores no transfer it did not receive itself, so it has no
//!   row of a transfer that finished before H to fill. A gateway that
//!   bootstraps **again** may: a transfer of its own that finished and
//!   retired while it was down. [`crate::backfill`] records it from a
//!   node's proof whose header a strict majority of the registry attests
//!   (the block is below H, not held here). Other transfers that retired
//!   before H are read, with their proofs, from the nodes
//!   (`Notary.GetTransferProof`), retired subjects with `Notary.GetSubject`.

use crate::error::{ApiError, ApiResult};
use crate::follower::SharedReplica;
use crate::resume::Resumed;
use crate::store::Store;
use box_core::block::Block;
use box_core::checkpoint;
use box_core::encoding::Canonical;
use box_core::typed::Genesis;
use box_proto::NodeClient;

/// Starts the replica: from a majority-attested state when `enabled` and
/// the store is fresh and the state is certified; otherwise from the
/// persisted state and the stored blocks ([`crate::resume`],
/// [`crate::follower::replay`]). A gateway that bootstrapped before (its
/// first stored block above 1) and whose persisted state is unusable
/// bootstraps again when `enabled` ([`again`]); without the option its
/// start is refused, saying what to do. Returns the height of the state it
/// started from (the follower persists what it verifies after it) and
/// whether that state is in an earlier form ([`Resumed`]).
pub async fn load(
    store: &Store,
    replica: &SharedReplica,
    genesis: &Genesis,
    chain: &NodeClient,
    enabled: bool,
) -> Result<Resumed, String> {
    // A bootstrap writes its state in the current form.
    let booted = |height| Resumed { height, outdated: false };
    if enabled {
        if store.holds_no_chain().await.map_err(|e| e.to_string())? {
            if let Some(height) = start(store, replica, genesis, chain, Start::Fresh).await {
                return Ok(booted(height));
            }
        } else {
            tracing::info!(
                "the store holds chain data already: `[chain] bootstrap` applies to an empty store, or to one that \
                 bootstrapped and lost its persisted state"
            );
        }
    }
    let resumed = crate::resume::resume(store, replica, genesis).await?;
    if resumed.height == 0
        && let Some(first) = store.first_block().await.map_err(|e| e.to_string())?
        && first > 1
    {
        let first = first as u64;
        if !enabled {
            return Err(format!(
                "this gateway bootstrapped at height {first} and does not hold blocks 1 to {}, so it cannot replay \
                 its stored blocks without its persisted verified state (see the log for why it was discarded); \
                 set `bootstrap = true` under `[chain]` in its config to bootstrap again (its people, \
                 applications and transfers are kept)",
                first - 1
            ));
        }
        return Ok(booted(again(store, replica, genesis, chain, first).await));
    }
    crate::follower::replay(store, replica, resumed.height).await?;
    Ok(resumed)
}

/// How a bootstrap starts: a fresh store, or one that bootstrapped before
/// at height `first` and lost its persisted state.
#[derive(Clone, Copy)]
enum Start {
    Fresh,
    Again { first: u64 },
}

/// Bootstraps again a gateway that bootstrapped at `first` and whose
/// persisted state is unusable: it holds no blocks before `first`, so it
/// cannot replay. The chain data it holds (its stored blocks, its persisted
/// state, its retired-id index) is replaced by a newly attested block and
/// state in one transaction; its people, applications, approvals, transfers
/// and recorded final statuses stay. Until a state is attested (no node
/// keeps one, none reachable, no majority), it logs `waiting: …` with the
/// reason and tries again, backing off to 30 s: nothing is served from a
/// state it could not verify. Returns the attested height.
async fn again(store: &Store, replica: &SharedReplica, genesis: &Genesis, chain: &NodeClient, first: u64) -> u64 {
    tracing::warn!(
        "this gateway bootstrapped at height {first} and its persisted verified state is unusable (see above); \
         bootstrapping again from the latest state a strict majority of the node registry attests"
    );
    let mut backoff = std::time::Duration::from_secs(1);
    loop {
        if let Some(height) = start(store, replica, genesis, chain, Start::Again { first }).await {
            return height;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
    }
}

/// Bootstraps the store and the replica; `None` (logged with the reason,
/// nothing written) when the state is not used.
async fn start(
    store: &Store,
    replica: &SharedReplica,
    genesis: &Genesis,
    chain: &NodeClient,
    how: Start,
) -> Option<u64> {
    let fallback = match how {
        Start::Fresh => "replaying from the genesis (block 1) instead",
        Start::Again { .. } => "waiting: a state to bootstrap again from; trying again",
    };
    let boot = match box_proto::bootstrap(chain, genesis).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("bootstrap: {e}; {fallback}");
            return None;
        }
    };
    // `bootstrap` certifies a sealed header; a state without one is refused there.
    let header = boot.checkpoint.header.clone()?;
    let height = header.header.height;
    // The attested block itself: a restart checks the persisted state
    // against the stored block at its height (crate::resume).
    let block = match chain.block(height).await {
        Ok(Some((bytes, _))) => Block::decode(&bytes).map_err(|e| e.to_string()),
        Ok(None) => Err("no node serves it".to_owned()),
        Err(e) => Err(e.to_string()),
    };
    let block = match block {
        Ok(b) if b.sealed_header() == header => b,
        Ok(_) => {
            tracing::warn!("bootstrap: the block {height} a node served is not the attested one; {fallback}");
            return None;
        }
        Err(e) => {
            tracing::warn!("bootstrap: cannot fetch the attested block {height}: {e}; {fallback}");
            return None;
        }
    };
    let verifier = boot.checkpoint.verifier;
    let root = verifier.state().state_root().0.to_string();
    let encoded = tokio::task::spawn_blocking({
        let verifier = verifier.clone();
        move || hex::encode(checkpoint::encode(&verifier, Some(&header)))
    })
    .await;
    let state = match encoded {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("bootstrap: encoding the state failed: {e}; {fallback}");
            return None;
        }
    };
    let body = format!("0x{}", hex::encode(block.encode()));
    let replace = matches!(how, Start::Again { .. });
    if let Err(e) = store.put_bootstrap(height as i64, &body, &root, &state, replace).await {
        tracing::warn!("bootstrap: cannot store the attested state at height {height}: {e}; {fallback}");
        return None;
    }
    replica.resume(verifier);
    let signers: Vec<String> = boot.certified.signers().iter().map(|a| a.to_checksum(None)).collect();
    let again = match how {
        Start::Fresh => String::new(),
        Start::Again { first } => format!(" (again: the blocks from {first} this store held before are dropped)"),
    };
    tracing::info!(
        height,
        %root,
        source = %boot.source,
        attested_by = %signers.join(","),
        "bootstrapped at height {height} from a state a strict majority of the node registry attests; \
         blocks 1 to {} are not stored here (the audit export refuses them){again}",
        height.saturating_sub(1)
    );
    // Final statuses of what finished and retired before `height` are not
    // recorded here: a fresh gateway holds no transfer of its own from
    // before it (see the module docs); the nodes serve them with proofs.
    Some(height)
}

/// Refuses an audit export from `from` that a bootstrapped gateway cannot
/// serve whole: it holds the blocks from its bootstrap height only. One
/// primary-key lookup.
pub async fn check_export(store: &Store, from: u64) -> ApiResult<()> {
    match store.first_block().await? {
        Some(first) if first > 1 && from < first as u64 => Err(ApiError::conflict(
            "history_not_held",
            format!(
                "this gateway bootstrapped at height {first} from a state a majority of the nodes attest and does \
                 not hold blocks 1 to {}; export the history from an auditor's replica or a node (from={first} \
                 onward is served here)",
                first - 1
            ),
        )),
        _ => Ok(()),
    }
}
