//! The admin's app (管理 APP): register people, issue employee keys
//! (whitepaper steps A–E), build and submit approval flows.

use crate::assets;
use crate::error::{CliError, CliResult};
use crate::flowfile;
use crate::keystore::{self, ScryptCost};
use crate::session::Session;
use box_api::Role;
use box_api::{FlowOut, PersonOut, QueuedOut};
use box_core::Address;
use box_core::ids::FlowHash;
use box_core::typed::BoxFlow;
use serde::Serialize;
use zeroize::Zeroizing;

/// Parses a role name as people type it.
pub fn parse_role(s: &str) -> CliResult<Role> {
    match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
        "employee" => Ok(Role::Employee),
        "approver" => Ok(Role::Approver),
        "auditor" => Ok(Role::Auditor),
        other => Err(CliError::usage(format!(
            "role {other:?}: an admin registers employee, approver or auditor (key holders come from the genesis, admins from the gateway's config)"
        ))),
    }
}

/// Registers (or updates) a person with `roles`.
pub async fn register(s: &Session, address: Address, name: &str, roles: &[Role]) -> CliResult<PersonOut> {
    if name.trim().is_empty() {
        return Err(CliError::usage("--name is empty"));
    }
    if roles.is_empty() {
        return Err(CliError::usage("give at least one --role (employee, approver or auditor)"));
    }
    Ok(s.client().await?.register(address, name.trim(), roles).await?)
}

/// Everyone registered.
pub async fn people(s: &Session) -> CliResult<Vec<PersonOut>> {
    Ok(s.client().await?.people().await?)
}

/// A freshly issued key: give `password` to the person offline, once.
#[derive(Serialize)]
pub struct IssuedKey {
    /// The new key's address (registered).
    pub address: Address,
    /// The keystore's password. Shown once; never stored by boxctl.
    #[serde(skip)]
    pub password: Zeroizing<String>,
    /// The keystore v3 JSON as parked at the gateway (encrypted).
    pub keystore: serde_json::Value,
    /// The registration.
    pub person: PersonOut,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IssuedKey({}, password <redacted>)", self.address)
    }
}

/// Whitepaper steps A–D: (A) makes a key and a random password, (B) encrypts
/// the key under it as a keystore v3 file, registers the person with
/// `roles`, and (D) parks the encrypted file at the gateway with the hash of
/// its download token ([`keystore::download_token`], derived from the
/// password), so it can be downloaded once, unsigned, by whoever has the
/// password, and afterwards only by its owner's signed request. Step (C),
/// handing the password over offline, is the caller's; step (E) is
/// [`crate::employee::fetch_key`]. Nothing secret is written anywhere.
pub async fn issue_key(s: &Session, name: &str, roles: &[Role]) -> CliResult<IssuedKey> {
    let failed = |e: keystore::KeystoreError| CliError::failed(e.to_string());
    let key = keystore::random_key().map_err(failed)?;
    let password = keystore::random_password().map_err(failed)?;
    // The password is 125 random bits: scrypt's light cost is plenty and keeps issuing fast.
    let json = keystore::encrypt(&key, &password, ScryptCost::LIGHT).map_err(failed)?;
    let person = register(s, key.address(), name, roles).await?;
    let token = keystore::download_token(&password);
    s.client().await?.put_keystore(key.address(), json.clone(), Some(token)).await?;
    Ok(IssuedKey { address: key.address(), password, keystore: json, person })
}

/// Reads a flow file (TOML), checks it as the chain will, and drafts it at the gateway.
pub async fn create_flow_file(s: &Session, toml_text: &str) -> CliResult<FlowOut> {
    let book = assets::load(s).await?;
    let flow = flowfile::parse_checked(toml_text, &book, &s.domain())?;
    create_flow(s, &flow).await
}

/// Drafts `flow` at the gateway, checking the gateway names it by its hash.
pub async fn create_flow(s: &Session, flow: &BoxFlow) -> CliResult<FlowOut> {
    box_core::flow::verify_flow(&s.domain(), flow)
        .map_err(|e| CliError::usage(format!("the flow would be refused: {e}")))?;
    let out = s.client().await?.create_flow(flow).await?;
    let want = s.domain().flow_hash(flow);
    if out.hash != want {
        return Err(CliError::Untrusted(format!("the gateway names the flow {} but its hash is {want}", out.hash)));
    }
    Ok(out)
}

/// Queues a drafted flow for notarization.
pub async fn submit_flow(s: &Session, hash: FlowHash) -> CliResult<QueuedOut> {
    Ok(s.client().await?.submit_flow(hash).await?)
}

/// Every flow with its status.
pub async fn flows(s: &Session) -> CliResult<Vec<FlowOut>> {
    Ok(s.client().await?.flows().await?)
}

/// Parses a flow hash argument.
pub fn parse_flow_hash(s: &str) -> CliResult<FlowHash> {
    s.trim().parse().map_err(|_| CliError::usage(format!("{s:?} is not a flow hash (0x followed by 64 hex digits)")))
}
