//! The gateway over real HTTPS, on a real SQLite file and a real PostgreSQL
//! server, against a real 3-node cluster: the full flow and transfer path,
//! every role check, and every refusal of the request layer, each leaving
//! the state unchanged. One scenario, run on both stores.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_api::TransferQuery;
use box_api::{FlowState, Role, TransferState};
use box_core::audit::verify_history;
use box_core::governance::GovernanceAction;
use box_core::ids::{ChainId, DeploymentId};
use box_core::typed::PauseTransfers;
use box_core::{B256, U256};
use box_gateway::Gateway;
use box_gateway::config::GatewayConfig;
use box_testkit::{Cluster, eventually, free_port};
use common::*;
use std::time::Duration;

const ETH: u128 = 1_000_000_000_000_000_000;

async fn start(cluster: &Cluster, dir: &std::path::Path, db: &Db, limits: &str) -> Gateway {
    let cfg = write_config(cluster, dir, db, free_port(), limits);
    Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap()
}

fn code(r: Result<impl std::fmt::Debug, box_api::ClientError>) -> (u16, String) {
    let e = r.expect_err("the gateway must refuse this");
    if let box_api::ClientError::Api { message, .. } = &e {
        assert_words(message);
    }
    (e.status().unwrap_or(0), e.code().unwrap_or("").to_owned())
}

