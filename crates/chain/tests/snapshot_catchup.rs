//! A node that lags behind the leader's purged log catches up by snapshot
//! (issue 13 item 4): the snapshot carries the state at the chain tip, not
//! the blocks, so the node fetches the blocks below the tip from its peers,
//! checked by hash chain from the tip its peers attest, resuming after a
//! `kill -9`; it then holds every block byte-for-byte equal to the leader's
//! and serves them, and the proof of a transfer that retired before its
//! snapshot, fetched from a peer (passing over one whose proof does not
//! verify), and a rejection that retired before it, as a strict majority of
//! the registry reports it. Forged snapshots sent first are refused and
//! install nothing: one whose tip state was edited, and a consistent fork
//! (the tip re-sealed by the leader's own registered account) that only
//! the registry's attestations tell apart. Real `box-node` processes on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_core::audit::verify_history;
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_core::notary::TransferStatus;
use box_proto::pb;
use box_testkit::{Cluster, eventually};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_box-node");
/// Two days ahead (`BOX_NODE_CLOCK_AHEAD`, a test hook): past a transfer's deadline.
const AHEAD: &[(&str, &str)] = &[("BOX_NODE_CLOCK_AHEAD", "172800")];

fn flow(n: u64) -> Vec<u8> {
    box_testkit::sample_flow(n).encode()
}

/// Every block node `id` serves from height 1 (raw bytes), or `None` if it
/// does not answer.
async fn served(c: &Cluster, id: u64) -> Option<Vec<Vec<u8>>> {
    let client = c.node_client(&[id]);
    let mut out = Vec::new();
    for h in 1.. {
        match client.block(h).await {
            Ok(Some((bytes, _))) => out.push(bytes),
            Ok(None) => return Some(out),
            Err(_) => return None,
        }
    }
    Some(out)
}

/// The notarized records node `id` streams for heights 1..=`upto`: height,
/// subject id, certificate.
async fn records(c: &Cluster, id: u64, upto: u64) -> Vec<(u64, Vec<u8>, Vec<u8>)> {
    let mut stream = c.client(id).subscribe(pb::SubscribeRequest { from_height: 1 }).await.unwrap().into_inner();
    let mut out = Vec::new();
    // The stream follows new blocks forever: 3 s of silence means it is past the last.
    while let Ok(Ok(Some(ev))) = tokio::time::timeout(Duration::from_secs(3), stream.message()).await {
        if ev.height > upto {
            break;
        }
        out.push((ev.height, ev.subject_id, ev.certificate));
    }
    out
}

