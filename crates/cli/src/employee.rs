//! The employee's app (员工 APP): fetch the issued key (whitepaper step E)
//! and apply for transfers.

use crate::assets;
use crate::error::{CliError, CliResult};
use crate::files::write_private;
use crate::keystore;
use crate::profile::Profile;
use crate::session::Session;
use box_api::{FlowState, TransferOut};
use box_core::address::parse_address;
use box_core::amount::Decimal;
use box_core::crypto::SecretKey;
use box_core::ids::FlowHash;
use box_core::typed::TransferRequest;
use box_core::{Address, B256, U256};
use rand_core::{OsRng, TryRngCore};
use std::path::Path;

/// Downloads the keystore parked for `address` (step E), once: claims it
/// with the download token derived from `password` (no key of one's own is
/// needed, and afterwards the gateway serves it only to signed requests),
/// checks that `password` opens it and that it holds the key of `address`,
/// and stores it at `out` (mode 0600, never overwriting).
///
/// A wrong password spends nothing: its token is not the one the gateway
/// knows, and the gateway's answer is the same as for an address with no
/// keystore (so it tells nobody who has one).
pub async fn fetch_key(profile: &Profile, address: Address, password: &str, out: &Path) -> CliResult<SecretKey> {
    if out.exists() {
        return Err(CliError::usage(format!("{} already exists; refusing to overwrite it", out.display())));
    }
    // A throwaway key only to build the client; the claim is sent unsigned.
    let nobody = keystore::random_key().map_err(|e| CliError::failed(e.to_string()))?;
    let s = Session::new(profile.clone(), nobody)?;
    let client = s.client().await?;
    let escrow = match client.claim_keystore(address, keystore::download_token(password)).await {
        Ok(e) => e,
        Err(e) if e.code() == Some("nothing_to_claim") => {
            return Err(CliError::usage(format!(
                "the password does not open a keystore parked for {address}: check it with the admin who issued the key \
                 (a keystore is downloaded once: if you did already, use the file you stored)"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    // From here the download is spent: what fails says how to get the file again.
    let spent = "the one download is spent; an admin can read the keystore (signed) and hand the file over";
    let key = keystore::decrypt(&escrow.keystore, password).map_err(|e| {
        CliError::Untrusted(format!(
            "the keystore the gateway served for {address} does not open with the password it took the token of: {e}"
        ))
    })?;
    if key.address() != address {
        return Err(CliError::Untrusted(format!(
            "the keystore the gateway holds for {address} contains the key of {}",
            key.address()
        )));
    }
    let text = serde_json::to_vec_pretty(&escrow.keystore).map_err(|e| CliError::failed(format!("{e}; {spent}")))?;
    write_private(out, &text).map_err(|e| CliError::failed(format!("{e}; {spent}")))?;
    Ok(key)
}

/// An application as people write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyArgs {
    /// `ETH`, a registered token's symbol, or its contract address.
    pub asset: String,
    /// Destination address (EIP-55 checked when mixed case).
    pub to: String,
    /// Whole units, a plain decimal (`1.5`): box-core's one amount grammar,
    /// the one the gateway's API reads base units with.
    pub amount: Decimal,
    /// The flow; default: the only active flow that lists the applicant.
    pub flow: Option<FlowHash>,
    /// Most fee the transfer may spend, in ETH (`0.01`).
    pub max_fee: Decimal,
}

/// The default fee cap, in ETH.
pub const DEFAULT_MAX_FEE: &str = "0.01";

/// Parses an amount argument (`--amount`, `--max-fee`) with box-core's
/// amount grammar, before anything is asked of the gateway or signed.
pub fn parse_decimal(s: &str) -> Result<Decimal, String> {
    Decimal::parse(s).map_err(|e| e.to_string())
}

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
        .filter(|f| f.status == FlowState::Active && f.flow.0.employees.contains(&me))
        .collect();
    match mine.as_slice() {
        [one] => Ok(one.hash),
        [] => Err(CliError::refused("no_flow", format!("no active flow lists {me} as an employee"))),
        many => Err(CliError::usage(format!(
            "several active flows list you; choose one with --flow: {}",
            many.iter().map(|f| format!("{} ({})", f.hash, f.flow.0.name)).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// An application built and checked, not yet signed: what will be signed,
/// and how a person reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// The request to sign.
    pub request: TransferRequest,
    /// The amount with its symbol (`1.5 ETH`).
    pub amount: String,
    /// The destination, EIP-55.
    pub to: String,
    /// The fee cap with its symbol (`0.01 ETH`).
    pub max_fee: String,
}

impl Application {
    /// The lines a person checks before signing.
    pub fn summary(&self) -> Vec<String> {
        vec![
            format!("amount:  {} ({} base units)", self.amount, self.request.amount),
            format!("to:      {}", self.to),
            format!("fee cap: {}", self.max_fee),
            format!("flow:    {}", self.request.flowHash),
        ]
    }
}

/// Builds and checks an application: the asset, the destination, the amount
/// in the asset's decimals (more fractional digits than it has are refused),
/// the fee cap, the flow. Signs and sends nothing.
pub async fn prepare(s: &Session, args: &ApplyArgs) -> CliResult<Application> {
    let book = assets::load(s).await?;
    let asset = book.resolve(&args.asset)?;
    let to = parse_address(&args.to).map_err(|e| CliError::usage(format!("--to: {e}")))?;
    if to.is_zero() {
        return Err(CliError::usage("--to is address(0); funds sent there are burnt"));
    }
    let amount = book.to_base_units(&asset, &args.amount)?;
    if amount == U256::ZERO {
        return Err(CliError::usage("--amount is zero"));
    }
    let max_fee = args.max_fee.to_amount(18).map_err(|e| CliError::usage(format!("--max-fee (in ETH): {e}")))?.0;
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
    Ok(Application {
        amount: book.format(&asset.address, amount),
        to: to.to_checksum(None),
        max_fee: format!("{} ETH", box_core::Amount(max_fee).format(18)),
        request,
    })
}

/// Signs a prepared application (dated now) and sends it; returns the
/// transfer as the gateway took it, checked against its id.
pub async fn submit(s: &Session, app: &Application) -> CliResult<TransferOut> {
    let request = TransferRequest { timestamp: crate::ceremony::unix_now(), ..app.request.clone() };
    let out = s.client().await?.apply(&request).await?;
    if out.id != s.domain().transfer_id(&request) {
        return Err(CliError::Untrusted(format!("the gateway names the transfer {} but its id is another", out.id)));
    }
    Ok(out)
}

/// [`prepare`] then [`submit`], without showing anything (for programs).
pub async fn apply(s: &Session, args: &ApplyArgs) -> CliResult<TransferOut> {
    submit(s, &prepare(s, args).await?).await
}

/// The transfers of this applicant (most recent first, as the gateway lists them).
pub async fn my_transfers(s: &Session) -> CliResult<Vec<box_api::TransferSummary>> {
    let q = box_api::TransferQuery { applicant: Some(s.address()), limit: Some(500), ..Default::default() };
    Ok(s.client().await?.transfers(&q).await?)
}
