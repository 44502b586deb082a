//! The JSON the API speaks. Addresses are EIP-55 strings (mixed case is
//! checked), hashes and signatures `0x` hex, amounts decimal strings of base
//! units (never floats, never hex). Field names of signed objects are their
//! EIP-712 field names, so a client maps them one to one onto typed data.
//! Every request body refuses unknown fields.

use crate::error::ApiError;
use crate::roles::Role;
use box_core::typed::{ApprovalLevel, AssetLimit, BoxFlow, TransferRequest};
use box_core::{Address, B256, Signature, U256};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Parses an address field.
pub fn parse_addr(field: &str, s: &str) -> Result<Address, ApiError> {
    box_core::address::parse_address(s).map_err(|e| ApiError::bad_request("invalid_field", format!("{field}: {e}")))
}

/// Parses a 32-byte hex field.
pub fn parse_b256(field: &str, s: &str) -> Result<B256, ApiError> {
    crate::auth::parse_hex_32(s).ok_or_else(|| {
        ApiError::bad_request("invalid_field", format!("{field}: expected 0x followed by 64 hex digits"))
    })
}

/// Parses a decimal amount of base units with box-core's one amount grammar
/// ([`box_core::Amount::parse_base_units`]: digits only), the grammar boxctl
/// reads whole units with.
pub fn parse_units(field: &str, s: &str) -> Result<U256, ApiError> {
    box_core::Amount::parse_base_units(s).map(|a| a.0).map_err(|e| {
        ApiError::bad_request(
            "invalid_field",
            format!("{field}: {e}; amounts are decimal base units (digits only, e.g. \"1500000000000000000\")"),
        )
    })
}

/// Parses a 65-byte signature field (canonical low-s form).
pub fn parse_sig(field: &str, s: &str) -> Result<Signature, ApiError> {
    let raw = s.strip_prefix("0x").and_then(|h| hex::decode(h).ok()).ok_or_else(|| {
        ApiError::bad_request("invalid_field", format!("{field}: expected 0x followed by 130 hex digits"))
    })?;
    box_core::crypto::signature_from_bytes(&raw)
        .map_err(|e| ApiError::bad_request("invalid_field", format!("{field}: {e}")))
}

/// Parses `0x` hex bytes.
pub fn parse_bytes(field: &str, s: &str) -> Result<Vec<u8>, ApiError> {
    s.strip_prefix("0x")
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| ApiError::bad_request("invalid_field", format!("{field}: expected 0x-prefixed hex bytes")))
}

/// The storage key of an address: lowercase hex.
pub fn key(a: &Address) -> String {
    format!("0x{}", hex::encode(a.as_slice()))
}

/// A stored lowercase address as EIP-55.
pub fn show(stored: &str) -> String {
    stored.parse::<Address>().map_or_else(|_| stored.to_owned(), |a| a.to_checksum(None))
}

/// `0x` hex of a signature.
pub fn sig_hex(s: &Signature) -> String {
    format!("0x{}", hex::encode(s.as_bytes()))
}

// ---- people ----

/// Register or update a person (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersonIn {
    /// Their address (their own key).
    pub address: String,
    /// Display name.
    pub name: String,
    /// Any of `employee`, `approver`, `auditor`.
    pub roles: Vec<Role>,
}

/// A registered person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersonOut {
    /// Address (EIP-55).
    pub address: String,
    /// Display name.
    pub name: String,
    /// Registered roles.
    pub roles: Vec<Role>,
    /// The admin who registered them.
    pub registered_by: String,
    /// When (Unix seconds).
    pub registered_at: i64,
}

/// Who the caller is, as the registry knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeOut {
    /// The caller's address.
    pub address: String,
    /// Display name, if registered.
    pub name: Option<String>,
    /// Every role: registered, key holder (genesis), admin (config).
    pub roles: Vec<Role>,
}

/// Upload an encrypted key file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EscrowIn {
    /// An Ethereum keystore v3 JSON object, encrypted by the client. The
    /// gateway never sees the password.
    #[schema(value_type = Object)]
    pub keystore: serde_json::Value,
    /// For a key issued to someone else: keccak256 of the 32-byte download
    /// token (0x hex) the admin hands over with the password. The keystore can
    /// then be claimed once, unsigned, with the token (`POST
    /// /v1/people/{address}/keystore/claim`); afterwards only signed reads
    /// serve it. Without one, only signed reads ever serve it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_token_hash: Option<String>,
}