/// The node changes node `id` serves as its registry chain: height,
/// subject, certificate.
async fn registry_chain(c: &Cluster, id: u64) -> Vec<(u64, Vec<u8>, Vec<u8>)> {
    let info = c.client(id).registry_chain(pb::RegistryChainQuery {}).await.unwrap().into_inner();
    info.changes.into_iter().map(|c| (c.height, c.subject, c.certificate)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_node_catches_up_by_snapshot_and_fetches_every_block_from_its_peers() {
    let mut c = Cluster::prepare(Path::new(BIN), 3, 1, 250);
    // Snapshots every 50 entries; the leader keeps 500 entries after one
    // (700 subjects make about 900 entries: votes travel in batches). A
    // peer raft still replicates to holds back the purge (openraft keeps the
    // entries it is sending), so the voters first run without the learner
    // (node 4) in their configuration: it joins once their log is purged,
    // and can catch up only by a snapshot.
    let learner = 4;
    let full: Vec<String> = c.nodes.iter().map(|n| std::fs::read_to_string(&n.config).unwrap()).collect();
    let learner_block = full[0][full[0].find("[[peers]]\nid = 4").unwrap()..].to_owned();
    for (n, toml) in c.nodes.iter().zip(&full) {
        let toml = toml.replace("heartbeat_ms = 250\n", "heartbeat_ms = 250\nsnapshot_every = 50\n");
        let toml = if n.id == learner { toml } else { toml.replace(&learner_block, "") };
        std::fs::write(&n.config, toml).unwrap();
    }
    for id in 1..=3 {
        c.spawn(id);
    }
    c.wait_leader().await;
    // A transfer finishes, then the voters restart with their clocks two
    // days ahead: the next entry's log time passes its deadline and it
    // retires from the live state, long before the snapshot's tip.
    let finished = c.finished_transfer("").await;
    let (_, rejected, rejection) = c.rejected_subject().await;
    for id in 1..=3 {
        c.kill(id);
    }
    for id in 1..=3 {
        c.spawn_with(id, AHEAD);
    }
    c.wait_leader().await;
    c.submit_all((0..700).map(flow).collect(), 32).await;
    let leader = c.wait_leader().await;
    // 120 s: 700 subjects on a 2-core machine shared with other builds.
    let height = eventually("sealing settles", Duration::from_secs(120), || async {
        let info = c.info(leader).await?;
        (info.unsealed == 0).then_some(info.height)
    })
    .await;
    for id in 1..=3 {
        c.terminate(id);
        let toml = std::fs::read_to_string(&c.nodes[id as usize - 1].config).unwrap();
        std::fs::write(&c.nodes[id as usize - 1].config, format!("{toml}{learner_block}")).unwrap();
    }
    // First every voter sends forged snapshots (a test hook: the tip state's
    // last byte changed). The learner refuses the one it is sent, installs
    // nothing, and, its raft stopped by the refusal, exits naming why (a
    // supervisor restarts it; it then asks the leader again).
    let mut from = 0;
    for (fault, why) in [
        ("forge-snapshots", "snapshot refused: its tip state is refused"),
        // Then a fork every check of the bytes passes: the tip re-sealed by
        // the leader's own registered account. The registry's attestations
        // (the voters attest the block they hold) refuse it.
        ("fork-snapshots", "registered node accounts attest another block"),
    ] {
        let forged = [AHEAD, &[("BOX_NODE_FAULT", fault)]].concat();
        for id in 1..=3 {
            c.spawn_with(id, &forged);
        }
        c.spawn_with(learner, AHEAD);
        let start = std::time::Instant::now();
        let exit = loop {
            if let Some(exit) = c.exited(learner) {
                break exit;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "the learner took a snapshot from {fault}:\n{}",
                c.log_tail(learner)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let log = c.log(learner);
        let log = &log[from..];
        assert!(!exit.success(), "{exit:?}");
        assert!(log.contains(why), "{fault}: {}", c.log_tail(learner));
        assert!(log.contains("raft stopped on this node"), "{}", c.log_tail(learner));
        assert!(!log.contains("fetching blocks"), "nothing installed:\n{}", c.log_tail(learner));
        for id in 1..=3 {
            c.terminate(id);
        }
        from = c.log(learner).len();
    }
    let honest_from = from;

    // While the learner catches up, block 1 (fetched last: from the tip down)
    // is asked for again and again: below its tip it is "being fetched"
    // (UNAVAILABLE, so a client asks another node), never "not found", which
    // a client takes as the end of the chain.
    let stop = Arc::new(AtomicBool::new(false));
    let poll = {
        let (mut client, stop) = (c.client(learner), stop.clone());
        tokio::spawn(async move {
            let (mut not_found, mut fetching) = (Vec::new(), 0);
            while !stop.load(Ordering::Relaxed) {
                match client.get_block(pb::BlockQuery { height: 1 }).await {
                    Err(s) if s.code() == tonic::Code::NotFound => not_found.push(s.message().to_owned()),
                    Err(s) if s.message().contains("being fetched") => fetching += 1,
                    _ => {}
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (not_found, fetching)
        })
    };
    // Node 1, the first peer the learner asks for a transfer's proof, serves
    // proofs that do not verify (a test hook): the learner must pass over
    // it. Nodes 2 and 3 first answer "not found", as peers caught up by
    // snapshot themselves and still fetching would: no peer proves the
    // retired transfer while the learner fetches its run.
    let forging = [AHEAD, &[("BOX_NODE_FAULT", "forge-proofs")]].concat();
    let hiding = [AHEAD, &[("BOX_NODE_FAULT", "hide-proofs")]].concat();
    c.spawn_with(1, &forging);
    for id in 2..=3 {
        c.spawn_with(id, &hiding);
    }
    c.spawn_with(learner, AHEAD);

    let start = std::time::Instant::now();
    while !c.log(learner).contains("fetching blocks") {
        if start.elapsed() > Duration::from_secs(120) {
            let info = c.info(learner).await;
            let logs: Vec<String> = (1..=4).map(|id| format!("--- node {id}:\n{}", c.log_tail(id))).collect();
            panic!("the learner never installed a snapshot to fetch the blocks below ({info:?}):\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Restarted, it undid the log purge openraft made for the refused
    // snapshot (a start would panic on it otherwise) and asked again. It
    // installed the honest snapshot once a majority of the registry (the
    // three voters, over mutual TLS) attested its tip.
    let log = c.log(learner);
    assert!(log[honest_from..].contains("the raft log was purged up to entry"), "{}", c.log_tail(learner));
    let installed = log.lines().find(|l| l.contains("is attested by") && l.contains("registered node accounts"));
    let size: u64 = installed
        .and_then(|l| l.split("a snapshot of ").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no installed snapshot's size:\n{}", c.log_tail(learner)));
    // 700 subjects make about 680 KB: the snapshot came in several InstallSnapshot chunks.
    assert!(size > 2 * box_chain::network::SNAPSHOT_CHUNK_BYTES, "{size} bytes: sent in one or two chunks");
    // Killed while fetching (or just after): the blocks still to fetch are on disk.
    c.kill(learner);
    c.spawn_with(learner, AHEAD);
    // Every node must name the same leader again. A voter that fell behind
    // here (it restarts behind the others, and the 700 subjects load two
    // cores) once took its own lag for a leader withholding entries and
    // refused its messages for 30 s and more; liveness now waits while a
    // node catches up (`liveness::CatchUp`).
    let leader = c.wait_leader().await;
    let blocks =
        eventually("the learner serves every block of the leader, byte for byte", Duration::from_secs(180), || async {
            let theirs = served(&c, leader).await?;
            let mine = served(&c, learner).await?;
            (mine.len() as u64 >= height && theirs.starts_with(&mine)).then_some(mine)
        })
        .await;
    stop.store(true, Ordering::Relaxed);
    let (not_found, fetching) = poll.await.unwrap();
    eprintln!("block 1 was answered as being fetched {fetching} times");
    assert!(
        not_found.iter().all(|m| m.ends_with("the latest is 0")),
        "block 1 was answered as past the end of the chain while the learner held a later tip: {not_found:?}"
    );
    let blocks: Vec<Block> = blocks.iter().map(|b| Block::decode(b).unwrap()).collect();
    // The fetched blocks' sealed headers are kept with them: the learner's
    // `Headers` (what the cross-check compares) are the blocks' own.
    let upto = blocks.len() as u64;
    let headers = c.client(learner).headers(pb::HeadersQuery { from_height: 1, to_height: upto }).await.unwrap();
    let expected: Vec<Vec<u8>> = blocks.iter().map(|b| Block::header_only(b.sealed_header()).encode()).collect();
    assert_eq!(headers.into_inner().headers, expected, "the learner's headers of the fetched blocks");
    let report = verify_history(&c.genesis, &blocks).expect("the fetched history verifies from the genesis");
    assert_eq!(report.blocks, blocks.len() as u64);
    // Logged once the last fetched block is committed, after it is served.
    eventually("the learner says it holds the chain below its snapshot", Duration::from_secs(60), || async {
        c.log(learner).contains("this node holds the chain below its snapshot").then_some(())
    })
    .await;
    // The notarized records of the fetched blocks come from a peer's
    // `Subscribe`, each kept only if its certificate verifies: the learner
    // then streams the same records as the leader.
    eventually("the learner keeps the fetched blocks' records", Duration::from_secs(60), || async {
        c.log(learner).contains("verified notarized records of blocks").then_some(())
    })
    .await;
    let (mine, theirs) = (records(&c, learner, height).await, records(&c, leader, height).await);
    assert!(!theirs.is_empty());
    assert_eq!(mine, theirs, "the learner streams the leader's notarized records");
    // The node changes notarized below its tip are the registry chain that
    // certified the tip (verified from the genesis): the learner serves the
    // leader's chain, so a node that caught up by snapshot still lets a new
    // follower or a later snapshot be certified.
    assert_eq!(registry_chain(&c, learner).await, registry_chain(&c, leader).await, "the learner serves the leader's");
    // The transfer retired below the snapshot's tip, so the installed state
    // held no row of it to prove. No peer proved it while the learner
    // fetched the run (node 1's forgery passed over, nodes 2 and 3 hiding
    // theirs): the run is done, the transfer kept aside as unproven.
    eventually("the learner records the run with no proof of the transfer", Duration::from_secs(60), || async {
        c.log(learner).contains("every proof peers sent failed to verify; none kept").then_some(())
    })
    .await;
    // Nodes 2 and 3 then hold their proofs (restarted honest, one at a
    // time); the learner, restarted, asks again at once, fetches the
    // latest proof from a peer and keeps it because it verifies against the
    // header of the block it holds at that height. It serves an honest
    // node's proof.
    for id in 2..=3 {
        c.terminate(id);
        c.spawn_with(id, AHEAD);
        c.wait_leader().await;
    }
    c.terminate(learner);
    c.spawn_with(learner, AHEAD);
    let theirs = c.node_client(&[2]).transfer_proof(&finished.transfer).await.unwrap().expect("node 2's");
    let mine = eventually("the learner serves the retired transfer's proof", Duration::from_secs(60), || async {
        c.node_client(&[learner]).transfer_proof(&finished.transfer).await.ok().flatten()
    })
    .await;
    assert_eq!((mine.height, &mine.header, mine.leaf()), (theirs.height, &theirs.header, theirs.leaf()));
    let status = mine.leaf().and_then(|l| l.transfer_status());
    assert_eq!(status, Some(TransferStatus::Confirmed { tx_hash: finished.tx }));
    assert!(mine.height < blocks.len() as u64, "proven below the tip: {} of {}", mine.height, blocks.len());
    // The pass that kept it then asks about the rejections left unsettled
    // and logs what it settled only after that.
    eventually("the learner says what the runs left unsettled is settled", Duration::from_secs(60), || async {
        c.log(learner).contains("what the runs below a snapshot left unsettled is settled now").then_some(())
    })
    .await;
    let passed_over = format!("node 1 sent a proof of transfer {} at height {}", finished.transfer, theirs.height);
    assert!(c.log(learner).contains(&passed_over), "{}", c.log_tail(learner));
    // So did a subject rejected then: it answers it rejected, with the kind,
    // reasons and height a strict majority of the registry's nodes reported.
    let view = eventually("the learner answers the retired rejection", Duration::from_secs(60), || async {
        c.subject(learner, &rejected).await.filter(|v| v.status.to_string() == "rejected")
    })
    .await;
    assert_eq!((view.kind, &view.reasons, view.height), (rejection.kind, &rejection.reasons, rejection.height));
    // A run logs what it kept once it has asked about every candidate.
    eventually("the learner logs the rejection it kept", Duration::from_secs(60), || async {
        c.log(learner).contains("kept 1 rejections of subjects retired").then_some(())
    })
    .await;
    assert!(!c.log(learner)[honest_from..].contains("snapshot refused"), "{}", c.log_tail(learner));
}
