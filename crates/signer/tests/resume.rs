//! Resume instead of replay (issue 13, item 3): the signer persists the
//! notary state it verified and, restarted, resumes from it and verifies
//! only the blocks after it; a corrupted persisted state is discarded with
//! the reason and the chain is verified from the genesis. Real processes: a
//! box-node, anvil and the box-signer binary, stopped and started.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::Address;
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
/// one block or more per call.
async fn more_blocks(c: &Cluster, p: &People, token: u8) {
    let id = c.submit(&Subject::Flow(p.flow(Address::repeat_byte(token))).encode()).await;
    eventually("the decision sealed", Duration::from_secs(60), || async {
        c.subject(1, &id).await.filter(|v| v.height > 0)
    })
    .await;
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
    assert_eq!(s.terminate().code(), Some(0));

    // The chain goes on while the signer is down.
    for token in 4..=5 {
        more_blocks(&c, &p, token).await;
    }

    // Boot 2: resumes at h1 and verifies only the blocks after it.
    let from = s.output().len();
    s.spawn(&[], &[]);
    let at = boot_line(&s, from, "resumed from the verified state persisted at height ").await;
    assert_eq!(at, h1);
    let caught = boot_line(&s, from, "caught up at height ").await;
    let verified = boot_line(&s, from, &format!("caught up at height {caught}: verified ")).await;
    assert!(h1 >= 3 && caught >= h1 + 2, "the chain grew from {h1} to {caught}");
    assert_eq!(verified, caught - h1, "only the blocks after {h1} were verified:\n{}", &s.output()[from..]);
    let h2 = boot_line(&s, from, "persisted the verified state at height ").await;
    assert!(h2 > h1);
    assert!(!s.output()[from..].contains("from the genesis"), "{}", &s.output()[from..]);
    assert_eq!(s.terminate().code(), Some(0));

    // The persisted state corrupted on disk: a flow row edited, so its rows
    // no longer give the root it claims.
    {
        let store = Store::open(&s.dir.join("data").join("signer.redb")).unwrap();
        let bytes = store.verified_state().unwrap().expect("a persisted state");
        let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let flows = json["verifier"]["state"]["flows"].as_object_mut().unwrap();
        flows.values_mut().next().unwrap()["status"] = serde_json::json!("rejected");
        store.put_verified_state(&serde_json::to_vec(&json).unwrap()).unwrap();
    }

    // Boot 3: the corruption is detected and logged with the reason; the
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
