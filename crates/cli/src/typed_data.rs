//! `--typed-data`: the standard `eth_signTypedData_v4` JSON of what a command
//! would sign (issue 14, item 9), printed instead of signing, so a browser or
//! hardware wallet can sign exactly the digest boxctl signs. Built here from
//! data boxctl verified (as before signing), with box-core's `typed_data`;
//! the API serves the same JSON (`…/typed-data` endpoints) and accepts the
//! signature a wallet makes over it. Signs and sends nothing.

use crate::error::{CliError, CliResult};
use crate::session::Session;
use box_core::governance::GovernanceAction;
use box_core::ids::{FlowHash, TransferId};
use box_core::typed::{FlowAuthorization, PauseTransfers, TransferRequest};
use box_core::typed_data::{governance_typed_data, typed_data};
use serde_json::Value;

fn failed(e: box_core::typed_data::TypedDataError) -> CliError {
    CliError::failed(e.to_string())
}

/// The Approval of transfer `id`'s open level, after the client checked the
/// request, the applicant's signature and every lower level's signatures.
pub async fn approval(s: &Session, id: &TransferId) -> CliResult<Value> {
    let (_, tb, level) = s.client().await?.verified_transfer(id).await?;
    typed_data(&s.domain(), &tb.approval_for(level as usize)).map_err(failed)
}

/// `enable(flow)` or `disable(flow)`, after the flow was checked to hash to `flow`.
pub async fn authorization(s: &Session, flow: FlowHash, enable: bool) -> CliResult<Value> {
    crate::keyholder::verified_flow(s, flow).await?;
    typed_data(&s.domain(), &FlowAuthorization { flowHash: flow.0, enable }).map_err(failed)
}

/// An application as prepared (dated now, as it would be signed).
pub fn application(s: &Session, request: &TransferRequest) -> CliResult<Value> {
    let request = TransferRequest { timestamp: crate::ceremony::unix_now(), ..request.clone() };
    typed_data(&s.domain(), &request).map_err(failed)
}

/// `pause(reason)`, with a fresh nonce.
pub fn pause(s: &Session, reason: &str) -> CliResult<Value> {
    if reason.trim().is_empty() {
        return Err(CliError::usage("give a reason for the pause (--reason \"…\"); it is recorded on the chain"));
    }
    let action = GovernanceAction::PauseTransfers(PauseTransfers {
        paused: true,
        reason: reason.trim().to_owned(),
        nonce: crate::ceremony::unix_now(),
    });
    governance_typed_data(&s.domain(), &action).map_err(failed)
}

/// Prints typed data as one JSON document on stdout.
pub fn print(v: &Value) -> CliResult<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| CliError::failed(e.to_string()))?;
    println!("{text}");
    Ok(())
}
