//! Resume instead of replay (issue 13, item 3): the signer persists the
//! notary state it verified and, restarted, resumes from it and verifies
//! only the blocks after it (a stop signal saves the verified tip first); a
//! corrupted persisted state is discarded with
//! the reason and the chain is verified from the genesis. Real processes: a
//! box-node, anvil and the box-signer binary, stopped and started.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::Address;
use box_core::checkpoint;
use box_core::encoding::Canonical;
use box_core::notary::Subject;
use box_signer::store::Store;
use box_testkit::anvil::Anvil;
use box_testkit::{Cluster, eventually};
use common::*;
use std::time::Duration;

/// The number after `prefix` in the first line of `text` that has it.
fn number_after(text: &str, prefix: &str) -> Option<u64> {
    let tail = text.lines().find_map(|l| l.split(prefix).nth(1))?;
    tail.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Waits for `prefix` followed by a number in what the signer wrote after
/// byte `from` (this boot's output).
async fn boot_line(s: &SignerProc, from: usize, prefix: &str) -> u64 {
    eventually(prefix, Duration::from_secs(90), || async { number_after(&s.output()[from..], prefix) }).await
}

/// Submits a flow and waits until the block with its decision is sealed:
/// one block or more per call. Returns that block's height.
async fn more_blocks(c: &Cluster, p: &People, token: u8) -> u64 {
    let id = c.submit(&Subject::Flow(p.flow(Address::repeat_byte(token))).encode()).await;
    eventually("the decision sealed", Duration::from_secs(60), || async {
        c.subject(1, &id).await.filter(|v| v.height > 0)
    })
    .await
    .height
}

/// The heights of every `verified block H` line in `text`.
fn verified_blocks(text: &str) -> Vec<u64> {
    text.lines().filter_map(|l| number_after(l, "verified block ")).collect()
}

/// Stops the signer of boot output `from` with `SIGTERM` and checks that it
/// left the tip it verified persisted: saved on stop, or already saved.
/// Returns that height.
fn stop(s: &mut SignerProc, from: usize) -> u64 {
    assert_eq!(s.terminate().code(), Some(0));
    let out = s.output()[from..].to_owned();
    assert!(out.contains("received SIGTERM: box-signer is stopping"), "{out}");
    let tip = *verified_blocks(&out).iter().max().unwrap_or_else(|| panic!("no block verified:\n{out}"));
    let on_stop = out.lines().find(|l| l.contains(" on stop")).and_then(|l| number_after(l, "at height "));
    let current = out.lines().find(|l| l.contains("is current")).and_then(|l| number_after(l, "stopping at height "));
    assert_eq!(on_stop.or(current), Some(tip), "the verified tip {tip} is not what the stop left persisted:\n{out}");
    tip
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_signer_resumes_from_its_persisted_state_and_discards_a_corrupted_one() {
    let anvil = Anvil::start().await;
    let c = Cluster::start(&box_node_bin(), 1, 0).await;
    let p = People::new();
    for token in 1..=3 {
        more_blocks(&c, &p, token).await;
    }
    let mut s = SignerProc::for_cluster(&c, "signer", &anvil.endpoint(), anvil.chain_id());

    // Boot 1: verifies from the genesis, persists once caught up.
    s.spawn(&[], &[]);
    let h1 = boot_line(&s, 0, "persisted the verified state at height ").await;
    assert!(s.output().contains("no persisted verified state: verifying the chain from the genesis"));
    let t1 = stop(&mut s, 0);
    assert!(t1 >= h1 && h1 >= 3, "{h1} {t1}");

    // The chain goes on while the signer is down.
    for token in 4..=5 {
        more_blocks(&c, &p, token).await;
    }

    // Boot 2: resumes at t1 and verifies only the blocks after it.
    let from = s.output().len();
    s.spawn(&[], &[]);
    let at = boot_line(&s, from, "resumed from the verified state persisted at height ").await;
    assert_eq!(at, t1);
    let caught = boot_line(&s, from, "caught up at height ").await;
    let verified = boot_line(&s, from, &format!("caught up at height {caught}: verified ")).await;
    assert!(caught >= t1 + 2, "the chain grew from {t1} to {caught}");
    assert_eq!(verified, caught - t1, "only the blocks after {t1} were verified:\n{}", &s.output()[from..]);
    let h2 = boot_line(&s, from, "persisted the verified state at height ").await;
    assert!(h2 > t1);
    assert!(!s.output()[from..].contains("from the genesis"), "{}", &s.output()[from..]);

    // Blocks while it runs: verified, but not persisted before the next
    // periodic save (a minute after the first; this phase takes seconds).
    // The stop signal persists them.
    let mut last = 0;
    for token in 6..=7 {
        last = more_blocks(&c, &p, token).await;
    }
    let seen = || verified_blocks(&s.output()[from..]).into_iter().any(|h| h >= last);
    let waited = tokio::time::timeout(Duration::from_secs(90), async {
        while !seen() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert!(waited.await.is_ok(), "block {last} not verified:\n{}", &s.output()[from..]);
    let tip = stop(&mut s, from);
    assert!(s.output()[from..].contains(&format!("persisted the verified state at height {tip} on stop")));
    assert!(tip >= last && tip > h2, "the tip {tip} is past the last periodic save {h2}");

    // Boot 3: resumes at the tip saved on stop, not at the periodic save.
    more_blocks(&c, &p, 8).await;
    let from = s.output().len();
    s.spawn(&[], &[]);
    let at = boot_line(&s, from, "resumed from the verified state persisted at height ").await;
    assert_eq!(at, tip);
    let caught = boot_line(&s, from, "caught up at height ").await;
    let verified = boot_line(&s, from, &format!("caught up at height {caught}: verified ")).await;
    assert_eq!(verified, caught - tip, "only the blocks after {tip} were verified:\n{}", &s.output()[from..]);
    let out = s.output()[from..].to_owned();
    assert!(verified_blocks(&out).iter().all(|h| *h > tip), "a block at or below {tip} verified again:\n{out}");
    assert_eq!(s.terminate().code(), Some(0));

    // Boot 4, an upgrade in place: the state persisted as earlier versions wrote
    // it (JSON) is still resumed from.
    let genesis: box_core::typed::Genesis =
        serde_json::from_slice(&std::fs::read(c.dir.path().join("genesis.json")).unwrap()).unwrap();
    let store_path = s.dir.join("data").join("signer.redb");
    let saved = {
        let store = Store::open(&store_path).unwrap();
        let bytes = store.verified_state().unwrap().expect("a persisted state");
        assert!(bytes.starts_with(checkpoint::MAGIC_INDEXED), "persisted in the binary form, retired ids indexed");
        let c = checkpoint::decode_indexed(&genesis, &bytes).unwrap();
        store.put_verified_state(&checkpoint::encode_json(&c.verifier, c.header.as_ref())).unwrap();
        c.verifier.height()
    };
    let from = s.output().len();
    s.spawn(&[], &[]);
    let at = boot_line(&s, from, "resumed from the verified state persisted at height ").await;
    assert_eq!(at, saved);
    let caught = boot_line(&s, from, "caught up at height ").await;
    // Written again in the current form at the first catch-up, even with no
    // block after it (the upgrade migrates it once).
    let rewritten = boot_line(&s, from, "persisted the verified state at height ").await;
    assert_eq!(rewritten, caught);
    assert_eq!(s.terminate().code(), Some(0));
    let bytes = Store::open(&store_path).unwrap().verified_state().unwrap().expect("a persisted state");
    assert!(bytes.starts_with(checkpoint::MAGIC_INDEXED), "the JSON form was not replaced");

    // The persisted state corrupted on disk: the meta row edited (its count
    // of applied entries), so its rows no longer give the root it claims.
    // Layout (box-core README, "Binary state"): the state's magic, the
    // genesis, the meta section (tag, count, id, length), then its compacted
    // words: the ABI offset, the genesis hash, `applied`.
    {
        let store = Store::open(&store_path).unwrap();
        let mut bytes = store.verified_state().unwrap().expect("a persisted state");
        let state = bytes.windows(9).position(|w| w == box_core::notary::STATE_MAGIC).unwrap() + 9;
        let genesis_len = u32::from_be_bytes(bytes[state..state + 4].try_into().unwrap()) as usize;
        let words = state + 4 + genesis_len + 1 + 4 + 32 + 4;
        let hash = words + 3;
        let applied = hash + 2 + (32 - bytes[hash] as usize - bytes[hash + 1] as usize);
        bytes[applied + 2] ^= 1;
        store.put_verified_state(&bytes).unwrap();
    }

    // Boot 5: the corruption is detected and logged with the reason; the
    // chain is verified from the genesis.
    let from = s.output().len();
    s.spawn(&[], &[]);
    let caught = boot_line(&s, from, "caught up at height ").await;
    let verified = boot_line(&s, from, &format!("caught up at height {caught}: verified ")).await;
    let out = s.output()[from..].to_owned();
    assert!(
        out.contains("the persisted verified state is discarded: the state root of its rows is")
            && out.contains("verifying the chain from the genesis"),
        "corruption not reported:\n{out}"
    );
    assert_eq!(verified, caught, "every block verified again:\n{out}");
    assert!(!out.contains("resumed from the verified state"), "{out}");
}

/// The retired ids go to the signer's own index, not into the state it
/// persists: decided subjects retire once the nodes' log time passes their
/// deadline (the nodes restart two days ahead, `BOX_NODE_CLOCK_AHEAD`); the
/// signer verifies those blocks, persists on stop with the ids in its redb
/// index (box-core checkpoint version 2), resumes from that state with none
/// of them in memory, and verifies the blocks after it, each new subject
/// looked up in the index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_keeps_the_retired_ids_in_its_store_and_resumes_without_them() {
    let anvil = Anvil::start().await;
    let mut c = Cluster::start(&box_node_bin(), 1, 0).await;
    let p = People::new();
    for token in 1..=2 {
        more_blocks(&c, &p, token).await;
    }
    c.kill(1);
    c.spawn_with(1, &[("BOX_NODE_CLOCK_AHEAD", "172800")]);
    c.wait_leader().await;
    // The next entries' log time passes the decided subjects' deadlines.
    let retired_at = more_blocks(&c, &p, 3).await;

    let mut s = SignerProc::for_cluster(&c, "signer", &anvil.endpoint(), anvil.chain_id());
    s.spawn(&[], &[]);
    let seen = || verified_blocks(&s.output()).into_iter().any(|h| h >= retired_at);
    eventually("the retiring blocks verified", Duration::from_secs(90), || async { seen().then_some(()) }).await;
    let tip = stop(&mut s, 0);
    let store_path = s.dir.join("data").join("signer.redb");
    let genesis: box_core::typed::Genesis =
        serde_json::from_slice(&std::fs::read(c.dir.path().join("genesis.json")).unwrap()).unwrap();
    let indexed = {
        let store = Store::open(&store_path).unwrap();
        let bytes = store.verified_state().unwrap().expect("a persisted state");
        assert!(bytes.starts_with(checkpoint::MAGIC_INDEXED));
        let cp = checkpoint::decode_indexed(&genesis, &bytes).unwrap();
        let state = cp.verifier.state();
        let (count, _) = state.retired_chain();
        assert!(count >= 2, "the first flows' subjects retired ({count})");
        assert_eq!((state.retired_indexed(), state.retired_after(count)), (count, Some(&[][..])), "none listed");
        assert_eq!(store.retired_count().unwrap(), count);
        count
    };

    // Resumed with the ids in the index; the chain goes on.
    more_blocks(&c, &p, 4).await;
    let last = more_blocks(&c, &p, 5).await;
    let from = s.output().len();
    s.spawn(&[], &[]);
    let at = boot_line(&s, from, "resumed from the verified state persisted at height ").await;
    assert_eq!(at, tip);
    let out = || s.output()[from..].to_owned();
    let line = out().lines().find(|l| l.contains("resumed from")).unwrap_or_default().to_owned();
    assert!(line.contains(&format!("retired_indexed={indexed}")), "{line}");
    let seen = || verified_blocks(&out()).into_iter().any(|h| h >= last);
    eventually("the blocks after it verified", Duration::from_secs(90), || async { seen().then_some(()) }).await;
    assert!(!out().contains("does not verify") && !out().contains("waiting: the index"), "{}", out());
    assert_eq!(s.terminate().code(), Some(0));

    // An index that does not hold what the state says it does (here: emptied
    // by hand) is not trusted: the state is discarded and the chain verified
    // from the genesis.
    {
        let store = Store::open(&store_path).unwrap();
        let bytes = store.verified_state().unwrap().expect("a persisted state");
        store.put_verified_state_indexed(&bytes, 0, &[]).unwrap();
    }
    let from = s.output().len();
    s.spawn(&[], &[]);
    let caught = boot_line(&s, from, "caught up at height ").await;
    let verified = boot_line(&s, from, &format!("caught up at height {caught}: verified ")).await;
    let out = s.output()[from..].to_owned();
    assert!(out.contains("to the store's index, which holds 0; verifying the chain from the genesis"), "{out}");
    assert_eq!(verified, caught, "every block verified again:\n{out}");
    assert_eq!(s.terminate().code(), Some(0));
}

/// One node that claims 1,000 blocks more than it serves (its block
/// stream's and its header rounds' `latest_height`; `BOX_NODE_FAULT=overclaim`)
/// is the first the signer streams from. The header round takes the height
/// enough nodes hold; the stream's claim is dropped once that node falls
/// silent below it: the signer catches up at the real tip instead of
/// waiting for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_claims_heights_it_never_serves_holds_the_signer_back_only_briefly() {
    let anvil = Anvil::start().await;
    let overclaim: &[(&str, &str)] = &[("BOX_NODE_FAULT", "overclaim")];
    let c = Cluster::start_with(&box_node_bin(), 3, 0, &[(1, overclaim)]).await;
    let p = People::new();
    let sealed = more_blocks(&c, &p, 1).await;
    let mut s = SignerProc::for_cluster(&c, "signer", &anvil.endpoint(), anvil.chain_id());
    let config = std::fs::read_to_string(&s.config).unwrap();
    assert!(config.contains(&format!("nodes = [\"{}\"", c.nodes[0].addr)), "node 1 is streamed first:\n{config}");
    s.spawn(&[], &[]);
    let caught = boot_line(&s, 0, "caught up at height ").await;
    let out = s.output();
    assert!(
        (sealed..sealed + 100).contains(&caught),
        "caught up at {caught}, the chain is at {sealed} or a little more"
    );
    assert!(out.contains("its claim is dropped"), "the stream's claim was not what held it back:\n{out}");
    assert_eq!(s.terminate().code(), Some(0));

    // Under load node 1 streams real blocks as they are sealed, each with
    // its false claim, so its stream is never silent: the claim falls
    // because no other node reaches it, and the signer catches up while
    // blocks keep coming. The load starts before the signer does: with
    // the chain still at the persisted tip, the header round alone would
    // say "caught up" before any block is streamed. Every node holds the
    // new block before the signer asks for the heights.
    let loaded = more_blocks(&c, &p, 2).await;
    for node in 2..=3 {
        eventually("the other nodes at the loaded height", Duration::from_secs(30), || async {
            c.info(node).await.filter(|i| i.height >= loaded)
        })
        .await;
    }
    let from = s.output().len();
    s.spawn(&[], &[]);
    let load = async {
        for token in 3u8..=u8::MAX {
            more_blocks(&c, &p, token).await;
        }
        std::future::pending::<()>().await;
    };
    let caught = tokio::select! {
        caught = boot_line(&s, from, "caught up at height ") => caught,
        () = load => unreachable!("the load never ends"),
    };
    let out = s.output()[from..].to_owned();
    assert!(caught >= loaded, "caught up at {caught}, the chain was at {loaded} when the signer started:\n{out}");
    assert!(
        out.contains("but no other node has more than"),
        "the claim fell for another reason than the other nodes' heights:\n{out}"
    );
    assert_eq!(s.terminate().code(), Some(0));
}
