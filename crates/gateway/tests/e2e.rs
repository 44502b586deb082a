//! The gateway over real HTTPS, on a real SQLite file and a real PostgreSQL
//! server, against a real 3-node cluster: the full flow and transfer path,
//! every role check, and every refusal of the request layer, each leaving
//! the state unchanged. One scenario, run on both stores.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::audit::verify_history;
use box_core::governance::GovernanceAction;
use box_core::typed::PauseTransfers;
use box_core::{B256, U256};
use box_gateway::Gateway;
use box_gateway::api::dto::TransferQuery;
use box_gateway::config::GatewayConfig;
use box_gateway::roles::Role;
use box_testkit::{Cluster, eventually, free_port};
use common::*;
use std::time::Duration;

const ETH: u128 = 1_000_000_000_000_000_000;

async fn start(cluster: &Cluster, dir: &std::path::Path, db: &Db, limits: &str) -> Gateway {
    let cfg = write_config(cluster, dir, db, free_port(), limits);
    Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap()
}

fn code(r: Result<impl std::fmt::Debug, box_gateway::client::ClientError>) -> (u16, String) {
    let e = r.expect_err("the gateway must refuse this");
    (e.status().unwrap_or(0), e.code().unwrap_or("").to_owned())
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
    assert_eq!(d.chain_id, cluster.genesis.chainId);
    assert_eq!(d.deployment_id, cluster.genesis.deploymentId.to_string());

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
    let id = t.id.clone();
    assert_eq!(id, cluster.domain.transfer_id(&req).to_string());
    assert_eq!((t.status.state.as_str(), t.open_level), ("collecting", Some(1)));
    assert_eq!(t.display_amount.as_deref(), Some("1.5 ETH"));
    assert_eq!(t.request.amount, "1500000000000000000", "amounts are decimal base units at the edge");
    assert_eq!(code(employee.apply(&req).await), (409, "already_applied".into()));
    // Someone else's application, or an application outside the employee group.
    let mut forged = request(flow, &p.employee, ETH, "forged");
    forged.applicant = p.l1[0].address();
    let body = box_gateway::api::dto::ApplyIn {
        request: box_gateway::api::dto::TransferRequestJson::from_request(&forged),
        signature: box_gateway::api::dto::sig_hex(&cluster.domain.sign(&p.employee, &forged)),
    };
    let r = employee.send("POST", "/v1/transfers", serde_json::to_vec(&body).unwrap(), true).await.unwrap();
    assert_eq!((r.status, err_code(&r.body)), (403, "not_the_applicant".into()));
    assert_eq!(code(c(&p.l1[0]).apply(&request(flow, &p.l1[0], ETH, "l1")).await), (403, "role_required".into()));
    let over = request(flow, &p.employee, 11 * ETH, "over");
    assert_eq!(code(employee.apply(&over).await), (422, "over_limit".into()));

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
    let done = wait_transfer(&employee, &id, "notarized").await;
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
    assert_eq!(rejected.status.state, "rejected_by_approver");
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
        assert!(
            !gw.state.store.nonce_seen(&format!("0x{}", hex::encode(p.l1[1].address())), &n.to_string()).await.unwrap()
        );
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

    // Repeated bad signatures lock the key, even for a good signature afterwards.
    let victim = c(&p.l1[2]);
    for i in 0..5u8 {
        let h = victim.sign_headers("GET", "/v1/me", b"", now(), B256::repeat_byte(i));
        let r = victim.send_with("GET", "/v1/status", vec![], &h).await.unwrap();
        assert_eq!(r.status, 401);
    }
    let r = victim.send("GET", "/v1/me", vec![], true).await.unwrap();
    assert_eq!((r.status, err_code(&r.body)), (429, "key_locked".into()));
    assert!(r.retry_after.is_some_and(|s| s > 0));

    // Escrow: the admin parks an encrypted keystore; only its owner (and admins) read it.
    let ks = serde_json::json!({"version": 3, "id": "x", "address": hex::encode(p.employee.address()),
        "crypto": {"cipher": "aes-128-ctr", "ciphertext": "00", "cipherparams": {"iv": "00"}, "kdf": "scrypt",
                   "kdfparams": {"n": 8192}, "mac": "00"}});
    admin.put_keystore(p.employee.address(), ks.clone()).await.unwrap();
    assert_eq!(employee.keystore(p.employee.address()).await.unwrap().keystore, ks);
    assert_eq!(code(l1a.keystore(p.employee.address()).await), (403, "role_required".into()));
    assert_eq!(code(admin.put_keystore(p.l1[0].address(), ks).await), (422, "invalid_keystore".into()));

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
    gw.stop().await;
}

fn err_code(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body).unwrap()["code"].as_str().unwrap_or("").to_owned()
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
