//! A typed client of the gateway API: one method per endpoint, every request
//! signed with the caller's own key.
//!
//! The client trusts the gateway for nothing it signs: it builds the objects
//! it signs (flow authorizations, governance actions, applications, nested
//! approvals) from data it checks itself. Before approving it recomputes the
//! transfer id from the request, checks the applicant's signature and every
//! lower level's signature, and derives `below` from them locally.
//!
//! ```no_run
//! # async fn demo(ca_pem: &str, key: box_core::crypto::SecretKey, domain: box_core::typed::Domain) -> Result<(), box_gateway::client::ClientError> {
//! let client = box_gateway::Client::new("https://127.0.0.1:8443", ca_pem, key, domain)?;
//! for t in client.pending_approvals().await? {
//!     client.approve(&t.id).await?;
//! }
//! # Ok(()) }
//! ```

use crate::api::dto::{
    ApplyIn, ApproveIn, AuditOut, AuthorizationIn, CeremonyIn, CeremonyOut, ClaimIn, ClusterOut, DeploymentOut,
    EscrowIn, EscrowOut, FlowIn, FlowJson, FlowOut, GovernanceIn, GovernanceOut, MeOut, PersonIn, PersonOut, QueuedOut,
    RejectIn, SignerOut, StatusOut, TransferOut, TransferQuery, TransferRequestJson, TransferSummary, WalletOut,
    parse_sig, sig_hex,
};
use crate::auth::sign_request;
use crate::error::ErrorBody;
use crate::roles::Role;
use box_core::block::Block;
use box_core::ceremony::SignerAnnounce;
use box_core::crypto::{SecretKey, recover};
use box_core::encoding::Canonical;
use box_core::governance::GovernanceAction;
use box_core::ids::{FlowHash, TransferId};
use box_core::transbox::TransBox;
use box_core::typed::{BoxFlow, Domain, FlowAuthorization, Genesis, Signed, TransferRequest};
use box_core::{Address, B256};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The gateway refused, with its `{code, message}`.
    #[error("the gateway answered {status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Error code.
        code: String,
        /// Message.
        message: String,
        /// `Retry-After`, seconds.
        retry_after: Option<u64>,
    },
    /// The gateway could not be reached.
    #[error("cannot reach the gateway: {0}")]
    Transport(String),
    /// The answer is not what the API documents.
    #[error("unexpected answer from the gateway: {0}")]
    Decode(String),
    /// The gateway showed data that does not verify; nothing was signed.
    #[error("refusing to sign: {0}")]
    Untrusted(String),
    /// Bad arguments or configuration.
    #[error("{0}")]
    Input(String),
}

impl ClientError {
    /// The API error code, if the gateway answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }
    /// The HTTP status, if the gateway answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// An error and its causes in words (`client error (Connect): tcp connect
/// error: Connection refused (os error 111)`): hyper's own message names only
/// the stage that failed.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// A raw answer: status, `Retry-After`, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After` seconds, if sent.
    pub retry_after: Option<u64>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// A client acting as one person.
pub struct Client {
    base: String,
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
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

fn seed() -> B256 {
    let mut buf = [0u8; 32];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if from_os.is_err() {
        // Nonces need uniqueness, not secrecy: fall back on the clock.
        let t = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        buf = box_core::B256::from(alloy::primitives::keccak256(t.to_be_bytes())).0;
    }
    B256::from(buf)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Client {
    /// A client of the gateway at `base_url` (`https://host:port`), trusting
    /// only `ca_pem` for its certificate, signing as `key` under `domain`.
    pub fn new(base_url: &str, ca_pem: &str, key: SecretKey, domain: Domain) -> Result<Self, ClientError> {
        crate::server::install_crypto_provider();
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            let c = c.map_err(|e| ClientError::Input(format!("the CA certificate is not PEM: {e}")))?;
            roots.add(c).map_err(|e| ClientError::Input(format!("the CA certificate is not usable: {e}")))?;
        }
        if roots.is_empty() {
            return Err(ClientError::Input("the CA PEM holds no certificate".into()));
        }
        let tls = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        let connector =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_only().enable_http1().build();
        let http =
            HyperClient::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector);
        Ok(Self {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
            key,
            domain,
            seed: seed(),
            counter: AtomicU64::new(0),
        })
    }

