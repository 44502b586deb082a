//! One method per endpoint. Reads return what the gateway shows, unchecked;
//! what is signed here is built from the caller's own data.

use super::{Client, ClientError, decode};
use crate::action::encode_action;
use crate::roles::Role;
use crate::types::{
    AddressBookOut, ApplyIn, ApproveIn, AssetOut, AuditOut, AuthorizationIn, AuthorizationQuery, CeremonyIn,
    CeremonyOut, ClaimIn, ClusterOut, DeploymentOut, EscrowIn, EscrowOut, FlowIn, FlowOut, FlowTypedData,
    GovernanceDraftIn, GovernanceIn, GovernanceKind, GovernanceOut, GovernanceTypedData, MeOut, OffboardIn,
    OffboardOut, PersonIn, PersonOut, QueuedOut, RejectIn, StatusOut, TokenOut, TransferOut, TransferQuery,
    TransferRequestIn, TransferSummary, TransferTypedData, TypedDataCatalogue, WalletOut,
};
use crate::wire::HexBytes;
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_core::governance::GovernanceAction;
use box_core::ids::{FlowHash, TransferId};
use box_core::typed::{BoxFlow, FlowAuthorization, Genesis, Signed, TransferRequest};
use box_core::{Address, B256};
use reqwest::Method;
use serde_json::Value;

impl Client {
    // ---- status ----