/// A refusal's message is for people: no Rust `Debug` text in it.
#[track_caller]
fn assert_words(message: &str) {
    for debug in ["Some(", "None", "{ ", " }", "Ok(", "Err("] {
        assert!(!message.contains(debug), "Rust debug text {debug:?} in a refusal: {message}");
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

async fn scenario(db: Db) {
    let cluster = Cluster::start(&box_node(), 3, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&cluster, &dir.path().join("gw"), &db, TEST_LIMITS).await;
    let p = People::new();
    let c = |k: &box_core::crypto::SecretKey| client(&cluster, gw.addr, k);
    let (admin, employee, auditor) = (c(&p.admin), c(&p.employee), c(&p.auditor));
    let kh = c(&cluster.key_holders[0]);

    // Public documents; the deployment matches the genesis.
    let d = admin.deployment().await.unwrap();
    assert_eq!(d.chain_id, ChainId(cluster.genesis.chainId));
    assert_eq!(d.deployment_id, DeploymentId(cluster.genesis.deploymentId));

    // Registration is the admin's, with separation of duties.
    assert_eq!(
        code(employee.register(p.auditor.address(), "x", &[Role::Employee]).await),
        (403, "role_required".into())
    );
    assert_eq!(
        code(admin.register(cluster.key_holders[1].address(), "kh", &[Role::Approver]).await),
        (422, "separation_of_duties".into())
    );
    assert_eq!(
        code(admin.register(p.admin.address(), "me", &[Role::Approver]).await),
        (422, "separation_of_duties".into())
    );

    let flow = active_flow(&cluster, gw.addr, &p, 1).await;
    assert_eq!(kh.me().await.unwrap().roles, vec![Role::KeyHolder]);
    assert_eq!(
        code(auditor.register(p.auditor.address(), "x", &[Role::Employee]).await),
        (403, "role_required".into())
    );

    // --- the transfer path ---
    let req = request(flow, &p.employee, 3 * ETH / 2, "t1");
    let t = employee.apply(&req).await.unwrap();
    let id = t.id;
    assert_eq!(id, cluster.domain.transfer_id(&req));
    assert_eq!((t.status.state, t.open_level), (TransferState::Collecting, Some(1)));
    assert_eq!(t.display_amount.as_deref(), Some("1.5 ETH"));
    let raw = employee.send("GET", &format!("/v1/transfers/{id}"), vec![], true).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&raw.body).unwrap();
    assert_eq!(json["request"]["amount"], "1500000000000000000", "amounts are decimal base units at the edge");
    assert_eq!(json["status"]["state"], "collecting", "statuses are their documented words at the edge");
    assert_eq!(code(employee.apply(&req).await), (409, "already_applied".into()));
    // Someone else's application, or an application outside the employee group.
    let mut forged = request(flow, &p.employee, ETH, "forged");
    forged.applicant = p.l1[0].address();
    let body = box_api::ApplyIn {
        request: forged.clone().into(),
        signature: cluster.domain.sign(&p.employee, &forged).into(),
    };
    let r = employee.send("POST", "/v1/transfers", serde_json::to_vec(&body).unwrap(), true).await.unwrap();
    assert_eq!((r.status, err_code(&r.body)), (403, "not_the_applicant".into()));
    assert_eq!(code(c(&p.l1[0]).apply(&request(flow, &p.l1[0], ETH, "l1")).await), (403, "role_required".into()));
    let over = request(flow, &p.employee, 11 * ETH, "over");
    assert_eq!(code(employee.apply(&over).await), (422, "over_limit".into()));
    // Issue 11, fault 5: 1 wei under a fee cap of 10^24 wei; the flow caps fees at 0.1 ETH.
    let mut greedy = request(flow, &p.employee, 1, "greedy");
    greedy.maxFee = U256::from(10u64).pow(U256::from(24u64));
    let e = employee.apply(&greedy).await.expect_err("an over-cap fee is refused");
    assert_eq!((e.status(), e.code()), (Some(422), Some("over_fee_cap")), "{e}");
    assert!(e.to_string().contains("the fee cap of 1000000 ETH exceeds the flow's fee cap of 0.1 ETH"), "{e}");

    // Role checks on approval: an employee, an auditor, an admin and a key holder cannot approve.
    for who in [&employee, &auditor, &admin] {
        assert_eq!(code(who.approve(&id).await), (403, "role_required".into()));
    }
    assert_eq!(code(kh.approve(&id).await), (403, "role_required".into()));
    // A key holder's governance signature cannot stand in for an approval.
    let gov_sig = cluster.key_holders[0].sign_hash(
        &GovernanceAction::PauseTransfers(PauseTransfers { paused: true, reason: "x".into(), nonce: 9 })
            .signing_hash(&cluster.domain),
    );
    let l1a = c(&p.l1[0]);
    let body =
        serde_json::json!({"level": 1, "signature": format!("0x{}", hex::encode(gov_sig.as_bytes()))}).to_string();
    let r = l1a.send("POST", &format!("/v1/transfers/{id}/approvals"), body.into_bytes(), true).await.unwrap();
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));

    // Level 1: two of three.
    let t = l1a.approve(&id).await.unwrap();
    assert_eq!(t.levels[0].signatures.len(), 1);
    assert!(!t.levels[0].complete);
    assert_eq!(code(l1a.approve(&id).await), (409, "already_approved".into()));
    assert!(c(&p.l1[1]).pending_approvals().await.unwrap().iter().any(|s| s.id == id));
    assert!(!l1a.pending_approvals().await.unwrap().iter().any(|s| s.id == id));
    let t = c(&p.l1[1]).approve(&id).await.unwrap();
    assert!(t.levels[0].complete, "the threshold closes the level");
    assert_eq!(t.open_level, Some(2));
    // The level is closed: a third level-1 approver is not an approver of level 2.
    assert_eq!(code(c(&p.l1[2]).approve(&id).await), (403, "not_an_approver".into()));
    // Level 2, by the second finance approver, completes it and queues it for the chain.
    let t = c(&p.l2[1]).approve(&id).await.unwrap();
    assert_eq!(t.open_level, None);
    assert!(t.relay.is_some(), "queued in the outbox with the approval");
    let done = wait_transfer(&employee, &id, TransferState::Notarized).await;
    assert_eq!(done.levels.iter().map(|l| l.signatures.len()).collect::<Vec<_>>(), vec![2, 1]);
    assert_eq!(employee.transfers(&TransferQuery::default()).await.unwrap().len(), 1);

    // Nobody approves their own request; a rejection closes it with the reason.
    let own = request(flow, &p.l2[0], ETH, "own");
    let own_id = c(&p.l2[0]).apply(&own).await.unwrap().id;
    l1a.approve(&own_id).await.unwrap();
    c(&p.l1[1]).approve(&own_id).await.unwrap();
    assert_eq!(code(c(&p.l2[0]).approve(&own_id).await), (403, "self_approval".into()));
    assert_eq!(code(employee.reject(&own_id, "no").await), (403, "role_required".into()));
    let rejected = c(&p.l2[1]).reject(&own_id, "not in this quarter's budget").await.unwrap();
    assert_eq!(rejected.status.state, TransferState::RejectedByApprover);
    assert_eq!(rejected.status.reason.as_deref(), Some("not in this quarter's budget"));
    assert_eq!(code(c(&p.l2[1]).approve(&own_id).await), (409, "not_collecting".into()));
    // An employee sees only their own transfers; an auditor sees all and changes nothing.
    assert_eq!(code(employee.transfer(&own_id).await), (403, "not_allowed_to_read".into()));
    assert_eq!(auditor.transfers(&TransferQuery::default()).await.unwrap().len(), 2);
    assert_eq!(code(auditor.apply(&request(flow, &p.auditor, ETH, "aud")).await), (403, "role_required".into()));
    assert_eq!(code(auditor.reject(&id, "x").await), (403, "role_required".into()));

    // --- the request layer: each refusal is documented and changes nothing ---
    let t3 = employee.apply(&request(flow, &p.employee, ETH, "t3")).await.unwrap().id;
    let before = employee.transfer(&t3).await.unwrap();
    let l1b = c(&p.l1[1]);
    let (_, tb, level) = l1b.verified_transfer(&t3).await.unwrap();
    let sig = cluster.domain.sign(&p.l1[1], &tb.approval_for(level as usize));
    let path = format!("/v1/transfers/{t3}/approvals");
    let body =
        serde_json::json!({"level": level, "signature": format!("0x{}", hex::encode(sig.as_bytes()))}).to_string();
    let nonce = B256::repeat_byte(0x5A);
    // Tampered: the body changed after signing.
    let headers = l1b.sign_headers("POST", &path, body.as_bytes(), now(), nonce);
    let tampered = body.replace("\"level\":1", "\"level\":2");
    let r = l1b.send_with("POST", &path, tampered.into_bytes(), &headers).await.unwrap();
    assert_eq!((r.status, err_code(&r.body)), (401, "bad_signature".into()));
    // Stale.
    let stale = l1b.sign_headers("POST", &path, body.as_bytes(), now() - 3600, nonce);
    let r = l1b.send_with("POST", &path, body.clone().into_bytes(), &stale).await.unwrap();
    assert_eq!((r.status, err_code(&r.body)), (401, "stale_timestamp".into()));
    // Malformed JSON and unknown fields: 400, and the nonce is not spent.
    for (bad, want) in
        [("{\"level\": 1,", "malformed_json"), ("{\"level\":1,\"signature\":\"0x00\",\"extra\":1}", "invalid_body")]
    {
        let n = B256::repeat_byte(0x77);
        let h = l1b.sign_headers("POST", &path, bad.as_bytes(), now(), n);
        let r = l1b.send_with("POST", &path, bad.as_bytes().to_vec(), &h).await.unwrap();
        assert_eq!((r.status, err_code(&r.body)), (400, want.into()), "{bad}");
        assert!(!gw.state.store.nonce_seen(&p.l1[1].address(), &n).await.unwrap());
    }
    // Oversize.
    let huge = vec![b' '; 70_000];
    let h = l1b.sign_headers("POST", &path, &huge, now(), B256::repeat_byte(0x66));
    let r = l1b.send_with("POST", &path, huge, &h).await.unwrap();
    assert_eq!((r.status, err_code(&r.body)), (413, "body_too_large".into()));
    assert_eq!(employee.transfer(&t3).await.unwrap(), before, "no refusal changed the transfer");
    // The genuine request once, then its replay.
    let r = l1b.send_with("POST", &path, body.clone().into_bytes(), &headers).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let after = employee.transfer(&t3).await.unwrap();
    let r = l1b.send_with("POST", &path, body.clone().into_bytes(), &headers).await.unwrap();
    assert_eq!((r.status, err_code(&r.body)), (409, "nonce_reused".into()));
    assert_eq!(employee.transfer(&t3).await.unwrap(), after, "the replay changed nothing");
    // Missing credentials.
    let r = l1b.send("GET", "/v1/me", vec![], false).await.unwrap();
    assert_eq!((r.status, err_code(&r.body)), (401, "missing_credentials".into()));

    // Bad signatures naming someone never lock them (issue 11, fault 2): five
    // requests naming l1[2], signed by another key or over other bytes, are
    // refused, and l1[2]'s own next request goes through. (Throttling by
    // source and the emergency lane: tests/edge.rs.)
    let victim = c(&p.l1[2]);
    let forger = c(&box_testkit::key("forger"));
    for i in 0..5u8 {
        let mut h = forger.sign_headers("GET", "/v1/me", b"", now(), B256::repeat_byte(i));
        h[0].1 = p.l1[2].address().to_checksum(None);
        let r = forger.send_with("GET", "/v1/me", vec![], &h).await.unwrap();
        assert_eq!((r.status, err_code(&r.body)), (401, "bad_signature".into()));
        let h = victim.sign_headers("GET", "/v1/me", b"", now(), B256::repeat_byte(0x10 + i));
        let r = victim.send_with("GET", "/v1/status", vec![], &h).await.unwrap();
        assert_eq!(r.status, 401);
    }
    let r = victim.send("GET", "/v1/me", vec![], true).await.unwrap();
    assert_eq!(r.status, 200, "the named key is not locked: {}", String::from_utf8_lossy(&r.body));

    // Bodies are JSON only (fault 8): text and form encodings get 415 and spend no nonce.
    let t4 = employee.apply(&request(flow, &p.employee, ETH, "t4")).await.unwrap().id;
    let path4 = format!("/v1/transfers/{t4}/approvals");
    for (ctype, body) in [
        ("text/plain", body.clone()),
        ("text/plain;charset=UTF-8", body.clone()),
        ("application/x-www-form-urlencoded", format!("level=1&signature=0x{}", hex::encode(sig.as_bytes()))),
        ("multipart/form-data; boundary=x", "--x\r\n\r\n1\r\n--x--".to_owned()),
    ] {
        let n = B256::repeat_byte(0x44);
        let mut h = l1b.sign_headers("POST", &path4, body.as_bytes(), now(), n);
        h.push(("content-type", ctype.to_owned()));
        let r = l1b.send_with("POST", &path4, body.into_bytes(), &h).await.unwrap();
        assert_eq!((r.status, err_code(&r.body)), (415, "unsupported_media_type".into()), "{ctype}");
        assert!(err_message(&r.body).contains("application/json"), "{ctype}");
        assert!(!gw.state.store.nonce_seen(&p.l1[1].address(), &n).await.unwrap());
    }
    assert_eq!(employee.transfer(&t4).await.unwrap().levels[0].signatures.len(), 0, "nothing was approved");
    // Request timestamps of 0 and far in the future are refused at the edge (fault 8):
    // in the signed headers (401) and in the signed application (422, box-core's rule for the future).
    for ts in [0, now() + 10 * 365 * 86_400, u64::MAX] {
        let h = employee.sign_headers("GET", "/v1/me", b"", ts, B256::repeat_byte(0x45));
        let r = employee.send_with("GET", "/v1/me", vec![], &h).await.unwrap();
        assert_eq!((r.status, err_code(&r.body)), (401, "stale_timestamp".into()), "{ts}");
        assert!(err_message(&r.body).contains("check the client's clock"), "{}", err_message(&r.body));
    }
    for (ts, want, reason) in [
        (0, "stale_request", "sign it again with the current time"),
        (now() - 3600, "stale_request", "sign it again with the current time"),
        (now() + 3600, "future_request", "more than 300s after now"),
        (u64::MAX, "future_request", "more than 300s after now"),
    ] {
        let mut r = request(flow, &p.employee, ETH, &format!("dated {ts}"));
        r.timestamp = ts;
        let e = employee.apply(&r).await.expect_err("a misdated application is refused");
        assert_eq!((e.status(), e.code()), (Some(422), Some(want)), "{ts}: {e}");
        assert!(e.to_string().contains(reason), "{e}");
    }

    // Escrow (fault 7): the admin parks an encrypted keystore with the hash of
    // a download token. Unsigned, it can be claimed once with the token; then
    // only its owner (and admins) read it, signed. Every failed claim gets the
    // same answer, so nobody learns who has an escrowed key.
    let ks = serde_json::json!({"version": 3, "id": "x", "address": hex::encode(p.employee.address()),
        "crypto": {"cipher": "aes-128-ctr", "ciphertext": "00", "cipherparams": {"iv": "00"}, "kdf": "scrypt",
                   "kdfparams": {"n": 8192}, "mac": "00"}});
    let token = B256::repeat_byte(0x70);
    admin.put_keystore(p.employee.address(), ks.clone(), Some(token)).await.unwrap();
    let own = serde_json::json!({"version": 3, "address": hex::encode(p.l2[1].address()),
        "crypto": {"cipher": "aes-128-ctr", "ciphertext": "01", "cipherparams": {"iv": "00"}, "kdf": "scrypt",
                   "kdfparams": {"n": 8192}, "mac": "00"}});
    c(&p.l2[1]).put_keystore(p.l2[1].address(), own, None).await.unwrap();
    let nobody = client(&cluster, gw.addr, &box_testkit::key("nobody"));
    let claim = |who: box_core::Address, token: B256| {
        let nobody = &nobody;
        async move {
            let body = serde_json::json!({"token": token.to_string()}).to_string();
            let path = format!("/v1/people/{}/keystore/claim", who.to_checksum(None));
            let r = nobody.send("POST", &path, body.into_bytes(), false).await.unwrap();
            (r.status, String::from_utf8_lossy(&r.body).into_owned())
        }
    };
    let unknown = claim(box_core::Address::repeat_byte(0x99), token).await;
    assert_eq!(unknown.0, 404, "{}", unknown.1);
    assert!(unknown.1.contains("nothing_to_claim"), "{}", unknown.1);
    for (who, t, case) in [
        (p.auditor.address(), token, "registered, nothing escrowed"),
        (p.l2[1].address(), token, "a keystore its owner uploaded (no token)"),
        (p.employee.address(), B256::repeat_byte(0x71), "the wrong token"),
    ] {
        assert_eq!(claim(who, t).await, unknown, "{case}: the same answer as for an unknown address");
    }
    let (status, text) = claim(p.employee.address(), token).await;
    assert_eq!(status, 200, "{text}");
    let got: box_api::EscrowOut = serde_json::from_str(&text).unwrap();
    assert_eq!(got.keystore, ks);
    assert_eq!(claim(p.employee.address(), token).await, unknown, "the token works once");
    // Then signed only: the unsigned read names no one, the owner reads it signed.
    let r = nobody.send("GET", &format!("/v1/people/{}/keystore", p.employee.address()), vec![], false).await.unwrap();
    assert_eq!((r.status, err_code(&r.body)), (401, "missing_credentials".into()));
    assert_eq!(employee.keystore(p.employee.address()).await.unwrap().keystore, ks);
    assert_eq!(code(l1a.keystore(p.employee.address()).await), (403, "role_required".into()));
    assert_eq!(code(nobody.keystore(p.employee.address()).await), (403, "role_required".into()));
    assert_eq!(code(admin.put_keystore(p.l1[0].address(), ks, None).await), (422, "invalid_keystore".into()));

    // Governance: one key holder pauses; resuming needs all of them.
    let pause = GovernanceAction::PauseTransfers(PauseTransfers { paused: true, reason: "audit".into(), nonce: 1 });
    assert!(kh.sign_governance(&pause).await.unwrap().relay.is_some());
    eventually("paused", Duration::from_secs(60), || async {
        admin.status().await.ok().filter(|s| s.paused.as_deref() == Some("audit"))
    })
    .await;
    assert_eq!(code(employee.apply(&request(flow, &p.employee, ETH, "p")).await), (422, "paused".into()));
    let resume = GovernanceAction::PauseTransfers(PauseTransfers { paused: false, reason: String::new(), nonce: 2 });
    for (i, k) in cluster.key_holders.iter().enumerate() {
        let g = c(k).sign_governance(&resume).await.unwrap();
        assert_eq!(g.relay.is_some(), i == 2, "queued only with every key holder's signature");
    }
    eventually("resumed", Duration::from_secs(60), || async {
        admin.status().await.ok().filter(|s| s.paused.is_none())
    })
    .await;

    // Cluster status and the audit export, which verifies offline against the genesis.
    let cl = auditor.cluster().await.unwrap();
    assert_eq!(cl.nodes.len(), 3);
    assert!(cl.nodes.iter().all(|n| n.reachable) && cl.leader.is_some());
    let status = admin.status().await.unwrap();
    let (genesis, blocks) = eventually("the export catches up", Duration::from_secs(30), || async {
        let (g, b) = auditor.audit_export().await.ok()?;
        (b.len() as u64 >= status.verified_height).then_some((g, b))
    })
    .await;
    assert_eq!(genesis, cluster.genesis);
    let report = verify_history(&genesis, &blocks).unwrap();
    assert!(report.notarized >= 8, "{} notarized", report.notarized);
    assert_eq!(code(employee.audit_export().await.map(|_| ())), (403, "role_required".into()));
    assert!(U256::from(report.blocks) > U256::ZERO);

    // A disabled flow cannot be enabled again, and the refusal says so in
    // words (it printed `Some(Disabled)`: fault 8).
    kh.authorize_flow(flow, false).await.unwrap();
    wait_flow(&admin, flow, FlowState::Disabled).await;
    let e = kh.authorize_flow(flow, true).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(409), Some("flow_closed")));
    assert!(e.to_string().contains("is disabled; it cannot be enabled"), "{e}");
    assert_words(&e.to_string());
    gw.stop().await;
}

