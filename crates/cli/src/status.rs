//! `boxctl status`: the cluster, the signer, the hot wallet and the transfers
//! at a glance. Each part that cannot be had is reported with why, not fatal.

use crate::ceremony::{self, SignerView};
use crate::error::CliResult;
use crate::session::Session;
use crate::ui::{Paint, Ui};
use box_api::{BalanceOut, ClusterOut, StatusOut, TransferQuery};
use serde::Serialize;
use std::collections::BTreeMap;

/// The hot wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wallet {
    /// Address (EIP-55).
    pub address: String,
    /// Balances (ETH first, then every registered token), as the gateway reads them from the public chain.
    pub balances: Vec<BalanceOut>,
    /// Why balances are missing.
    pub balances_error: Option<String>,
}

/// Everything `boxctl status` shows. A part that cannot be had is `null`
/// with its `…Error` saying why.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The gateway's own state.
    pub gateway: StatusOut,
    /// Every node's view of the cluster.
    pub cluster: Option<ClusterOut>,
    /// Why the cluster cannot be seen.
    pub cluster_error: Option<String>,
    /// The signer's verified announcement.
    pub signer: Option<SignerView>,
    /// Why the signer's state is missing.
    pub signer_error: Option<String>,
    /// The hot wallet, once it exists.
    pub wallet: Option<Wallet>,
    /// Transfers by state (those the caller may list).
    pub transfers: Option<BTreeMap<String, u64>>,
    /// Why transfers cannot be counted.
    pub transfers_error: Option<String>,
}

fn split<T>(r: CliResult<T>) -> (Option<T>, Option<String>) {
    match r {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e.to_string())),
    }
}

/// Most pages of 500 transfers `status` counts (a gateway that never ends a listing is cut off).
const MAX_PAGES: i64 = 2_000;

async fn count_transfers(s: &Session) -> CliResult<BTreeMap<String, u64>> {
    let client = s.client().await?;
    let mut by_state = BTreeMap::new();
    let mut offset = 0;
    for _ in 0..MAX_PAGES {
        let page =
            client.transfers(&TransferQuery { limit: Some(500), offset: Some(offset), ..Default::default() }).await?;
        for t in &page {
            *by_state.entry(t.status.state.as_str().to_owned()).or_insert(0) += 1;
        }
        if page.len() < 500 {
            return Ok(by_state);
        }
        offset += 500;
    }
    Err(crate::error::CliError::Untrusted(format!("the gateway lists more than {} transfers", MAX_PAGES * 500)))
}

/// Gathers the status.
pub async fn status(s: &Session) -> CliResult<Status> {
    let client = s.client().await?;
    let gateway = client.status().await?;
    let (cluster, cluster_error) = split(client.cluster().await.map_err(Into::into));
    let (signer, mut signer_error) = split(ceremony::announcement(s).await);
    let signer = signer.flatten().map(|a| SignerView::from(&a));
    if signer.is_none() && signer_error.is_none() {
        signer_error = Some("the signer has not announced itself yet".into());
    }
    let wallet = match signer.as_ref().and_then(|v| v.wallet.clone()) {
        None => None,
        Some(address) => Some(wallet(s, &address).await),
    };
    let (transfers, transfers_error) = split(count_transfers(s).await);
    Ok(Status { gateway, cluster, cluster_error, signer, signer_error, wallet, transfers, transfers_error })
}

async fn wallet(s: &Session, address: &str) -> Wallet {
    let mut w = Wallet { address: address.to_owned(), balances: Vec::new(), balances_error: None };
    match s.client().await.map(|c| c.wallet()) {
        Ok(f) => match f.await {
            Ok(out) if out.wallet.to_checksum(None) == address => w.balances = out.balances,
            Ok(out) => {
                w.balances_error = Some(format!("the gateway shows balances of {}, not of {address}", out.wallet))
            }
            Err(e) => w.balances_error = Some(crate::error::CliError::from(e).to_string()),
        },
        Err(e) => w.balances_error = Some(e.to_string()),
    }
    w
}