/// Claim an issued keystore once, with its download token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimIn {
    /// The 32-byte download token, 0x + 64 hex digits.
    pub token: String,
}

/// An escrowed key file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EscrowOut {
    /// Whose key.
    pub address: String,
    /// The keystore v3 JSON, as uploaded.
    #[schema(value_type = Object)]
    pub keystore: serde_json::Value,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// When.
    pub uploaded_at: i64,
}

// ---- flows ----

/// One approval level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LevelJson {
    /// Level name.
    pub name: String,
    /// Approver addresses.
    pub approvers: Vec<String>,
    /// How many of them must approve.
    pub threshold: u32,
}

/// One asset's limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitJson {
    /// Asset address; `0x0000000000000000000000000000000000000000` is ETH.
    pub asset: String,
    /// Largest single transfer, base units, decimal.
    pub per_transfer: String,
    /// Largest total per rolling period, base units, decimal.
    pub per_period: String,
    /// The rolling period, seconds.
    pub period_seconds: u64,
    /// The most a transfer of this asset may spend on fees (its signed fee
    /// cap), wei, decimal. Fees also count towards the flow's ETH period limit.
    pub max_fee: String,
}

/// An approval flow (EIP-712 `BoxFlow`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowJson {
    /// Flow name.
    pub name: String,
    /// Who may apply.
    pub employees: Vec<String>,
    /// Approval levels, level 1 first.
    pub levels: Vec<LevelJson>,
    /// Per-asset limits.
    pub limits: Vec<LimitJson>,
    /// Distinguishes otherwise equal flows.
    pub nonce: u64,
}

impl FlowJson {
    /// The typed flow, or which field is malformed.
    pub fn parse(&self) -> Result<BoxFlow, ApiError> {
        let addrs = |field: &str, v: &[String]| {
            v.iter().enumerate().map(|(i, s)| parse_addr(&format!("{field}[{i}]"), s)).collect::<Result<Vec<_>, _>>()
        };
        Ok(BoxFlow {
            name: self.name.clone(),
            employees: addrs("flow.employees", &self.employees)?,
            levels: self
                .levels
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    Ok(ApprovalLevel {
                        name: l.name.clone(),
                        approvers: addrs(&format!("flow.levels[{i}].approvers"), &l.approvers)?,
                        threshold: l.threshold,
                    })
                })
                .collect::<Result<_, ApiError>>()?,
            limits: self
                .limits
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let f = |n: &str| format!("flow.limits[{i}].{n}");
                    Ok(AssetLimit {
                        asset: parse_addr(&f("asset"), &l.asset)?,
                        perTransfer: parse_units(&f("perTransfer"), &l.per_transfer)?,
                        perPeriod: parse_units(&f("perPeriod"), &l.per_period)?,
                        periodSeconds: l.period_seconds,
                        maxFee: parse_units(&f("maxFee"), &l.max_fee)?,
                    })
                })
                .collect::<Result<_, ApiError>>()?,
            nonce: self.nonce,
        })
    }

    /// The JSON form of a typed flow.
    pub fn from_flow(f: &BoxFlow) -> Self {
        let addrs = |v: &[Address]| v.iter().map(|a| a.to_checksum(None)).collect();
        Self {
            name: f.name.clone(),
            employees: addrs(&f.employees),
            levels: f
                .levels
                .iter()
                .map(|l| LevelJson { name: l.name.clone(), approvers: addrs(&l.approvers), threshold: l.threshold })
                .collect(),
            limits: f
                .limits
                .iter()
                .map(|l| LimitJson {
                    asset: l.asset.to_checksum(None),
                    per_transfer: l.perTransfer.to_string(),
                    per_period: l.perPeriod.to_string(),
                    period_seconds: l.periodSeconds,
                    max_fee: l.maxFee.to_string(),
                })
                .collect(),
            nonce: f.nonce,
        }
    }
}

