//! `boxctl audit report`: what the regulator reads (issue 15, item 4).
//! Every transfer with its applicant, approvers per level, the node
//! accounts that notarized it, its public transaction, status and amount in
//! units, and every governance action with who signed it, all taken from a
//! history verified block by block against the genesis (box-core's
//! `HistoryVerifier`, the code the nodes and the signer run). Nothing in it
//! comes from the gateway's word.

use crate::error::{CliError, CliResult};
use box_core::amount::Amount;
use box_core::audit::HistoryVerifier;
use box_core::block::Block;
use box_core::crypto::recover;
use box_core::governance::SignedAction;
use box_core::notary::{Event, NotaryState, Subject, TransferStatus};
use box_core::quorum::{QuorumCertificate, accept_vote};
use box_core::transbox::TransBox;
use box_core::typed::{Domain, Genesis};
use box_core::{Address, B256};
use serde::Serialize;
use std::collections::BTreeMap;

/// One transfer, as notarized and then reported by the signer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferLine {
    /// Transfer id.
    pub id: B256,
    /// When it was notarized (log time, Unix seconds).
    pub notarized_at: u64,
    /// Who applied (EIP-55).
    pub applicant: String,
    /// Approvers per level (level 1 first), EIP-55.
    pub approvers: Vec<Vec<String>>,
    /// The node accounts whose votes notarized it, EIP-55.
    pub nodes: Vec<String>,
    /// Destination, EIP-55.
    pub to: String,
    /// Amount in the asset's units with its symbol (or base units of an unregistered token).
    pub amount: String,
    /// `notarized`, `broadcast`, `confirmed`, `refused`, `failed`, `rejected`.
    pub status: String,
    /// The public transaction, once broadcast.
    pub tx_hash: Option<B256>,
    /// Why it was refused or failed.
    pub reason: Option<String>,
    /// Once confirmed: what the signer's confirmed report adds, as the
    /// chain's confirmed status holds it (a token's shortfall: `shortfall:
    /// delivered 247.5 of 250 FEE; …`, in the token's units with its symbol).
    pub detail: Option<String>,
}

/// One notarized governance action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GovernanceLine {
    /// When it was notarized (log time, Unix seconds).
    pub notarized_at: u64,
    /// What it did.
    pub action: String,
    /// Who signed it (key holders or node accounts), EIP-55.
    pub signers: Vec<String>,
    /// The node accounts whose votes notarized it, EIP-55.
    pub nodes: Vec<String>,
}

/// The report: everything notarized in `[from, to]` (log time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Blocks verified (the whole history, whatever the window).
    pub blocks: u64,
    /// The state hash after the last block.
    pub state_hash: String,
    /// Transfers notarized in the window, oldest first.
    pub transfers: Vec<TransferLine>,
    /// Governance actions notarized in the window, oldest first.
    pub governance: Vec<GovernanceLine>,
}

fn eip55(a: &Address) -> String {
    a.to_checksum(None)
}

fn voters(domain: &Domain, c: &QuorumCertificate) -> Vec<String> {
    let hash = domain.signing_hash(&accept_vote(c.subject, c.content));
    c.votes.iter().filter_map(|s| recover(&hash, s).ok()).map(|a| eip55(&a)).collect()
}

fn approvers(domain: &Domain, tb: &TransBox) -> Vec<Vec<String>> {
    (1..=tb.levels.len())
        .map(|level| {
            let hash = domain.signing_hash(&tb.approval_for(level));
            tb.levels[level - 1].iter().filter_map(|s| recover(&hash, s).ok()).map(|a| eip55(&a)).collect()
        })
        .collect()
}

fn signers(domain: &Domain, a: &SignedAction) -> Vec<String> {
    let hash = a.action.signing_hash(domain);
    a.signatures.iter().filter_map(|s| recover(&hash, s).ok()).map(|a| eip55(&a)).collect()
}

fn amount(state: &NotaryState, tb: &TransBox) -> String {
    let r = &tb.request;
    match state.assets().get(&r.asset) {
        Some(a) => format!("{} {}", Amount(r.amount).format(a.decimals()), a.symbol()),
        None => box_core::Units::unregistered(r.asset, r.amount).to_string(),
    }
}

