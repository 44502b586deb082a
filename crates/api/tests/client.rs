//! The client against a real HTTPS server on 127.0.0.1 that plays the
//! gateway: the client trusts only the CA it is given, speaks HTTPS only,
//! signs the path and query string exactly as reqwest sent them (the server
//! checks each request with `box_api::auth::Credentials`, as the gateway
//! does), and signs nothing a dishonest gateway shows that does not verify
//! (DESIGN.md §2: the gateway can delay, never forge).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_api::auth::Credentials;
use box_api::{
    ApproveIn, Client, ClientError, CollectionState, HexBytes, LevelProgress, SignatureOut, SignerOut, TransferOut,
    TransferQuery, TransferState, TransferStatusOut,
};
use box_core::ceremony::{SignerAnnounce, SignerState};
use box_core::crypto::SecretKey;
use box_core::ids::{ChainId, DeploymentId, FlowHash};
use box_core::transbox::TransBox;
use box_core::typed::{Domain, TransferRequest};
use box_core::{Address, B256, Signature, U256};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn domain() -> Domain {
    Domain { chain_id: ChainId(31337), deployment: DeploymentId(B256::repeat_byte(7)) }
}

/// A CA and a server certificate for 127.0.0.1 it issued.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().signed_by(&key, &issuer).unwrap();
    Pki { ca_pem, cert_pem: cert.pem(), key_pem: key.serialize_pem() }
}

/// One request as the server read it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// What the server answers a request with: status and JSON body.
type Responder = Arc<dyn Fn(&Seen) -> (u16, String) + Send + Sync>;

/// An HTTPS server that answers `200 []` to everything and records each request.
async fn server(pki: &Pki) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    server_with(pki, Arc::new(|_: &Seen| (200, "[]".to_owned()))).await
}