/// Draft a flow (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowIn {
    /// The flow.
    pub flow: FlowJson,
}

/// Where a queued subject stands in the relay to the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RelayOut {
    /// The chain subject id.
    pub subject_id: String,
    /// When the gateway accepted it.
    pub queued_at: i64,
    /// Submission attempts so far.
    pub attempts: i64,
    /// Why the last attempt failed, while no node has taken it.
    pub last_error: Option<String>,
    /// When a node accepted it.
    pub relayed_at: Option<i64>,
    /// `submitted`, `duplicate` or `refused: <reason>`.
    pub outcome: Option<String>,
}

impl From<crate::store::OutboxRow> for RelayOut {
    fn from(o: crate::store::OutboxRow) -> Self {
        Self {
            subject_id: o.subject_id,
            queued_at: o.created_at,
            attempts: o.attempts,
            last_error: o.last_error,
            relayed_at: o.relayed_at,
            outcome: o.outcome,
        }
    }
}

/// A flow and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowOut {
    /// The flow hash (its identity; EIP-712 signing hash).
    pub hash: String,
    /// The flow.
    pub flow: FlowJson,
    /// `draft`, `queued`, `submitted`, `notarized`, `authorized`, `active`,
    /// `disabled`, `rejected` or `refused` (by the chain at submission).
    pub status: String,
    /// Key holders whose enable is notarized.
    pub enabled_by: Vec<String>,
    /// The anchoring transaction on the public chain, once active.
    pub anchor_tx: Option<String>,
    /// The admin who drafted it.
    pub created_by: String,
    /// When.
    pub created_at: i64,
    /// The relay of its submission.
    pub relay: Option<RelayOut>,
}

/// A key holder's signed `enable(flowHash)` or `disable(flowHash)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationIn {
    /// `true` to enable, `false` to disable.
    pub enable: bool,
    /// The key holder's signature over EIP-712 `FlowAuthorization { flowHash, enable }`.
    pub signature: String,
}

/// Accepted for the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueuedOut {
    /// The chain subject id.
    pub subject_id: String,
}

/// A key holder's signature on a governance action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GovernanceIn {
    /// The action: box-core canonical bytes of `FreezeEmployee`,
    /// `BlockDestination`, `RegisterAsset` or `PauseTransfers`, 0x hex.
    pub action: String,
    /// The key holder's signature over the action's EIP-712 signing hash.
    pub signature: String,
}

/// A governance action and its signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GovernanceOut {
    /// The action's signing hash.
    pub hash: String,
    /// What it does.
    pub description: String,
    /// The canonical action bytes, 0x hex.
    pub action: String,
    /// Key holders who signed.
    pub signers: Vec<String>,
    /// `any_key_holder` or `all_key_holders`.
    pub needs: String,
    /// The relay, once the signatures suffice.
    pub relay: Option<RelayOut>,
}

// ---- transfers ----

/// An application (EIP-712 `TransferRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferRequestJson {
    /// The applicant's unique id for this request, 0x + 64 hex.
    pub request_id: String,
    /// The flow it applies under.
    pub flow_hash: String,
    /// The applicant.
    pub applicant: String,
    /// Asset address (address(0) = ETH).
    pub asset: String,
    /// Destination.
    pub to: String,
    /// Amount, base units, decimal.
    pub amount: String,
    /// Most fee the transfer may spend, base units (wei), decimal.
    pub max_fee: String,
    /// Public chain id.
    pub chain_id: u64,
    /// When the applicant signed, Unix seconds.
    pub timestamp: u64,
}

impl TransferRequestJson {
    /// The typed request.
    pub fn parse(&self) -> Result<TransferRequest, ApiError> {
        Ok(TransferRequest {
            requestId: parse_b256("request.requestId", &self.request_id)?,
            flowHash: parse_b256("request.flowHash", &self.flow_hash)?,
            applicant: parse_addr("request.applicant", &self.applicant)?,
            asset: parse_addr("request.asset", &self.asset)?,
            to: parse_addr("request.to", &self.to)?,
            amount: parse_units("request.amount", &self.amount)?,
            maxFee: parse_units("request.maxFee", &self.max_fee)?,
            chainId: self.chain_id,
            timestamp: self.timestamp,
        })
    }

