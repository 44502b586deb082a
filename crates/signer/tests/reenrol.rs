//! Re-enrolment cannot be used against the signer (issue 11, fault 1), and
//! the signer's output stays private (fault 8): with real box-node processes
//! and the box-signer process. Messages go straight to a node, as a
//! compromised gateway would relay them: the signer must not rely on the
//! gateway's checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::ceremony::{Purpose, SignerState, endorse};
use box_core::crypto::SecretKey;
use box_testkit::anvil::Anvil;
use box_testkit::{Cluster, key};
use common::*;
use std::os::unix::fs::PermissionsExt;

fn unsealed(x: &box_core::ceremony::SignerAnnounce) -> bool {
    x.state == SignerState::Unsealed as u8
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_cannot_lock_the_signer_and_failed_reenrolments_are_held_back_per_slot() {
    let anvil = Anvil::start().await;
    let c = Cluster::start(&box_node_bin(), 3, 0).await;
    let nodes = cluster_nodes(&c);
    let mut s = SignerProc::for_cluster(&c, "signer", &anvil.endpoint(), anvil.chain_id());
    // The log file is created readable by everyone, as a careless service definition would.
    std::fs::write(&s.log, b"").unwrap();
    std::fs::set_permissions(&s.log, std::fs::Permissions::from_mode(0o644)).unwrap();
    s.spawn(&[], &[]);
    let holders = Holders::new(c.domain, c.key_holders.clone(), &c.client_tls, &nodes[0]);
    let code = s.enrolment_code().await;
    let wallet = holders.genesis(&code).await;
    let a = holders.wait("unsealed after the genesis", unsealed).await;
    let runs = s.argon2_runs();

    // The attack as reported: three re-enrolments with wrong phrases, from
    // freshly generated keys registered nowhere, one per slot. And the same
    // with an endorsement the stranger signed itself, or one an enrolled
    // device gave another device.
    for slot in 0..3 {
        let stranger = SecretKey::from_label_unchecked(&format!("stranger-{slot}"));
        holders.send_as(&stranger, slot, &a, Purpose::Reenrol, format!("not the phrase {slot}").as_bytes()).await;
    }
    let stranger = key("stranger-with-own-endorsement");
    let own = endorse(&holders.domain, &stranger, a.boot, 1, stranger.address());
    holders.reenrol(&stranger, 1, &a, b"not the phrase", &own).await;
    let borrowed = holders.endorse(0, &a, 1, key("someone-else").address());
    holders.reenrol(&stranger, 1, &a, b"not the phrase", &borrowed).await;

    // Then a legitimate re-enrolment: key holder 3's new phone, endorsed by
    // key holder 1's device, with the original phrase. Ceremony messages are
    // handled in log order, so once it shows, every message above was handled.
    let phone = key("key-holder-2-new-phone");
    let endorsement = holders.endorse(0, &a, 2, phone.address());
    holders.reenrol(&phone, 2, &a, PHRASES[2].as_bytes(), &endorsement).await;
    let r = holders.wait("the endorsed re-enrolment", |x| x.devices[2] == phone.address()).await;
    assert!(unsealed(&r), "still unsealed: the key was never zeroized ({})", r.detail);
    assert!(r.detail.contains("re-enrolled") && !r.detail.contains("failed"), "{}", r.detail);
    assert_eq!(s.argon2_runs() - runs, 1, "only the endorsed re-enrolment ran Argon2id:\n{}", s.output());
    assert!(!s.output().contains("locked"), "{}", s.output());

    // An endorsed device that guesses: its failures never lock; one typo is
    // free, then the slot's next attempt waits, refused before Argon2id.
    let guesser = key("endorsed-guesser");
    let endorsement = holders.endorse(0, &r, 1, guesser.address());
    holders.reenrol(&guesser, 1, &r, b"guess one", &endorsement).await;
    holders.wait("the first wrong guess", |x| x.detail.contains("slot 2 (1 failed; the next attempt may follow")).await;
    holders.reenrol(&guesser, 1, &r, b"guess two", &endorsement).await;
    let g = holders
        .wait("the second wrong guess", |x| {
            x.detail.contains("slot 2 (2 failed; the next attempt is held back for 60 s")
        })
        .await;
    assert!(unsealed(&g), "{}", g.detail);
    let runs = s.argon2_runs();
    holders.reenrol(&guesser, 1, &r, PHRASES[1].as_bytes(), &endorsement).await;
    let held = holders
        .wait("the held-back attempt", |x| x.detail.contains("re-enrolling slot 2 refused: held back for"))
        .await;
    assert!(held.detail.contains("s more after 2 failed attempts"), "{}", held.detail);
    assert_eq!(held.devices[1], c.key_holders[1].address(), "slot 2 keeps its device");
    assert!(unsealed(&held), "{}", held.detail);
    assert_eq!(s.argon2_runs(), runs, "a held-back attempt runs no Argon2id");

    // The backoff is in the store: a restart does not lift it.
    let boot = held.boot;
    s.kill();
    s.spawn(&[], &[]);
    let sealed = holders.boot(Some(boot), SignerState::Sealed).await;
    let endorsement = holders.endorse(0, &sealed, 1, guesser.address());
    holders.reenrol(&guesser, 1, &sealed, PHRASES[1].as_bytes(), &endorsement).await;
    let held = holders.wait("held back after the restart", |x| x.detail.contains("re-enrolling slot 2 refused")).await;
    assert!(held.detail.contains("after 2 failed attempts"), "{}", held.detail);

    // The re-enrolled phone unseals with the other holders' devices.
    for (slot, phrase) in PHRASES.iter().enumerate().take(2) {
        holders.send(slot, &sealed, Purpose::Phrase, phrase.as_bytes()).await;
    }
    holders.send_as(&phone, 2, &sealed, Purpose::Phrase, PHRASES[2].as_bytes()).await;
    holders.wait("unsealed with the re-enrolled phone", |x| x.boot == sealed.boot && unsealed(x)).await;
    s.kill();

    // Fault 8: the output file is the signer user's alone, and d is not in it
    // (only on a terminal and in show-backup).
    let mode = std::fs::metadata(&s.log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the signer's log is mode {mode:o}");
    let (backup_wallet, d) = s.show_backup();
    assert_eq!(backup_wallet, wallet);
    let log = s.output();
    assert!(!log.to_lowercase().contains(&d.to_lowercase()), "d is in the log:\n{log}");
    assert!(log.contains("shown only on a terminal"), "{log}");
}
