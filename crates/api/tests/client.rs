//! The client against a real HTTPS server on 127.0.0.1: it trusts only the
//! CA it is given, speaks HTTPS only, and signs the path and query string
//! exactly as reqwest sent them (the server checks each request with
//! `box_api::auth::Credentials`, as the gateway does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_api::auth::Credentials;
use box_api::{Client, ClientError, CollectionState, TransferQuery};
use box_core::crypto::SecretKey;
use box_core::ids::{ChainId, DeploymentId, FlowHash};
use box_core::typed::Domain;
use box_core::{Address, B256};
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

/// An HTTPS server that answers every request `200 []` and records it.
async fn server(pki: &Pki) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
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
            let (acceptor, log) = (acceptor.clone(), log.clone());
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
                    log.lock().unwrap().push(seen);
                    let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n[]";
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
        Err(ClientError::Transport(m)) => assert!(m.to_lowercase().contains("certificate"), "{m}"),
        other => panic!("expected a refused certificate, got {other:?}"),
    }
    assert_eq!(seen.lock().unwrap().len(), before, "nothing reached the server");
}

#[test]
fn https_only_and_a_usable_ca() {
    let key = SecretKey::from_label_unchecked("someone");
    let e = Client::new("http://127.0.0.1:8443", &pki().ca_pem, key.clone(), domain()).unwrap_err();
    assert!(matches!(&e, ClientError::Input(m) if m.contains("HTTPS only")), "{e}");
    let e = Client::new("https://127.0.0.1:8443", "not a certificate", key, domain()).unwrap_err();
    assert!(matches!(&e, ClientError::Input(m) if m.contains("holds no certificate")), "{e}");
}