    /// The JSON form of a typed request.
    pub fn from_request(r: &TransferRequest) -> Self {
        Self {
            request_id: r.requestId.to_string(),
            flow_hash: r.flowHash.to_string(),
            applicant: r.applicant.to_checksum(None),
            asset: r.asset.to_checksum(None),
            to: r.to.to_checksum(None),
            amount: r.amount.to_string(),
            max_fee: r.maxFee.to_string(),
            chain_id: r.chainId,
            timestamp: r.timestamp,
        }
    }
}

/// Apply for a transfer (employee).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyIn {
    /// The request.
    pub request: TransferRequestJson,
    /// The applicant's signature over its EIP-712 signing hash.
    pub signature: String,
}

/// Approve at a level (approver).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApproveIn {
    /// The level, 1-based; must be the open level.
    pub level: u32,
    /// The approver's signature over EIP-712 `Approval { request, level, below }`,
    /// with `below` computed by the client from the signatures it was shown.
    pub signature: String,
}

/// Reject (an approver of the open level).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RejectIn {
    /// Why, for the applicant.
    pub reason: String,
}

/// One approver's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignatureOut {
    /// The approver.
    pub approver: String,
    /// Their signature.
    pub signature: String,
}

/// One level's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LevelProgress {
    /// 1-based.
    pub level: u32,
    /// Name.
    pub name: String,
    /// Required approvals.
    pub threshold: u32,
    /// Who may approve.
    pub approvers: Vec<String>,
    /// Signatures collected, ascending by approver address.
    pub signatures: Vec<SignatureOut>,
    /// Closed: the threshold is met and the level above may sign.
    pub complete: bool,
}

/// Where a transfer stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferStatusOut {
    /// `collecting`, `rejected_by_approver`, `queued` (accepted, not yet on the
    /// chain), `refused_by_chain`, and from the chain: `submitted`, `notarized`,
    /// `broadcast`, `confirmed`, `rejected`, `refused`, `failed`.
    pub state: String,
    /// The reason, for the rejected, refused and failed states.
    pub reason: Option<String>,
    /// The public transaction, once broadcast.
    pub tx_hash: Option<String>,
    /// Its nonce.
    pub nonce: Option<u64>,
}

/// A transfer in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferSummary {
    /// Transfer id.
    pub id: String,
    /// Flow.
    pub flow_hash: String,
    /// Applicant.
    pub applicant: String,
    /// Asset.
    pub asset: String,
    /// Destination.
    pub to: String,
    /// Base units, decimal.
    pub amount: String,
    /// The open level while collecting.
    pub open_level: Option<u32>,
    /// Where it stands.
    pub status: TransferStatusOut,
    /// When it was applied for.
    pub created_at: i64,
}

/// A transfer with its approval progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferOut {
    /// Transfer id (EIP-712 hash of the request).
    pub id: String,
    /// The signed request.
    pub request: TransferRequestJson,
    /// The applicant's signature.
    pub applicant_signature: String,
    /// The amount in whole units with the asset's symbol, e.g. `1.5 ETH`, if the asset is registered.
    pub display_amount: Option<String>,
    /// Progress per level.
    pub levels: Vec<LevelProgress>,
    /// The level that may sign now, while collecting.
    pub open_level: Option<u32>,
    /// Where it stands.
    pub status: TransferStatusOut,
    /// Who rejected it (an approver), if so.
    pub rejected_by: Option<String>,
    /// The relay to the chain, once complete.
    pub relay: Option<RelayOut>,
    /// When it was applied for.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// Filters for listing transfers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TransferQuery {
    /// Only this applicant's (employees always see only their own).
    pub applicant: Option<String>,
    /// Only this local state: `collecting`, `submitting`, `rejected`.
    pub state: Option<String>,
    /// Only this flow's.
    pub flow: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<i64>,
    /// Skip this many.
    pub offset: Option<i64>,
}

// ---- status ----

/// The deployment this gateway serves: what clients sign under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentOut {
    /// EIP-712 domain name.
    pub domain_name: String,
    /// EIP-712 domain version.
    pub domain_version: String,
    /// Public chain id (domain chainId).
    pub chain_id: u64,
    /// Deployment id (domain salt).
    pub deployment_id: String,
    /// Key holders.
    pub key_holders: Vec<String>,
    /// The signer's address.
    pub signer: String,
}

