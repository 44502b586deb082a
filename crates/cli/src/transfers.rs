//! Transfers as people read them: the amount with its symbol, the EIP-55
//! destination, the applicant, the flow, and the progress per level. The
//! amount and destination shown come from the signed request, checked
//! against the transfer id, never from the gateway's own display fields.

use crate::assets::AssetBook;
use crate::error::{CliError, CliResult};
use crate::ui::{Paint, Ui};
use box_api::{TransferOut, TransferState};
use box_core::ids::FlowHash;
use serde::Serialize;
use std::collections::BTreeMap;

/// One approval level's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LevelView {
    /// 1-based.
    pub level: u32,
    /// Name.
    pub name: String,
    /// Signatures collected.
    pub have: usize,
    /// Signatures required.
    pub need: u32,
    /// Closed.
    pub complete: bool,
    /// Who signed.
    pub signed_by: Vec<String>,
}

/// A transfer, checked and readable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferView {
    /// Transfer id.
    pub id: String,
    /// Flow hash.
    pub flow: String,
    /// Flow name, when known.
    pub flow_name: Option<String>,
    /// Applicant (EIP-55).
    pub applicant: String,
    /// Asset address (EIP-55; address(0) = ETH).
    pub asset: String,
    /// Amount, base units, decimal.
    pub amount: String,
    /// Amount with symbol, e.g. `1.5 ETH`.
    pub display_amount: String,
    /// Destination (EIP-55).
    pub to: String,
    /// Fee cap with symbol.
    pub max_fee: String,
    /// Where it stands.
    pub state: TransferState,
    /// Why, when refused, rejected or failed.
    pub reason: Option<String>,
    /// The public transaction, once broadcast.
    pub tx_hash: Option<String>,
    /// Once confirmed: what the signer's confirmed report adds, e.g. a
    /// token's shortfall (`shortfall: delivered 247.5 of 250 FEE; …`).
    pub detail: Option<String>,
    /// The level that may sign now.
    pub open_level: Option<u32>,
    /// Progress per level.
    pub levels: Vec<LevelView>,
    /// When applied for (Unix seconds).
    pub created_at: i64,
}

/// Checks that the request shown hashes to the transfer's id, then builds the view.
pub fn view(
    domain: &box_core::typed::Domain,
    t: &TransferOut,
    book: &AssetBook,
    flow_names: &BTreeMap<FlowHash, String>,
) -> CliResult<TransferView> {
    let r = &t.request.0;
    if domain.transfer_id(r) != t.id {
        return Err(CliError::Untrusted(format!(
            "the request the gateway shows does not hash to transfer id {}",
            t.id
        )));
    }
    Ok(TransferView {
        id: t.id.to_string(),
        flow_name: flow_names.get(&FlowHash(r.flowHash)).cloned(),
        flow: r.flowHash.to_string(),
        applicant: r.applicant.to_checksum(None),
        asset: r.asset.to_checksum(None),
        amount: r.amount.to_string(),
        display_amount: book.format(&r.asset, r.amount),
        to: r.to.to_checksum(None),
        max_fee: format!("{} ETH", box_core::Amount(r.maxFee).format(18)),
        state: t.status.state,
        reason: t.status.reason.clone(),
        tx_hash: t.status.tx_hash.map(|h| h.to_string()),
        detail: t.status.detail.clone(),
        open_level: t.open_level,
        levels: t
            .levels
            .iter()
            .map(|l| LevelView {
                level: l.level,
                name: l.name.clone(),
                have: l.signatures.len(),
                need: l.threshold,
                complete: l.complete,
                signed_by: l.signatures.iter().map(|s| s.approver.to_checksum(None)).collect(),
            })
            .collect(),
        created_at: t.created_at,
    })
}

/// Flow hash → name, from the gateway's list.
pub async fn flow_names(s: &crate::session::Session) -> CliResult<BTreeMap<FlowHash, String>> {
    Ok(s.client().await?.flows().await?.into_iter().map(|f| (f.hash, f.flow.0.name)).collect())
}

/// Prints a transfer for people.
pub fn print(ui: &Ui, v: &TransferView) {
    let flow = match &v.flow_name {
        Some(n) => format!("{n} ({})", short(&v.flow)),
        None => v.flow.clone(),
    };
    ui.line(&format!("{} {}", ui.paint(Paint::Bold, "transfer"), v.id));
    ui.line(&format!("  amount     {}", ui.paint(Paint::Bold, &v.display_amount)));
    ui.line(&format!("  to         {}", v.to));
    ui.line(&format!("  applicant  {}", v.applicant));
    ui.line(&format!("  flow       {flow}"));
    ui.line(&format!("  max fee    {}", v.max_fee));
    let word = v.state.as_str();
    let state = match v.state {
        TransferState::Confirmed => ui.paint(Paint::Green, word),
        TransferState::Rejected
        | TransferState::Refused
        | TransferState::Failed
        | TransferState::RejectedByApprover
        | TransferState::RefusedByChain => ui.paint(Paint::Red, word),
        _ => ui.paint(Paint::Yellow, word),
    };
    ui.line(&format!("  state      {state}{}", v.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()));
    if let Some(tx) = &v.tx_hash {
        ui.line(&format!("  tx         {tx}"));
    }
    if let Some(detail) = &v.detail {
        // A shortfall is money that did not arrive: shown so people see it.
        ui.line(&format!("  detail     {}", ui.paint(Paint::Yellow, detail)));
    }
    for l in &v.levels {
        let mark = if l.complete {
            ui.paint(Paint::Green, "done")
        } else if v.open_level == Some(l.level) {
            ui.paint(Paint::Yellow, "open")
        } else {
            ui.paint(Paint::Dim, "waiting")
        };
        ui.line(&format!("  level {} {:<12} {}/{} {mark}", l.level, l.name, l.have, l.need));
    }
}

fn short(h: &str) -> String {
    if h.chars().count() > 12 { format!("{}…", h.chars().take(10).collect::<String>()) } else { h.to_owned() }
}
