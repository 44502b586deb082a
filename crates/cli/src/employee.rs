//! The employee's app (员工 APP): fetch the issued key (whitepaper step E)
//! and apply for transfers.

use crate::assets;
use crate::error::{CliError, CliResult};
use crate::files::write_private;
use crate::keystore;
use crate::profile::Profile;
use crate::session::Session;
use box_core::address::parse_address;
use box_core::crypto::SecretKey;
use box_core::ids::FlowHash;
use box_core::typed::TransferRequest;
use box_core::{Address, B256, U256};
use box_gateway::api::dto::TransferOut;
use rand_core::{OsRng, TryRngCore};
use std::path::Path;

/// Downloads the keystore parked for `address` (step E), checks that
/// `password` opens it and that it holds the key of `address`, and stores it
/// at `out` (mode 0600, never overwriting). Needs no key of one's own: the
/// download is an unsigned request, and the file is useless without the password.
pub async fn fetch_key(profile: &Profile, address: Address, password: &str, out: &Path) -> CliResult<SecretKey> {
    if out.exists() {
        return Err(CliError::usage(format!("{} already exists; refusing to overwrite it", out.display())));
    }
    // A throwaway key only to build the client; the request is sent unsigned.
    let nobody = keystore::random_key().map_err(|e| CliError::failed(e.to_string()))?;
    let s = Session::new(profile.clone(), nobody)?;
    let client = s.client().await?;
    let path = format!("/v1/people/{}/keystore", address.to_checksum(None));
    let r = client.send("GET", &path, Vec::new(), false).await?;
    let escrow: box_gateway::api::dto::EscrowOut = box_gateway::client::decode(r)?;
    let key = keystore::decrypt(&escrow.keystore, password).map_err(|e| match e {
        keystore::KeystoreError::WrongPassword => {
            CliError::usage("the password does not open this keystore; check it with the admin who issued the key")
        }
        other => CliError::Untrusted(format!("the keystore the gateway holds for {address}: {other}")),
    })?;
    if key.address() != address {
        return Err(CliError::Untrusted(format!(
            "the keystore the gateway holds for {address} contains the key of {}",
            key.address()
        )));
    }
    let text = serde_json::to_vec_pretty(&escrow.keystore).map_err(|e| CliError::failed(e.to_string()))?;
    write_private(out, &text)?;
    Ok(key)
}

/// An application as people write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyArgs {
    /// `ETH`, a registered token's symbol, or its contract address.
    pub asset: String,
    /// Destination address (EIP-55 checked when mixed case).
    pub to: String,
    /// Whole units, decimal (`1.5`).
    pub amount: String,
    /// The flow; default: the only active flow that lists the applicant.
    pub flow: Option<FlowHash>,
    /// Most fee the transfer may spend, in ETH (`0.01`).
    pub max_fee: String,
}

/// The default fee cap, in ETH.
pub const DEFAULT_MAX_FEE: &str = "0.01";

/// The flow to apply under: `given`, else the only active flow listing `me`.
async fn pick_flow(s: &Session, given: Option<FlowHash>) -> CliResult<FlowHash> {
    if let Some(f) = given {
        return Ok(f);
    }
    let me = s.address();
    let mine: Vec<_> = s
        .client()
        .await?
        .flows()
        .await?
        .into_iter()
        .filter(|f| f.status == "active" && f.flow.employees.iter().any(|e| parse_address(e).ok() == Some(me)))
        .collect();
    match mine.as_slice() {
        [one] => one.hash.parse().map_err(|_| CliError::Untrusted(format!("flow hash {:?}", one.hash))),
        [] => Err(CliError::refused("no_flow", format!("no active flow lists {me} as an employee"))),
        many => Err(CliError::usage(format!(
            "several active flows list you; choose one with --flow: {}",
            many.iter().map(|f| format!("{} ({})", f.hash, f.flow.name)).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Signs and submits an application; returns the transfer as the gateway took it.
pub async fn apply(s: &Session, args: &ApplyArgs) -> CliResult<TransferOut> {
    let book = assets::load(s).await?;
    let asset = book.resolve(&args.asset)?;
    let to = parse_address(&args.to).map_err(|e| CliError::usage(format!("--to: {e}")))?;
    if to.is_zero() {
        return Err(CliError::usage("--to is address(0); funds sent there are burnt"));
    }
    let amount = book.parse_amount(&asset, &args.amount)?;
    if amount == U256::ZERO {
        return Err(CliError::usage("--amount is zero"));
    }
    let max_fee =
        box_core::Amount::parse(&args.max_fee, 18).map_err(|e| CliError::usage(format!("--max-fee (in ETH): {e}")))?.0;
    let flow = pick_flow(s, args.flow).await?;
    let mut id = B256::ZERO;
    OsRng.try_fill_bytes(id.as_mut_slice()).map_err(|e| CliError::failed(format!("no randomness: {e}")))?;
    let request = TransferRequest {
        requestId: id,
        flowHash: flow.0,
        applicant: s.address(),
        asset: asset.address,
        to,
        amount,
        maxFee: max_fee,
        chainId: s.genesis().chainId,
        timestamp: crate::ceremony::unix_now(),
    };
    let out = s.client().await?.apply(&request).await?;
    if out.id != s.domain().transfer_id(&request).to_string() {
        return Err(CliError::Untrusted(format!("the gateway names the transfer {} but its id is another", out.id)));
    }
    Ok(out)
}

/// The transfers of this applicant (most recent first, as the gateway lists them).
pub async fn my_transfers(s: &Session) -> CliResult<Vec<box_gateway::api::dto::TransferSummary>> {
    let q = box_gateway::api::dto::TransferQuery {
        applicant: Some(s.address().to_checksum(None)),
        limit: Some(500),
        ..Default::default()
    };
    Ok(s.client().await?.transfers(&q).await?)
}