fn apply_status(line: &mut TransferLine, status: &TransferStatus) {
    let (word, tx, reason) = match status {
        TransferStatus::Submitted => ("submitted", None, None),
        TransferStatus::Notarized => ("notarized", None, None),
        TransferStatus::Broadcast { tx_hash, .. } => ("broadcast", Some(*tx_hash), None),
        TransferStatus::Confirmed { tx_hash } => ("confirmed", Some(*tx_hash), None),
        TransferStatus::Rejected { reason } => ("rejected", None, Some(reason.clone())),
        TransferStatus::Refused { reason } => ("refused", None, Some(reason.clone())),
        TransferStatus::Failed { reason } => ("failed", None, Some(reason.clone())),
    };
    line.status = word.to_owned();
    line.tx_hash = tx.or(line.tx_hash);
    line.reason = reason;
}

/// Verifies `blocks` against `genesis` and reports what was notarized with a
/// log time in `[from, to]`. Refuses (exit 3) a history that does not verify.
pub fn report(genesis: &Genesis, blocks: &[Block], from: u64, to: u64) -> CliResult<Report> {
    let bad = |e: String| CliError::refused("history_invalid", e);
    let mut v = HistoryVerifier::new(genesis).map_err(|e| bad(e.to_string()))?;
    let domain = genesis.domain();
    let mut transfers: BTreeMap<B256, TransferLine> = BTreeMap::new();
    let mut order: Vec<B256> = Vec::new();
    let mut governance = Vec::new();
    for block in blocks {
        for (time, ev) in v.push_timed(block).map_err(|e| bad(e.to_string()))? {
            let at = time.0;
            let inside = (from..=to).contains(&at);
            match ev {
                Event::Notarized { payload, certificate, .. } => match *payload {
                    Subject::Transfer(tb) if inside => {
                        let id = tb.transfer_id(&domain).0;
                        let line = TransferLine {
                            id,
                            notarized_at: at,
                            applicant: eip55(&tb.request.applicant),
                            approvers: approvers(&domain, &tb),
                            nodes: voters(&domain, &certificate),
                            to: eip55(&tb.request.to),
                            amount: amount(v.state(), &tb),
                            status: "notarized".into(),
                            tx_hash: None,
                            reason: None,
                            detail: None,
                        };
                        order.push(id);
                        transfers.insert(id, line);
                    }
                    Subject::Governance(a) if inside => governance.push(GovernanceLine {
                        notarized_at: at,
                        action: a.action.describe(),
                        signers: signers(&domain, &a),
                        nodes: voters(&domain, &certificate),
                    }),
                    _ => {}
                },
                Event::TransferStatus { transfer, status } => {
                    if let Some(line) = transfers.get_mut(&transfer.0) {
                        apply_status(line, &status);
                        // The confirmed status's detail, read right after the
                        // block that confirmed it: a finished transfer
                        // retires from the live state later (box-core README
                        // "Retirement"), so the state at the end may no
                        // longer hold it.
                        line.detail =
                            v.state().transfer(&transfer).and_then(|t| t.confirmed_detail()).map(str::to_owned);
                    }
                }
                _ => {}
            }
        }
    }
    let state_hash = v.state().state_root().0.to_string();
    let transfers = order.iter().filter_map(|id| transfers.remove(id)).collect();
    Ok(Report { blocks: v.height(), state_hash, transfers, governance })
}

/// The blocks of a `boxctl audit export` file, which must start from
/// `genesis` (the pinned one).
pub fn load_export(path: &std::path::Path, genesis: &Genesis) -> CliResult<Vec<Block>> {
    use box_core::encoding::Canonical;
    let text = std::fs::read(path).map_err(|e| CliError::io("read", path, &e))?;
    let file: crate::audit::ExportFile = serde_json::from_slice(&text)
        .map_err(|e| CliError::usage(format!("{} is not a boxctl audit export: {e}", path.display())))?;
    let bad = |m: String| CliError::refused("history_invalid", m);
    if file.genesis != *genesis {
        return Err(bad("the export starts from another genesis than the one it is checked against".into()));
    }
    file.blocks
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let bytes =
                hex::decode(h.trim_start_matches("0x")).map_err(|_| bad(format!("block {} is not hex", i + 1)))?;
            Block::decode(&bytes).map_err(|e| bad(format!("block {}: {e}", i + 1)))
        })
        .collect()
}

/// The whole history from the gateway (auditor, key holder, admin), which
/// must start from the profile's genesis; [`report`] verifies it.
pub async fn fetch(s: &crate::session::Session) -> CliResult<Vec<Block>> {
    let (genesis, blocks) = s.client().await?.audit_export().await?;
    if genesis != *s.genesis() {
        return Err(CliError::Untrusted(
            "the gateway exports a history from another genesis than the profile's".into(),
        ));
    }
    Ok(blocks)
}