    /// Who this client signs as.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The domain it signs under.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    fn nonce(&self) -> B256 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        alloy::primitives::keccak256([self.seed.as_slice(), &n.to_be_bytes()].concat())
    }

    /// Sends a request as is, signed (when `sign`) with a fresh nonce and
    /// the current time. For tests of the gateway's refusals, see
    /// [`Client::send_with`].
    pub async fn send(&self, method: &str, path: &str, body: Vec<u8>, sign: bool) -> Result<RawResponse, ClientError> {
        let headers = if sign {
            sign_request(&self.domain, &self.key, method, path, &body, unix_now(), self.nonce()).to_vec()
        } else {
            Vec::new()
        };
        self.send_with(method, path, body, &headers).await
    }

    /// Sends a request with exactly the given headers (and `Content-Type:
    /// application/json` for a body, unless they name another).
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> Result<RawResponse, ClientError> {
        let method = Method::from_bytes(method.as_bytes()).map_err(|e| ClientError::Input(e.to_string()))?;
        let mut req = Request::builder().method(method).uri(format!("{}{path}", self.base));
        if !body.is_empty() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req.body(Full::new(Bytes::from(body))).map_err(|e| ClientError::Input(e.to_string()))?;
        let res = self.http.request(req).await.map_err(|e| ClientError::Transport(error_chain(&e)))?;
        let status = res.status().as_u16();
        let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let body =
            res.into_body().collect().await.map_err(|e| ClientError::Transport(e.to_string()))?.to_bytes().to_vec();
        Ok(RawResponse { status, retry_after, body })
    }