    /// The deployment (public; no signature). Compare with the genesis you were given.
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
        let q = crate::types::AuditQuery { from: Some(from), limit: Some(limit) };
        self.call(Method::GET, "/v1/audit/export", None::<&()>, Some(&q)).await
    }

    /// The whole history, decoded (not verified: verify it with
    /// `box_core::audit::verify_history` against a genesis you trust).
    pub async fn audit_export(&self) -> Result<(Genesis, Vec<Block>), ClientError> {
        let mut from = 1;
        let mut blocks = Vec::new();
        let mut genesis = None;
        loop {
            let page = self.audit_page(from, 1000).await?;
            genesis.get_or_insert(page.genesis);
            for (i, b) in page.blocks.iter().enumerate() {
                let height = page.from + i as u64;
                blocks.push(Block::decode(&b.0).map_err(|e| ClientError::Decode(format!("block {height}: {e}")))?);
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
        self.post("/v1/people", Some(&PersonIn { address, name: name.into(), roles: roles.to_vec() })).await
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
        let download_token_hash = download_token.map(|t| alloy::primitives::keccak256(t.as_slice()));
        let body = serde_json::to_vec(&EscrowIn { keystore, download_token_hash })
            .map_err(|e| ClientError::Input(e.to_string()))?;
        let r = self.send("PUT", &format!("/v1/people/{}/keystore", address.to_checksum(None)), body, true).await?;
        if r.status == 204 { Ok(()) } else { decode::<()>(r) }
    }

    /// Offboards `address` at the gateway (key holder or admin): revokes
    /// their escrowed keystore and cancels their applications still
    /// collecting approvals, with `reason`. Does not freeze them: that is a
    /// governance action ([`Client::sign_governance`]).
    pub async fn offboard(&self, address: Address, reason: &str) -> Result<OffboardOut, ClientError> {
        self.post(
            &format!("/v1/people/{}/offboard", address.to_checksum(None)),
            Some(&OffboardIn { reason: reason.to_owned() }),
        )
        .await
    }

    /// Downloads an escrowed keystore (signed: its owner or an admin).
    pub async fn keystore(&self, address: Address) -> Result<EscrowOut, ClientError> {
        self.get(&format!("/v1/people/{}/keystore", address.to_checksum(None))).await
    }

    /// Claims an issued keystore once, unsigned, with its download token.
    /// Checks nothing about the answer: the caller decrypts it and checks it
    /// holds the key of `address`.
    pub async fn claim_keystore(&self, address: Address, download_token: B256) -> Result<EscrowOut, ClientError> {
        let body =
            serde_json::to_vec(&ClaimIn { token: download_token }).map_err(|e| ClientError::Input(e.to_string()))?;
        let path = format!("/v1/people/{}/keystore/claim", address.to_checksum(None));
        decode(self.send("POST", &path, body, false).await?)
    }

    // ---- flows and governance ----

    /// Drafts a flow (admin).
    pub async fn create_flow(&self, flow: &BoxFlow) -> Result<FlowOut, ClientError> {
        self.post("/v1/flows", Some(&FlowIn { flow: flow.clone().into() })).await
    }

    /// Every flow.
    pub async fn flows(&self) -> Result<Vec<FlowOut>, ClientError> {
        self.get("/v1/flows").await
    }

    /// One flow, as the gateway shows it (check it hashes to `hash` before trusting it).
    pub async fn flow(&self, hash: FlowHash) -> Result<FlowOut, ClientError> {
        self.get(&format!("/v1/flows/{hash}")).await
    }

    /// Queues a drafted flow for the chain (admin).
    pub async fn submit_flow(&self, hash: FlowHash) -> Result<QueuedOut, ClientError> {
        self.post(&format!("/v1/flows/{hash}/submit"), None::<&()>).await
    }

    /// Signs and relays `enable(flow)` or `disable(flow)` (key holder).
    pub async fn authorize_flow(&self, hash: FlowHash, enable: bool) -> Result<QueuedOut, ClientError> {
        let signed = Signed::new(&self.domain, &self.key, FlowAuthorization { flowHash: hash.0, enable });
        let body = AuthorizationIn { enable, signature: signed.signature.into() };
        self.post(&format!("/v1/flows/{hash}/authorizations"), Some(&body)).await
    }

    /// Signs a governance action and adds the signature at the gateway (key holder).
    pub async fn sign_governance(&self, action: &GovernanceAction) -> Result<GovernanceOut, ClientError> {
        let signature = self.key.sign_hash(&action.signing_hash(&self.domain)).into();
        self.post("/v1/governance", Some(&GovernanceIn { action: HexBytes(encode_action(action)), signature })).await
    }

    /// An ERC-20 contract's `symbol()` and `decimals()` as the gateway's
    /// Ethereum node reads them now (the gateway's word: show it to the
    /// person who signs the registration).
    pub async fn token(&self, token: Address) -> Result<TokenOut, ClientError> {
        self.get(&format!("/v1/tokens/{}", token.to_checksum(None))).await
    }

    /// Governance actions.
    pub async fn governance(&self) -> Result<Vec<GovernanceOut>, ClientError> {
        self.get("/v1/governance").await
    }

    /// The governance actions still collecting signatures (newest first).
    pub async fn governance_pending(&self) -> Result<Vec<GovernanceOut>, ClientError> {
        let q = crate::types::GovernanceQuery { pending: Some(true) };
        self.call(Method::GET, "/v1/governance", None::<&()>, Some(&q)).await
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
        let signature = self.domain.sign(&self.key, request).into();
        self.post("/v1/transfers", Some(&ApplyIn { request: request.clone().into(), signature })).await
    }

    /// One transfer with its progress, as the gateway shows it.
    pub async fn transfer(&self, id: &TransferId) -> Result<TransferOut, ClientError> {
        self.get(&format!("/v1/transfers/{id}")).await
    }

    /// Transfers matching `q` (the query string built by reqwest, signed as sent).
    pub async fn transfers(&self, q: &TransferQuery) -> Result<Vec<TransferSummary>, ClientError> {
        self.call(Method::GET, "/v1/transfers", None::<&()>, Some(q)).await
    }

    /// Transfers waiting for this approver.
    pub async fn pending_approvals(&self) -> Result<Vec<TransferSummary>, ClientError> {
        self.get("/v1/approvals/pending").await
    }

    /// Approves transfer `id` at its open level, after checking what the
    /// gateway shows (see [`Client::verified_transfer`]).
    pub async fn approve(&self, id: &TransferId) -> Result<TransferOut, ClientError> {
        let (_, tb, level) = self.verified_transfer(id).await?;
        let signature = self.domain.sign(&self.key, &tb.approval_for(level as usize)).into();
        self.post(&format!("/v1/transfers/{id}/approvals"), Some(&ApproveIn { level, signature })).await
    }

    /// Rejects transfer `id` with a reason.
    pub async fn reject(&self, id: &TransferId, reason: &str) -> Result<TransferOut, ClientError> {
        self.post(&format!("/v1/transfers/{id}/reject"), Some(&RejectIn { reason: reason.into() })).await
    }

    // ---- ceremony, wallet ----

    /// Relays a key-holder device's signed, sealed ceremony entry (canonical bytes).
    pub async fn relay_ceremony(&self, entry: &[u8]) -> Result<CeremonyOut, ClientError> {
        self.post("/v1/ceremony/messages", Some(&CeremonyIn { entry: HexBytes(entry.to_vec()) })).await
    }

    /// The hot wallet's balances, as the gateway reads them.
    pub async fn wallet(&self) -> Result<WalletOut, ClientError> {
        self.get("/v1/wallet").await
    }

    // ---- typed data, assets ----
    // What these return is the gateway's word: compare it with the typed data
    // built from data you verified (box-core's `typed_data`) before a wallet
    // signs it.

    /// The deployment's EIP-712 domain and every struct a person signs (public; no signature).
    pub async fn typed_data_catalogue(&self) -> Result<TypedDataCatalogue, ClientError> {
        decode(self.send("GET", "/v1/typed-data", Vec::new(), false).await?)
    }

    /// The governed address book as the gateway's verified replica holds it.
    pub async fn address_book(&self) -> Result<Vec<AddressBookOut>, ClientError> {
        self.get("/v1/address-book").await
    }

    /// ETH and every registered ERC-20 with its symbol and decimals.
    pub async fn assets(&self) -> Result<Vec<AssetOut>, ClientError> {
        self.get("/v1/assets").await
    }

    /// The `eth_signTypedData_v4` JSON of an application, as the gateway writes it.
    pub async fn transfer_request_typed_data(&self, request: &TransferRequest) -> Result<Value, ClientError> {
        self.post("/v1/typed-data/transfer-request", Some(&TransferRequestIn { request: request.clone().into() })).await
    }

    /// A transfer's request and the Approval its open level signs, as typed data.
    pub async fn transfer_typed_data(&self, id: &TransferId) -> Result<TransferTypedData, ClientError> {
        self.get(&format!("/v1/transfers/{id}/typed-data")).await
    }

    /// A flow and `enable(flow)` (or `disable`) as typed data.
    pub async fn flow_typed_data(&self, hash: FlowHash, enable: bool) -> Result<FlowTypedData, ClientError> {
        let q = AuthorizationQuery { enable: Some(enable) };
        self.call(Method::GET, &format!("/v1/flows/{hash}/typed-data"), None::<&()>, Some(&q)).await
    }

    /// A pending governance action as typed data.
    pub async fn governance_typed_data(&self, hash: B256) -> Result<GovernanceTypedData, ClientError> {
        self.get(&format!("/v1/governance/{hash}/typed-data")).await
    }

    /// A new governance action (key holders) as typed data and canonical bytes.
    pub async fn draft_governance(
        &self,
        kind: GovernanceKind,
        message: Value,
    ) -> Result<GovernanceTypedData, ClientError> {
        self.post("/v1/governance/typed-data", Some(&GovernanceDraftIn { primary_type: kind, message })).await
    }
}
