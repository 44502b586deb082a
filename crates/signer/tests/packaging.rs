//! What an operator sees of a `box-signer` process run by systemd: the line
//! on a stop signal and the exit code, and `box-signer status`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_testkit::Cluster;
use box_testkit::anvil::Anvil;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_is_logged_and_the_signer_exits_zero() {
    let anvil = Anvil::start().await;
    let c = Cluster::start(&box_node_bin(), 1, 0).await;
    let mut s = SignerProc::for_cluster(&c, "signer", &anvil.endpoint(), anvil.chain_id());
    s.spawn(&[], &[]);
    // Running and waiting for the key holders.
    s.enrolment_code().await;
    let exit = s.terminate();
    let out = s.output();
    assert_eq!(exit.code(), Some(0), "exit {exit}; output:\n{out}");
    assert!(out.contains("received SIGTERM: box-signer is stopping"), "no stop line in the output:\n{out}");
}

fn status(s: &SignerProc) -> (Option<i32>, String) {
    let out = std::process::Command::new(SIGNER_BIN)
        .args(["status", "--config"])
        .arg(&s.config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Waits until `box-signer status` says `words`; returns its exit code and text.
async fn status_saying(s: &SignerProc, words: &str) -> (Option<i32>, String) {
    box_testkit::eventually(&format!("status says {words}"), std::time::Duration::from_secs(90), || async {
        let (code, text) = status(s);
        text.contains(words).then_some((code, text))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_says_sealed_or_unsealed_the_wallet_and_what_it_waits_for() {
    let anvil = Anvil::start().await;
    let c = Cluster::start(&box_node_bin(), 1, 0).await;
    let mut s = SignerProc::for_cluster(&c, "signer", &anvil.endpoint(), anvil.chain_id());
    let (code, text) = status(&s);
    assert_eq!(code, Some(3), "not started yet: {text}");
    assert!(text.contains("box-signer is not running"), "{text}");

    // Status asked over and over while the signer starts: it only looks at the
    // store's lock (never takes it), so the start is not disturbed.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (stop, config) = (stop.clone(), s.config.clone());
        std::thread::spawn(move || {
            let mut asked = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let out = std::process::Command::new(SIGNER_BIN).args(["status", "--config"]).arg(&config).output();
                asked += usize::from(out.is_ok());
            }
            asked
        })
    };
    s.spawn(&[], &[]);
    let code_words = s.enrolment_code().await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(poller.join().unwrap() > 0, "status was asked during the start");
    let (code, text) = status_saying(&s, "waiting for the key holders' devices to enrol").await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("box-signer is running") && text.contains("hot wallet: none yet"), "{text}");

    let holders = Holders::new(c.domain, c.key_holders.clone(), &c.client_tls, &cluster_nodes(&c)[0]);
    let wallet = holders.genesis(&code_words).await;
    let (code, text) = status_saying(&s, "unsealed: the key is in memory").await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("hot wallet: {wallet}")), "{text}");
    assert!(!text.contains("{ ") && !text.contains("Some("), "no Debug text: {text}");

    // A restart comes back sealed, waiting for the phrases.
    assert_eq!(s.terminate().code(), Some(0));
    s.spawn(&[], &[]);
    let (code, text) = status_saying(&s, "sealed: the key is not in memory").await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("hot wallet: {wallet}")) && text.contains("phrases received: 0 of 3"), "{text}");

    assert_eq!(s.terminate().code(), Some(0));
    let (code, text) = status(&s);
    assert_eq!(code, Some(3), "stopped: {text}");
    assert!(text.contains("box-signer is not running"), "{text}");
}
