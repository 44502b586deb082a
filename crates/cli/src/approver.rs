//! The approver's app: what waits for my signature, approve (nested, checked
//! by the client first), reject with a reason.

use crate::assets;
use crate::error::{CliError, CliResult};
use crate::session::Session;
use crate::transfers::{self, TransferView};
use box_core::ids::TransferId;

/// Transfers whose open level names me, with progress per level.
pub async fn pending(s: &Session) -> CliResult<Vec<TransferView>> {
    let client = s.client().await?;
    let list = client.pending_approvals().await?;
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let book = assets::load(s).await?;
    let names = transfers::flow_names(s).await?;
    let mut out = Vec::new();
    for t in list {
        let full = client.transfer(&t.id).await?;
        out.push(transfers::view(&s.domain(), &full, &book, &names)?);
    }
    Ok(out)
}

/// One transfer.
pub async fn show(s: &Session, id: &TransferId) -> CliResult<TransferView> {
    let t = s.client().await?.transfer(id).await?;
    let book = assets::load(s).await?;
    transfers::view(&s.domain(), &t, &book, &transfers::flow_names(s).await?)
}

/// Parses a transfer id as people type it (`0x` and 64 hex digits).
pub fn parse_transfer_id(id: &str) -> CliResult<TransferId> {
    id.parse::<TransferId>()
        .map_err(|_| CliError::usage(format!("{id:?} is not a transfer id (0x followed by 64 hex digits)")))
}

/// Approves at the open level, after the client verified the request, the
/// applicant's signature and every lower level's signatures.
pub async fn approve(s: &Session, id: &TransferId) -> CliResult<TransferView> {
    let t = s.client().await?.approve(id).await?;
    let book = assets::load(s).await?;
    transfers::view(&s.domain(), &t, &book, &transfers::flow_names(s).await?)
}

/// Rejects with a reason for the applicant.
pub async fn reject(s: &Session, id: &TransferId, reason: &str) -> CliResult<TransferView> {
    if reason.trim().is_empty() {
        return Err(CliError::usage("give a reason (--reason \"…\"); the applicant sees it"));
    }
    let t = s.client().await?.reject(id, reason.trim()).await?;
    let book = assets::load(s).await?;
    transfers::view(&s.domain(), &t, &book, &transfers::flow_names(s).await?)
}