/// Prints the report for people.
pub fn print(ui: &crate::ui::Ui, r: &Report) {
    ui.done(&format!("the history verifies: {} blocks, state hash {}", r.blocks, r.state_hash));
    ui.line(&format!("{} transfers", r.transfers.len()));
    for t in &r.transfers {
        ui.line(&format!("  {} {} {} -> {}  {}", t.notarized_at, t.id, t.amount, t.to, t.status));
        ui.line(&format!("    applicant {}", t.applicant));
        for (i, l) in t.approvers.iter().enumerate() {
            ui.line(&format!("    level {} approved by {}", i + 1, l.join(", ")));
        }
        ui.line(&format!("    notarized by {}", t.nodes.join(", ")));
        if let Some(h) = t.tx_hash {
            ui.line(&format!("    public tx {h}"));
        }
        if let Some(r) = &t.reason {
            ui.line(&format!("    reason: {r}"));
        }
        if let Some(d) = &t.detail {
            ui.line(&format!("    detail: {d}"));
        }
    }
    ui.line(&format!("{} governance actions", r.governance.len()));
    for g in &r.governance {
        ui.line(&format!("  {} {}", g.notarized_at, g.action));
        ui.line(&format!("    signed by {}; notarized by {}", g.signers.join(", "), g.nodes.join(", ")));
    }
}

/// `boxctl audit report`: the history from `file` or the gateway, verified
/// against the profile's genesis, reported in `window` and optionally
/// written as CSV to `csv`.
pub async fn run(
    ui: &crate::ui::Ui,
    profile: &impl Fn() -> CliResult<crate::Profile>,
    session: &impl Fn() -> CliResult<crate::Session>,
    file: Option<std::path::PathBuf>,
    window: (u64, u64),
    csv_out: Option<std::path::PathBuf>,
) -> CliResult<()> {
    if let Some(o) = &csv_out
        && o.exists()
    {
        return Err(CliError::usage(format!("{} already exists; refusing to overwrite it", o.display())));
    }
    let (genesis, blocks) = match file {
        Some(f) => {
            let g = profile()?.genesis;
            let b = load_export(&f, &g)?;
            (g, b)
        }
        None => {
            let s = session()?;
            (s.genesis().clone(), fetch(&s).await?)
        }
    };
    let r = report(&genesis, &blocks, window.0, window.1)?;
    if let Some(o) = &csv_out {
        crate::files::write_private(o, to_csv(&r).as_bytes())?;
    }
    ui.emit(&r, || print(ui, &r))
}

/// One CSV field, quoted when it needs to be (RFC 4180).
fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// The report as CSV: one row per transfer, then one per governance action
/// (`kind` tells them apart). Approvers per level are `L1: a b; L2: c`.
/// `detail` is a transfer's reason (refused, failed, rejected) or its
/// confirmed status's detail (a token's shortfall), a governance action's
/// description.
pub fn to_csv(r: &Report) -> String {
    let mut out = String::from("kind,notarized_at,id,applicant,approvers,nodes,to,amount,status,tx_hash,detail\n");
    for t in &r.transfers {
        let levels: Vec<String> =
            t.approvers.iter().enumerate().map(|(i, l)| format!("L{}: {}", i + 1, l.join(" "))).collect();
        let row = [
            "transfer".to_owned(),
            t.notarized_at.to_string(),
            t.id.to_string(),
            t.applicant.clone(),
            levels.join("; "),
            t.nodes.join(" "),
            t.to.clone(),
            t.amount.clone(),
            t.status.clone(),
            t.tx_hash.map(|h| h.to_string()).unwrap_or_default(),
            t.reason.clone().or_else(|| t.detail.clone()).unwrap_or_default(),
        ];
        out.push_str(&row.iter().map(|f| csv(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    for g in &r.governance {
        let row = [
            "governance".to_owned(),
            g.notarized_at.to_string(),
            String::new(),
            String::new(),
            g.signers.join(" "),
            g.nodes.join(" "),
            String::new(),
            String::new(),
            "notarized".to_owned(),
            String::new(),
            g.action.clone(),
        ];
        out.push_str(&row.iter().map(|f| csv(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::csv;

    #[test]
    fn csv_fields_are_quoted_when_they_must_be() {
        assert_eq!(csv("plain"), "plain");
        assert_eq!(csv("a, b"), "\"a, b\"");
        assert_eq!(csv("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