fn err_code(body: &[u8]) -> String {
    let v = serde_json::from_slice::<serde_json::Value>(body).unwrap();
    assert_words(v["message"].as_str().unwrap_or(""));
    v["code"].as_str().unwrap_or("").to_owned()
}

fn err_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body).unwrap()["message"].as_str().unwrap_or("").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_path_on_sqlite() {
    scenario(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_path_on_postgres() {
    let pg = Postgres::start();
    let url = pg.database("gateway_e2e").await;
    scenario(Db::Postgres(url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after_and_a_chain_outage_503() {
    let mut cluster = Cluster::start(&box_node(), 3, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let limits = "per_key_per_minute = 60\nper_ip_per_minute = 100000\nburst = 3";
    let gw = start(&cluster, dir.path(), &Db::Sqlite, limits).await;
    let someone = client(&cluster, gw.addr, &box_testkit::key("stranger"));
    for _ in 0..3 {
        let r = someone.send("GET", "/v1/me", vec![], true).await.unwrap();
        assert_eq!(r.status, 200);
    }
    let r = someone.send("GET", "/v1/me", vec![], true).await.unwrap();
    assert_eq!((r.status, err_code(&r.body)), (429, "rate_limited".into()));
    assert_eq!(r.retry_after, Some(1));
    // Another key is not limited by the first one's bucket.
    let kh = client(&cluster, gw.addr, &cluster.key_holders[0]);
    assert!(kh.cluster().await.unwrap().nodes.iter().all(|n| n.reachable));
    for id in 1..=3 {
        cluster.kill(id);
    }
    let r = kh.send("GET", "/v1/cluster", vec![], true).await.unwrap();
    assert_eq!((r.status, err_code(&r.body)), (503, "chain_unavailable".into()));
    assert!(r.retry_after.is_some());
    gw.stop().await;
}