/// One node's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeOut {
    /// Raft id.
    pub id: u64,
    /// Endpoint.
    pub endpoint: String,
    /// Whether it answered.
    pub reachable: bool,
    /// Why not.
    pub error: Option<String>,
    /// The leader it names (0 = none).
    pub leader: u64,
    /// Its latest sealed block.
    pub height: u64,
    /// Last applied log index.
    pub last_applied: u64,
    /// Voters.
    pub voters: Vec<u64>,
    /// Learners.
    pub learners: Vec<u64>,
    /// Its node account.
    pub account: String,
    /// Entries not yet sealed.
    pub unsealed: u64,
}

/// The cluster as its nodes see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterOut {
    /// Each node.
    pub nodes: Vec<NodeOut>,
    /// The leader most reachable nodes name, if any.
    pub leader: Option<u64>,
}

/// The gateway's own state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusOut {
    /// Blocks verified and replayed by the gateway.
    pub verified_height: u64,
    /// The latest height a node reported.
    pub latest_height: u64,
    /// Why transfers are paused, if they are.
    pub paused: Option<String>,
    /// Subjects accepted but not yet taken by a node.
    pub outbox_pending: u64,
    /// Registered assets: `ETH` and ERC-20 symbols with their contract.
    pub assets: Vec<String>,
}

/// The audit export: verify with `box_core::audit::verify_history(genesis, blocks)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditOut {
    /// The genesis (JSON, as the nodes read it).
    #[schema(value_type = Object)]
    pub genesis: serde_json::Value,
    /// Sealed blocks from `from`, each box-core canonical bytes, 0x hex.
    pub blocks: Vec<String>,
    /// Height of the first block.
    pub from: u64,
    /// The height to ask from next, when more blocks remain.
    pub next: Option<u64>,
}

/// Paging for the audit export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// First height (default 1).
    pub from: Option<u64>,
    /// Most blocks (default and maximum 1000).
    pub limit: Option<u64>,
}

// ---- ceremony, signer, wallet ----

/// A key holder device's ceremony message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CeremonyIn {
    /// box-core canonical bytes of the entry (a signed `CeremonyMessage`
    /// whose payload is HPKE-sealed to the signer's ceremony key), 0x hex.
    pub entry: String,
}

/// The chain's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CeremonyOut {
    /// What the log said when it took the entry.
    pub outcome: String,
}

/// The signer's signed announcement, as the verified chain holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignerOut {
    /// This boot's id: the challenge ceremony messages answer.
    pub boot: String,
    /// Only grows.
    pub sequence: u64,
    /// `awaiting_enrolment`, `awaiting_genesis`, `sealed`, `unsealed` or `locked`.
    pub state: String,
    /// The per-boot X25519 ceremony public key, 0x hex.
    pub ceremony_key: String,
    /// The hot wallet (address(0) until derived).
    pub wallet: String,
    /// Enrolled key-holder devices.
    pub devices: Vec<String>,
    /// Key holders.
    pub holders: u8,
    /// Phrases received in this ceremony.
    pub received: u8,
    /// Whether transfers are paused.
    pub paused: bool,
    /// The signer's note.
    pub detail: String,
    /// When it announced (Unix seconds, its clock).
    pub time: u64,
    /// The signer's signature over the announcement.
    pub signature: String,
    /// The gateway's verified height that holds it.
    pub verified_height: u64,
}

/// One balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BalanceOut {
    /// Asset address (address(0) = ETH).
    pub asset: String,
    /// Symbol.
    pub symbol: String,
    /// Decimals.
    pub decimals: u8,
    /// Base units, decimal.
    pub balance: String,
    /// Whole units with the symbol, e.g. `1.5 ETH`.
    pub display: String,
}

/// The hot wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WalletOut {
    /// Its address, from the signer's announcement.
    pub wallet: String,
    /// The signer's announced state.
    pub signer_state: String,
    /// ETH first, then every registered ERC-20.
    pub balances: Vec<BalanceOut>,
}