/// An HTTPS server that answers with `respond` and records each request.
async fn server_with(pki: &Pki, respond: Responder) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(pki.cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, log, respond) = (acceptor.clone(), log.clone(), respond.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                loop {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if tls.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let text = String::from_utf8_lossy(&head).into_owned();
                    let mut lines = text.split("\r\n");
                    let mut first = lines.next().unwrap_or_default().split(' ');
                    let (method, target) = (first.next().unwrap_or_default(), first.next().unwrap_or_default());
                    let headers: HashMap<String, String> = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let len = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0usize);
                    let mut body = vec![0u8; len];
                    tls.read_exact(&mut body).await.unwrap();
                    let seen = Seen { method: method.to_owned(), target: target.to_owned(), headers, body };
                    let (status, body) = respond(&seen);
                    log.lock().unwrap().push(seen);
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if tls.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn signs_the_query_string_as_sent_and_trusts_only_the_given_ca() {
    let ours = pki();
    let (addr, seen) = server(&ours).await;
    let key = SecretKey::from_label_unchecked("approver");
    let client = Client::new(&format!("https://{addr}"), &ours.ca_pem, key.clone(), domain()).unwrap();

    // A query with every kind of value; reqwest builds and encodes it.
    let q = TransferQuery {
        applicant: Some(Address::repeat_byte(0xab)),
        state: Some(CollectionState::Collecting),
        flow: Some(FlowHash(B256::repeat_byte(0xf1))),
        limit: Some(500),
        offset: Some(0),
    };
    assert!(client.transfers(&q).await.unwrap().is_empty());
    let r = seen.lock().unwrap().pop().unwrap();
    assert_eq!(r.method, "GET");
    let (path, query) = r.target.split_once('?').unwrap();
    assert_eq!(path, "/v1/transfers");
    assert!(query.contains("state=collecting") && query.contains("limit=500"), "{query}");
    assert!(query.contains(&format!("applicant={}", Address::repeat_byte(0xab).to_checksum(None))), "{query}");
    // The signature covers exactly the target the server received.
    let creds = Credentials::parse(|h| r.headers.get(h).map(String::as_str)).unwrap();
    assert_eq!(creds.signer, key.address());
    let now = creds.timestamp;
    creds.verify(&domain(), &r.method, &r.target, &r.body, now, 300).unwrap();
    assert!(creds.verify(&domain(), &r.method, path, &r.body, now, 300).is_err(), "the query is signed too");

    // A body is JSON, signed with it; two requests never share a nonce.
    let _ = client.reject(&B256::repeat_byte(1).into(), "not this quarter").await;
    let r = seen.lock().unwrap().pop().unwrap();
    assert_eq!(r.headers.get("content-type").map(String::as_str), Some("application/json"));
    let again = Credentials::parse(|h| r.headers.get(h).map(String::as_str)).unwrap();
    again.verify(&domain(), "POST", &r.target, &r.body, again.timestamp, 300).unwrap();
    assert_ne!(again.nonce, creds.nonce);

    // A client given another CA refuses the server's certificate.
    let stranger = pki();
    let other = Client::new(&format!("https://{addr}"), &stranger.ca_pem, key.clone(), domain()).unwrap();
    let before = seen.lock().unwrap().len();
    match other.me().await {
        // A certificate problem is its own kind (issue 17 item 6), with the cause in words.
        Err(ClientError::Certificate(m)) => {
            assert!(m.to_lowercase().contains("certificate"), "{m}");
            assert!(m.contains("not signed by the CA in the profile"), "{m}");
        }
        other => panic!("expected a refused certificate, got {other:?}"),
    }
    // The right CA, but a name the certificate does not list (it names 127.0.0.1 only).
    let by_name =
        Client::new(&format!("https://localhost:{}", addr.port()), &ours.ca_pem, key.clone(), domain()).unwrap();
    match by_name.me().await {
        Err(ClientError::Certificate(m)) => assert!(m.contains("not valid for the name"), "{m}"),
        other => panic!("expected a certificate for another name, got {other:?}"),
    }
    assert_eq!(seen.lock().unwrap().len(), before, "nothing reached the server");
    // Nothing listening: connection refused, said in words (no Rust debug text).
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let nobody = Client::new(&format!("https://{free}"), &ours.ca_pem, key.clone(), domain()).unwrap();
    match nobody.me().await {
        Err(ClientError::Transport(m)) => {
            assert!(m.contains("connection refused") && m.contains("is the gateway running"), "{m}");
            assert!(!m.contains("{ ") && !m.contains("Some(") && !m.contains("Error("), "{m}");
        }
        other => panic!("expected connection refused, got {other:?}"),
    }
}

#[test]
fn https_only_and_a_usable_ca() {
    let key = SecretKey::from_label_unchecked("someone");
    let e = Client::new("http://127.0.0.1:8443", &pki().ca_pem, key.clone(), domain()).unwrap_err();
    assert!(matches!(&e, ClientError::Input(m) if m.contains("HTTPS only")), "{e}");
    let e = Client::new("https://127.0.0.1:8443", "not a certificate", key, domain()).unwrap_err();
    assert!(matches!(&e, ClientError::Input(m) if m.contains("holds no certificate")), "{e}");
}

/// A transfer at level `open`, with `levels` closed below it, as a gateway shows it.
fn shown(
    request: &TransferRequest,
    applicant_sig: Signature,
    open: u32,
    levels: Vec<Vec<(Address, Signature)>>,
) -> String {
    let t = TransferOut {
        id: domain().transfer_id(request),
        request: request.clone().into(),
        applicant_signature: applicant_sig.into(),
        display_amount: None,
        levels: levels
            .into_iter()
            .enumerate()
            .map(|(i, sigs)| LevelProgress {
                level: u32::try_from(i + 1).unwrap(),
                name: format!("level {}", i + 1),
                threshold: 1,
                approvers: sigs.iter().map(|(a, _)| *a).collect(),
                signatures: sigs.iter().map(|(a, s)| SignatureOut { approver: *a, signature: (*s).into() }).collect(),
                complete: true,
            })
            .collect(),
        open_level: Some(open),
        status: TransferStatusOut::of(TransferState::Collecting),
        rejected_by: None,
        relay: None,
        created_at: 1,
        updated_at: 1,
    };
    serde_json::to_string(&t).unwrap()
}

fn request(applicant: &SecretKey, amount: u64) -> TransferRequest {
    TransferRequest {
        requestId: B256::repeat_byte(1),
        flowHash: B256::repeat_byte(2),
        applicant: applicant.address(),
        asset: Address::ZERO,
        to: Address::repeat_byte(0xd5),
        amount: U256::from(amount),
        maxFee: U256::from(1u8),
        chainId: 31337,
        timestamp: 1,
    }
}

/// What a compromised gateway shows to get a signature is checked first:
/// the request must hash to the transfer id, the applicant must have signed
/// it, and no lower level's signature may be the applicant's or this
/// approver's own. Nothing is signed or sent otherwise. (Whether the lower
/// signers are the flow's approvers is the nodes' and the signer's check:
/// the approval commits to exactly the signatures shown, via `below`.)
#[tokio::test]
async fn approves_only_what_verifies() {
    let ours = pki();
    let (employee, lead, approver) = (
        SecretKey::from_label_unchecked("employee"),
        SecretKey::from_label_unchecked("lead"),
        SecretKey::from_label_unchecked("finance"),
    );
    let honest = request(&employee, 10);
    let id = domain().transfer_id(&honest);
    let applicant_sig = domain().sign(&employee, &honest);
    let below = TransBox { request: honest.clone(), applicant_signature: applicant_sig, levels: vec![] };
    let lead_sig = domain().sign(&lead, &below.approval_for(1));
    let cases: Vec<(&str, String)> = vec![
        ("the request does not hash to the id", {
            let mut t: serde_json::Value =
                serde_json::from_str(&shown(&honest, applicant_sig, 2, vec![vec![(lead.address(), lead_sig)]]))
                    .unwrap();
            t["request"]["amount"] = "1000000".into();
            t.to_string()
        }),
        ("another key signed as the applicant", {
            let forged = domain().sign(&lead, &honest);
            shown(&honest, forged, 2, vec![vec![(lead.address(), lead_sig)]])
        }),
        ("this approver's own signature at a lower level (counting twice)", {
            let mine = domain().sign(&approver, &below.approval_for(1));
            shown(&honest, applicant_sig, 2, vec![vec![(approver.address(), mine)]])
        }),
        ("the applicant approving their own request below", {
            let own = domain().sign(&employee, &below.approval_for(1));
            shown(&honest, applicant_sig, 2, vec![vec![(employee.address(), own)]])
        }),
    ];
    for (case, body) in cases {
        let body = Arc::new(body);
        let (addr, seen) = server_with(&ours, Arc::new(move |_: &Seen| (200, (*body).clone()))).await;
        let client = Client::new(&format!("https://{addr}"), &ours.ca_pem, approver.clone(), domain()).unwrap();
        match client.approve(&id).await {
            Err(ClientError::Untrusted(_)) => {}
            other => panic!("{case}: expected a refusal to sign, got {other:?}"),
        }
        assert!(seen.lock().unwrap().iter().all(|r| r.method == "GET"), "{case}: nothing was posted");
    }

    // The honest transfer: the approval is signed over the nested Approval the
    // client computed from the signatures it checked, and posted for level 2.
    let page = shown(&honest, applicant_sig, 2, vec![vec![(lead.address(), lead_sig)]]);
    let (addr, seen) = server_with(&ours, Arc::new(move |_: &Seen| (200, page.clone()))).await;
    let client = Client::new(&format!("https://{addr}"), &ours.ca_pem, approver.clone(), domain()).unwrap();
    client.approve(&id).await.unwrap();
    let post = seen.lock().unwrap().iter().find(|r| r.method == "POST").cloned().unwrap();
    assert_eq!(post.target, format!("/v1/transfers/{id}/approvals"));
    let sent: ApproveIn = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(sent.level, 2);
    let want = TransBox { levels: vec![vec![lead_sig]], ..below }.approval_for(2);
    assert_eq!(domain().recover(&want, &sent.signature.0).unwrap(), approver.address());
}

/// A signer announcement the genesis's signer did not sign is refused: a
/// key holder never seals a phrase to a ceremony key the gateway chose.
#[tokio::test]
async fn the_signer_announcement_must_be_the_genesis_signers() {
    let ours = pki();
    let (signer, impostor) = (SecretKey::from_label_unchecked("signer"), SecretKey::from_label_unchecked("gateway"));
    let announce = SignerAnnounce {
        boot: B256::repeat_byte(3),
        sequence: 4,
        state: SignerState::Unsealed as u8,
        ceremonyKey: vec![7u8; 32].into(),
        wallet: Address::repeat_byte(9),
        devices: vec![Address::repeat_byte(1)],
        holders: 1,
        received: 0,
        paused: false,
        detail: "ready".into(),
        time: 5,
    };
    let out = |by: &SecretKey| SignerOut {
        boot: announce.boot,
        sequence: announce.sequence,
        state: Some(SignerState::Unsealed),
        ceremony_key: HexBytes(announce.ceremonyKey.to_vec()),
        wallet: announce.wallet,
        devices: announce.devices.clone(),
        holders: announce.holders,
        received: announce.received,
        paused: announce.paused,
        detail: announce.detail.clone(),
        time: announce.time,
        signature: domain().sign(by, &announce).into(),
        verified_height: 1,
    };
    for (by, ok) in [(&signer, true), (&impostor, false)] {
        let body = serde_json::to_string(&out(by)).unwrap();
        let (addr, _) = server_with(&ours, Arc::new(move |_: &Seen| (200, body.clone()))).await;
        let client = Client::new(&format!("https://{addr}"), &ours.ca_pem, signer.clone(), domain()).unwrap();
        match client.signer_announce(signer.address()).await {
            Ok(a) => assert!(ok && a == announce, "accepted an announcement signed by {}", by.address()),
            Err(e) => assert!(!ok && matches!(e, ClientError::Untrusted(_)), "{e}"),
        }
    }
}
