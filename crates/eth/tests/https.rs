//! `https://` Ethereum nodes: box-eth speaks TLS (rustls, ring) and verifies
//! the node against its roots. The gateway's former client took `http://`
//! only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_eth::{Eth, EthError, EthOptions};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A test CA and a certificate for 127.0.0.1 it issued.
fn certificates() -> (CertificateDer<'static>, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_der = ca.self_signed(&ca_key).unwrap().der().clone();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().signed_by(&key, &issuer).unwrap();
    (ca_der, leaf.der().clone(), PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
}

/// A JSON-RPC server over TLS on 127.0.0.1 that answers `eth_chainId` with
/// 4242 to every connection; returns its URL.
async fn tls_node(leaf: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> String {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A refused handshake (the client does not trust us) ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body = loop {
                    let n = tls.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= len {
                            break body[..len].to_owned();
                        }
                    }
                };
                let req: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(req["method"], "eth_chainId");
                let answer = serde_json::json!({"jsonrpc": "2.0", "id": req["id"], "result": "0x1092"}).to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    url
}

#[tokio::test]
async fn an_https_node_is_reached_with_rustls_and_verified_against_its_ca() {
    let (ca, leaf, key) = certificates();
    let url = tls_node(leaf, key).await;

    let trusting = Eth::connect_with(&url, &EthOptions { extra_roots: vec![ca], ..EthOptions::default() }).unwrap();
    assert_eq!(trusting.chain_id().await.unwrap(), 4242);

    // Without the node's CA the handshake fails: transient from the caller's
    // view (a node may come back with a good certificate), never skipped.
    let stranger = Eth::connect(&url).unwrap();
    match stranger.chain_id().await {
        Err(EthError::Unreachable(m)) => assert!(!m.is_empty()),
        other => panic!("an untrusted certificate must not be accepted: {other:?}"),
    }

    // Only http and https are transports.
    assert!(matches!(Eth::connect("ws://127.0.0.1:1"), Err(EthError::Config(_))));
    assert!(matches!(Eth::connect("not a url"), Err(EthError::Config(_))));
}