    /// The signed request `{key}` as headers, for callers that build requests themselves.
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

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| ClientError::Input(e.to_string()))?,
            None => Vec::new(),
        };
        let r = self.send(method, path, bytes, true).await?;
        decode(r)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call::<T>("GET", path, None::<&()>).await
    }

    // ---- status ----

    /// The deployment (public; no signature). Compare with the domain you were given.
    pub async fn deployment(&self) -> Result<DeploymentOut, ClientError> {
        decode(self.send("GET", "/v1/deployment", Vec::new(), false).await?)
    }

    /// The OpenAPI document (public).
    pub async fn openapi(&self) -> Result<serde_json::Value, ClientError> {
        decode(self.send("GET", "/v1/openapi.json", Vec::new(), false).await?)
    }

    /// The gateway's status.
    pub async fn status(&self) -> Result<StatusOut, ClientError> {
        self.get("/v1/status").await
    }

    /// Every node's view of the cluster.
    pub async fn cluster(&self) -> Result<ClusterOut, ClientError> {
        self.get("/v1/cluster").await
    }

    /// One page of the audit export.
    pub async fn audit_page(&self, from: u64, limit: u64) -> Result<AuditOut, ClientError> {
        self.get(&format!("/v1/audit/export?from={from}&limit={limit}")).await
    }

    /// The whole history, decoded: verify it with `box_core::audit::verify_history`.
    pub async fn audit_export(&self) -> Result<(Genesis, Vec<Block>), ClientError> {
        let mut from = 1;
        let mut blocks = Vec::new();
        let mut genesis = None;
        loop {
            let page = self.audit_page(from, 1000).await?;
            if genesis.is_none() {
                genesis = Some(serde_json::from_value(page.genesis).map_err(|e| ClientError::Decode(e.to_string()))?);
            }
            for b in &page.blocks {
                let bytes = hex::decode(b.trim_start_matches("0x")).map_err(|e| ClientError::Decode(e.to_string()))?;
                blocks.push(Block::decode(&bytes).map_err(|e| ClientError::Decode(format!("block {}: {e}", from)))?);
            }
            match page.next {
                Some(n) => from = n,
                None => break,
            }
        }
        Ok((genesis.ok_or_else(|| ClientError::Decode("no genesis".into()))?, blocks))
    }

    // ---- people ----

    /// Who the registry says the caller is.
    pub async fn me(&self) -> Result<MeOut, ClientError> {
        self.get("/v1/me").await
    }

    /// Registers or updates a person (admin).
    pub async fn register(&self, address: Address, name: &str, roles: &[Role]) -> Result<PersonOut, ClientError> {
        let body = PersonIn { address: address.to_checksum(None), name: name.into(), roles: roles.to_vec() };
        self.call("POST", "/v1/people", Some(&body)).await
    }

    /// Everyone registered.
    pub async fn people(&self) -> Result<Vec<PersonOut>, ClientError> {
        self.get("/v1/people").await
    }

    /// One person.
    pub async fn person(&self, address: Address) -> Result<PersonOut, ClientError> {
        self.get(&format!("/v1/people/{}", address.to_checksum(None))).await
    }

    /// Escrows a client-encrypted keystore v3 JSON for `address`. With
    /// `download_token`, its owner may claim it once unsigned
    /// ([`Client::claim_keystore`]); the gateway is sent only the token's
    /// keccak256, so it cannot claim it itself.
    pub async fn put_keystore(
        &self,
        address: Address,
        keystore: serde_json::Value,
        download_token: Option<B256>,
    ) -> Result<(), ClientError> {
        let download_token_hash = download_token.map(|t| alloy::primitives::keccak256(t.as_slice()).to_string());
        let body = serde_json::to_vec(&EscrowIn { keystore, download_token_hash })
            .map_err(|e| ClientError::Input(e.to_string()))?;
        let r = self.send("PUT", &format!("/v1/people/{}/keystore", address.to_checksum(None)), body, true).await?;
        if r.status == 204 { Ok(()) } else { decode::<()>(r) }
    }

    /// Downloads an escrowed keystore (signed: its owner or an admin).
    pub async fn keystore(&self, address: Address) -> Result<EscrowOut, ClientError> {
        self.get(&format!("/v1/people/{}/keystore", address.to_checksum(None))).await
    }

    /// Claims an issued keystore once, unsigned, with its download token.
    /// Checks nothing about the answer: the caller decrypts it and checks it
    /// holds the key of `address`.
    pub async fn claim_keystore(&self, address: Address, download_token: B256) -> Result<EscrowOut, ClientError> {
        let body = serde_json::to_vec(&ClaimIn { token: download_token.to_string() })
            .map_err(|e| ClientError::Input(e.to_string()))?;
        let r =
            self.send("POST", &format!("/v1/people/{}/keystore/claim", address.to_checksum(None)), body, false).await?;
        decode(r)
    }

    // ---- flows and governance ----

    /// Drafts a flow (admin).
    pub async fn create_flow(&self, flow: &BoxFlow) -> Result<FlowOut, ClientError> {
        self.call("POST", "/v1/flows", Some(&FlowIn { flow: FlowJson::from_flow(flow) })).await
    }

    /// Every flow.
    pub async fn flows(&self) -> Result<Vec<FlowOut>, ClientError> {
        self.get("/v1/flows").await
    }

    /// One flow.
    pub async fn flow(&self, hash: FlowHash) -> Result<FlowOut, ClientError> {
        self.get(&format!("/v1/flows/{hash}")).await
    }

    /// Queues a drafted flow for the chain (admin).
    pub async fn submit_flow(&self, hash: FlowHash) -> Result<QueuedOut, ClientError> {
        self.call("POST", &format!("/v1/flows/{hash}/submit"), None::<&()>).await
    }

    /// Signs and relays `enable(flow)` or `disable(flow)` (key holder).
    pub async fn authorize_flow(&self, hash: FlowHash, enable: bool) -> Result<QueuedOut, ClientError> {
        let signed = Signed::new(&self.domain, &self.key, FlowAuthorization { flowHash: hash.0, enable });
        let body = AuthorizationIn { enable, signature: sig_hex(&signed.signature) };
        self.call("POST", &format!("/v1/flows/{hash}/authorizations"), Some(&body)).await
    }

    /// Signs a governance action and adds the signature at the gateway (key holder).
    pub async fn sign_governance(&self, action: &GovernanceAction) -> Result<GovernanceOut, ClientError> {
        let sig = self.key.sign_hash(&action.signing_hash(&self.domain));
        let body = GovernanceIn {
            action: format!("0x{}", hex::encode(crate::api::encode_action(action))),
            signature: sig_hex(&sig),
        };
        self.call("POST", "/v1/governance", Some(&body)).await
    }

    /// Governance actions.
    pub async fn governance(&self) -> Result<Vec<GovernanceOut>, ClientError> {
        self.get("/v1/governance").await
    }

    /// One governance action.
    pub async fn governance_action(&self, hash: B256) -> Result<GovernanceOut, ClientError> {
        self.get(&format!("/v1/governance/{hash}")).await
    }

    // ---- transfers ----

    /// Signs and submits an application (employee, for themselves).
    pub async fn apply(&self, request: &TransferRequest) -> Result<TransferOut, ClientError> {
        if request.applicant != self.address() {
            return Err(ClientError::Input(format!(
                "the request names {} but this client is {}",
                request.applicant,
                self.address()
            )));
        }
        let sig = self.domain.sign(&self.key, request);
        let body = ApplyIn { request: TransferRequestJson::from_request(request), signature: sig_hex(&sig) };
        self.call("POST", "/v1/transfers", Some(&body)).await
    }

    /// One transfer with its progress.
    pub async fn transfer(&self, id: &str) -> Result<TransferOut, ClientError> {
        self.get(&format!("/v1/transfers/{id}")).await
    }

    /// Transfers matching `q`.
    pub async fn transfers(&self, q: &TransferQuery) -> Result<Vec<TransferSummary>, ClientError> {
        let mut params = Vec::new();
        if let Some(a) = &q.applicant {
            params.push(format!("applicant={}", enc(a)));
        }
        if let Some(s) = &q.state {
            params.push(format!("state={}", enc(s)));
        }
        if let Some(f) = &q.flow {
            params.push(format!("flow={}", enc(f)));
        }
        if let Some(l) = q.limit {
            params.push(format!("limit={l}"));
        }
        if let Some(o) = q.offset {
            params.push(format!("offset={o}"));
        }
        let qs = if params.is_empty() { String::new() } else { format!("?{}", params.join("&")) };
        self.get(&format!("/v1/transfers{qs}")).await
    }

    /// Transfers waiting for this approver.
    pub async fn pending_approvals(&self) -> Result<Vec<TransferSummary>, ClientError> {
        self.get("/v1/approvals/pending").await
    }

    /// Verifies what the gateway shows for transfer `id` and returns the
    /// request and the TransBox of its closed levels, with the open level.
    pub async fn verified_transfer(&self, id: &str) -> Result<(TransferRequest, TransBox, u32), ClientError> {
        let t = self.transfer(id).await?;
        let untrusted = |m: String| ClientError::Untrusted(m);
        let request = t.request.parse().map_err(|e| untrusted(format!("the request does not parse: {}", e.message)))?;
        let tid: TransferId = id.parse().map_err(|_| ClientError::Input(format!("{id} is not a transfer id")))?;
        if self.domain.transfer_id(&request) != tid {
            return Err(untrusted(format!("the request shown does not hash to transfer id {id}")));
        }
        let applicant_signature =
            parse_sig("applicantSignature", &t.applicant_signature).map_err(|e| untrusted(e.message))?;
        if self.domain.recover(&request, &applicant_signature).ok() != Some(request.applicant) {
            return Err(untrusted("the applicant's signature does not verify".into()));
        }
        let level = t.open_level.ok_or_else(|| ClientError::Api {
            status: 409,
            code: "not_collecting".into(),
            message: format!("transfer {id} is {}", t.status.state),
            retry_after: None,
        })?;
        let mut tb = TransBox { request: request.clone(), applicant_signature, levels: Vec::new() };
        for l in t.levels.iter().filter(|l| l.level < level) {
            let approval = tb.approval_for(l.level as usize);
            let hash = self.domain.signing_hash(&approval);
            let mut sigs = Vec::new();
            for s in &l.signatures {
                let sig = parse_sig("signature", &s.signature).map_err(|e| untrusted(e.message))?;
                let who = recover(&hash, &sig).map_err(|e| untrusted(format!("level {}: {e}", l.level)))?;
                if who == request.applicant || who == self.address() {
                    return Err(untrusted(format!(
                        "level {} holds a signature by {who}, who may not approve",
                        l.level
                    )));
                }
                sigs.push(sig);
            }
            tb.levels.push(sigs);
        }
        Ok((request, tb, level))
    }

    /// Approves transfer `id` at its open level, after checking what the
    /// gateway shows (see [`Client::verified_transfer`]).
    pub async fn approve(&self, id: &str) -> Result<TransferOut, ClientError> {
        let (_, tb, level) = self.verified_transfer(id).await?;
        let sig = self.domain.sign(&self.key, &tb.approval_for(level as usize));
        self.call(
            "POST",
            &format!("/v1/transfers/{id}/approvals"),
            Some(&ApproveIn { level, signature: sig_hex(&sig) }),
        )
        .await
    }

    // ---- ceremony, signer, wallet ----

    /// Relays a key-holder device's signed, sealed ceremony entry (canonical bytes).
    pub async fn relay_ceremony(&self, entry: &[u8]) -> Result<CeremonyOut, ClientError> {
        self.call("POST", "/v1/ceremony/messages", Some(&CeremonyIn { entry: format!("0x{}", hex::encode(entry)) }))
            .await
    }

    /// The signer's latest announcement. Its signature is checked again here
    /// against `signer`, the signer's address from the genesis.
    pub async fn signer(&self, signer: Address) -> Result<SignerOut, ClientError> {
        Ok(self.signer_verified(signer).await?.0)
    }

    /// The signer's latest announcement as the signed struct a key holder
    /// answers (see `box_core::ceremony::answer`), checked against `signer`.
    pub async fn signer_announce(&self, signer: Address) -> Result<SignerAnnounce, ClientError> {
        Ok(self.signer_verified(signer).await?.1)
    }

    async fn signer_verified(&self, signer: Address) -> Result<(SignerOut, SignerAnnounce), ClientError> {
        let s: SignerOut = self.get("/v1/ceremony/signer").await?;
        let untrusted = |m: &str| ClientError::Untrusted(format!("the signer announcement {m}"));
        let parse_addr = |a: &str| a.parse::<Address>().map_err(|_| untrusted("names a malformed address"));
        let announce = SignerAnnounce {
            boot: s.boot.parse().map_err(|_| untrusted("has a malformed boot id"))?,
            sequence: s.sequence,
            state: (1..=u8::MAX)
                .find(|v| box_core::ceremony::SignerState::from_u8(*v).is_some_and(|st| st.as_str() == s.state))
                .ok_or_else(|| untrusted("has an unknown state"))?,
            ceremonyKey: hex::decode(s.ceremony_key.trim_start_matches("0x"))
                .map_err(|_| untrusted("has a malformed key"))?
                .into(),
            wallet: parse_addr(&s.wallet)?,
            devices: s.devices.iter().map(|d| parse_addr(d)).collect::<Result<_, _>>()?,
            holders: s.holders,
            received: s.received,
            paused: s.paused,
            detail: s.detail.clone(),
            time: s.time,
        };
        let sig = parse_sig("signature", &s.signature).map_err(|e| ClientError::Untrusted(e.message))?;
        if self.domain.recover(&announce, &sig).ok() != Some(signer) {
            return Err(untrusted("is not signed by the signer"));
        }
        Ok((s, announce))
    }

    /// The hot wallet's balances.
    pub async fn wallet(&self) -> Result<WalletOut, ClientError> {
        self.get("/v1/wallet").await
    }

    /// Rejects transfer `id` with a reason.
    pub async fn reject(&self, id: &str, reason: &str) -> Result<TransferOut, ClientError> {
        self.call("POST", &format!("/v1/transfers/{id}/reject"), Some(&RejectIn { reason: reason.into() })).await
    }
}

/// Decodes a 2xx JSON body, or the `{code, message}` of an error.
pub fn decode<T: DeserializeOwned>(r: RawResponse) -> Result<T, ClientError> {
    if (200..300).contains(&r.status) {
        let body = if r.body.is_empty() { b"null".to_vec() } else { r.body };
        return serde_json::from_slice(&body).map_err(|e| ClientError::Decode(e.to_string()));
    }
    match serde_json::from_slice::<ErrorBody>(&r.body) {
        Ok(e) => {
            Err(ClientError::Api { status: r.status, code: e.code, message: e.message, retry_after: r.retry_after })
        }
        Err(_) => Err(ClientError::Api {
            status: r.status,
            code: "unknown".into(),
            message: String::from_utf8_lossy(&r.body).chars().take(500).collect(),
            retry_after: r.retry_after,
        }),
    }
}