/// Prints the status for people.
pub fn print(ui: &Ui, st: &Status) {
    let bad = |t: &str| ui.paint(Paint::Red, t);
    ui.line(&ui.paint(Paint::Bold, "cluster"));
    if let Some(c) = &st.cluster {
        let leader = c.leader.map_or_else(|| bad("no leader"), |l| format!("leader node {l}"));
        ui.line(&format!("  {leader}, {} nodes", c.nodes.len()));
        for n in &c.nodes {
            if n.reachable {
                ui.line(&format!("  node {} {}  height {}  applied {}", n.id, n.endpoint, n.height, n.last_applied));
            } else {
                let why = n.error.clone().unwrap_or_default();
                ui.line(&format!("  node {} {}  {}", n.id, n.endpoint, bad(&format!("unreachable: {why}"))));
            }
        }
    }
    if let Some(e) = &st.cluster_error {
        ui.line(&format!("  {}", bad(e)));
    }
    ui.line(&format!(
        "  gateway verified height {} of {}; {} waiting to be relayed",
        st.gateway.verified_height, st.gateway.latest_height, st.gateway.outbox_pending
    ));
    print_registry(ui, &st.gateway);
    ui.line(&ui.paint(Paint::Bold, "signer"));
    if let Some(v) = &st.signer {
        let state = match v.state {
            box_core::ceremony::SignerState::Unsealed => ui.paint(Paint::Green, &v.state_text),
            box_core::ceremony::SignerState::Locked => bad(&v.state_text),
            _ => ui.paint(Paint::Yellow, &v.state_text),
        };
        let paused = if v.paused { format!(", {}", bad("paused")) } else { String::new() };
        let enrolled = v.devices.iter().flatten().count();
        ui.line(&format!("  {state}{paused}; {enrolled} of {} devices enrolled", v.holders));
        if !v.detail.is_empty() {
            ui.line(&format!("  {}", v.detail));
        }
    }
    if let Some(e) = &st.signer_error {
        ui.line(&format!("  {}", bad(e)));
    }
    if let Some(p) = &st.gateway.paused {
        ui.line(&format!("  transfers are {}: {p}", bad("paused")));
    }
    if let Some(w) = &st.wallet {
        ui.line(&ui.paint(Paint::Bold, "hot wallet"));
        ui.line(&format!("  {}", w.address));
        for b in &w.balances {
            ui.line(&format!("  {}", b.display));
        }
        if let Some(e) = &w.balances_error {
            ui.line(&format!("  balances: {e}"));
        }
    }
    print_governed(ui, &st.gateway);
    ui.line(&ui.paint(Paint::Bold, "transfers"));
    match &st.transfers {
        Some(m) if m.is_empty() => ui.line("  none"),
        Some(m) => {
            for (state, n) in m {
                ui.line(&format!("  {state:<22} {n}"));
            }
        }
        None => ui.line(&format!("  {}", st.transfers_error.clone().unwrap_or_default())),
    }
}

/// What governance decided: registered assets, frozen employees, blocked
/// destinations, the address book.
fn print_governed(ui: &Ui, g: &StatusOut) {
    ui.line(&ui.paint(Paint::Bold, "governance"));
    ui.line(&format!("  assets:  {}", g.assets.join(", ")));
    let list = |v: &[box_core::Address]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.iter().map(|a| a.to_checksum(None)).collect::<Vec<_>>().join(", ")
        }
    };
    ui.line(&format!("  frozen:  {}", list(&g.frozen)));
    ui.line(&format!("  blocked: {}", list(&g.blocked)));
    if g.address_book.is_empty() {
        ui.line("  address book: empty");
    } else {
        ui.line("  address book:");
        for e in &g.address_book {
            ui.line(&format!("    {}", crate::addressbook::entry_line(e)));
        }
    }
}

/// The node registry the gateway verified and the votes a subject needs.
fn print_registry(ui: &Ui, g: &StatusOut) {
    if g.nodes.is_empty() {
        return;
    }
    ui.line(&format!("  node registry (verified): quorum {} of {}", g.quorum, g.nodes.len()));
    for n in &g.nodes {
        ui.line(&format!("    node {} {}  account {}", n.id, n.endpoint, n.account.to_checksum(None)));
    }
}
