//! The one typed client of the gateway API: one method per endpoint, every
//! request signed with the caller's own key (see [`crate::auth`]).
//!
//! Transport: reqwest over rustls with the ring provider (built into the
//! client's TLS configuration, never aws-lc), HTTP/1.1, HTTPS only, trusting
//! only the deployment's CA given as PEM (no system roots). Query strings
//! are built by reqwest and signed exactly as sent; request nonces come from
//! the OS's randomness.
//!
//! The client trusts the gateway for nothing it signs: it builds the objects
//! it signs (flow authorizations, governance actions, applications, nested
//! approvals) from data it checks itself. Before approving it recomputes the
//! transfer id from the request, checks the applicant's signature and every
//! lower level's signature, and derives `below` from them locally
//! ([`Client::verified_transfer`]); the signer's announcement is checked
//! against the genesis's signer ([`Client::signer_announce`]). It does not
//! check what it only reads (lists, statuses, balances): those are the
//! gateway's word.
//!
//! ```no_run
//! # async fn demo(ca_pem: &str, key: box_core::crypto::SecretKey, domain: box_core::typed::Domain) -> Result<(), box_api::ClientError> {
//! let client = box_api::Client::new("https://127.0.0.1:8443", ca_pem, key, domain)?;
//! for t in client.pending_approvals().await? {
//!     client.approve(&t.id).await?;
//! }
//! # Ok(()) }
//! ```

mod calls;
mod error;
mod verify;

pub use error::{ClientError, RawResponse, decode};

use crate::auth::sign_request;
use box_core::crypto::SecretKey;
use box_core::typed::Domain;
use box_core::{Address, B256};
use rand_core::{OsRng, TryRngCore};
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Url};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A client acting as one person on one deployment.
pub struct Client {
    base: String,
    http: reqwest::Client,
    key: SecretKey,
    domain: Domain,
    seed: B256,
    counter: AtomicU64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({} as {})", self.base, self.key.address())
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// TLS that trusts the certificates of `ca_pem` and nothing else, with the
/// ring provider.
fn tls_config(ca_pem: &str) -> Result<rustls::ClientConfig, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let c = c.map_err(|e| ClientError::Input(format!("the CA certificate is not PEM: {e}")))?;
        roots.add(c).map_err(|e| ClientError::Input(format!("the CA certificate is not usable: {e}")))?;
    }
    if roots.is_empty() {
        return Err(ClientError::Input("the CA PEM holds no certificate".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Input(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

impl Client {
    /// A client of the gateway at `base_url` (`https://host:port`), trusting
    /// only `ca_pem` for its certificate, signing as `key` under `domain`.
    /// Refuses a base URL that is not `https://`.
    pub fn new(base_url: &str, ca_pem: &str, key: SecretKey, domain: Domain) -> Result<Self, ClientError> {
        let base = base_url.trim_end_matches('/').to_owned();
        let parsed = Url::parse(&base).map_err(|e| ClientError::Input(format!("the gateway URL {base:?}: {e}")))?;
        if parsed.scheme() != "https" {
            return Err(ClientError::Input(format!(
                "the gateway URL {base:?} is not https://; the API is served over HTTPS only"
            )));
        }
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(ca_pem)?)
            .https_only(true)
            .http1_only()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ClientError::Input(format!("cannot set up the HTTPS client: {}", error::error_chain(&e))))?;
        let mut seed = B256::ZERO;
        OsRng
            .try_fill_bytes(seed.as_mut_slice())
            .map_err(|e| ClientError::Input(format!("the operating system gives no randomness for nonces: {e}")))?;
        Ok(Self { base, http, key, domain, seed, counter: AtomicU64::new(0) })
    }

    /// Who this client signs as.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The domain it signs under.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// A fresh request nonce: keccak256(random seed ‖ counter), never
    /// repeated by this client.
    fn nonce(&self) -> B256 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        alloy::primitives::keccak256([self.seed.as_slice(), &n.to_be_bytes()].concat())
    }

    fn url(&self, path: &str) -> Result<Url, ClientError> {
        Url::parse(&format!("{}{path}", self.base)).map_err(|e| ClientError::Input(format!("{path}: {e}")))
    }

    /// Sends a request as is, signed (when `sign`) with a fresh nonce and
    /// the current time over the path and query as sent. For tests of the
    /// gateway's refusals, see [`Client::send_with`].
    pub async fn send(&self, method: &str, path: &str, body: Vec<u8>, sign: bool) -> Result<RawResponse, ClientError> {
        let method = Method::from_bytes(method.as_bytes()).map_err(|e| ClientError::Input(e.to_string()))?;
        let req = self.http.request(method, self.url(path)?).body(body);
        self.execute(req, sign, &[]).await
    }

    /// Sends a request with exactly the given headers and no signature of
    /// its own (and `Content-Type: application/json` for a body, unless they
    /// name another).
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> Result<RawResponse, ClientError> {
        let method = Method::from_bytes(method.as_bytes()).map_err(|e| ClientError::Input(e.to_string()))?;
        let req = self.http.request(method, self.url(path)?).body(body);
        self.execute(req, false, headers).await
    }

    /// The signed request as headers, for callers that build requests themselves.
    pub fn sign_headers(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        timestamp: u64,
        nonce: B256,
    ) -> Vec<(&'static str, String)> {
        sign_request(&self.domain, &self.key, method, path, body, timestamp, nonce).to_vec()
    }

    /// Builds `req`, signs it (when `sign`) over its method, its URL's path
    /// and query as reqwest built them, and its body; adds `headers`; sends it.
    async fn execute(
        &self,
        req: reqwest::RequestBuilder,
        sign: bool,
        headers: &[(&str, String)],
    ) -> Result<RawResponse, ClientError> {
        let mut req = req.build().map_err(|e| ClientError::Input(error::error_chain(&e)))?;
        let body = req.body().and_then(reqwest::Body::as_bytes).unwrap_or_default().to_vec();
        let mut all: Vec<(&str, String)> = Vec::new();
        if sign {
            let url = req.url();
            let path = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_owned(),
            };
            all.extend(self.sign_headers(req.method().as_str(), &path, &body, unix_now(), self.nonce()));
        }
        all.extend(headers.iter().cloned());
        if !body.is_empty() && !all.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            req.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        for (k, v) in all {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| ClientError::Input(format!("{k}: {e}")))?;
            let value = HeaderValue::from_str(&v).map_err(|e| ClientError::Input(format!("{k}: {e}")))?;
            req.headers_mut().append(name, value);
        }
        let res = self.http.execute(req).await.map_err(|e| error::transport(&e, &self.base))?;
        let status = res.status().as_u16();
        let retry_after = res.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let body = res.bytes().await.map_err(|e| ClientError::Transport(error::error_chain(&e)))?.to_vec();
        Ok(RawResponse { status, retry_after, body })
    }

    /// A signed call with an optional JSON body and query, decoded.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        query: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let mut req = self.http.request(method, self.url(path)?);
        if let Some(q) = query {
            req = req.query(q);
        }
        if let Some(b) = body {
            req = req.body(serde_json::to_vec(b).map_err(|e| ClientError::Input(e.to_string()))?);
        }
        decode(self.execute(req, true, &[]).await?)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::GET, path, None::<&()>, None::<&()>).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: Option<&impl Serialize>) -> Result<T, ClientError> {
        self.call(Method::POST, path, body, None::<&()>).await
    }
}
