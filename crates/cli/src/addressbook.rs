//! `boxctl keyholder addressbook add|remove|list`: the governed address book
//! (destination allowlist) that flows with `address_book_only` pay
//! exclusively.
//!
//! Listing a destination needs every key holder (as authorizing a flow
//! does): `add` co-signs the open listing of the same destination, label
//! and flow if another key holder started one, else starts it. Removing
//! needs one key holder. What is signed is shown before signing, as for
//! every governed action ([`crate::governance_cmd`]).

use crate::ceremony::unix_now;
use crate::error::{CliError, CliResult};
use crate::governance::co_sign_or;
use crate::session::Session;
use box_api::AddressBookOut;
use box_core::governance::{GovernanceAction, MAX_LABEL_CHARS};
use box_core::ids::FlowHash;
use box_core::typed::AddressBookEntry;
use box_core::{Address, B256};

/// The action `keyholder addressbook add` signs: the listing of `to` with
/// `label`, for `flow` (or every flow), co-signing an open one with exactly
/// these values. Refuses an empty or over-long label before anything is
/// signed (the chain refuses it too).
pub async fn add_action(s: &Session, to: Address, label: &str, flow: Option<FlowHash>) -> CliResult<GovernanceAction> {
    let label = label.trim();
    let chars = label.chars().count();
    if chars == 0 || chars > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
        return Err(CliError::usage(format!(
            "give the destination a label of 1 to {MAX_LABEL_CHARS} characters (--label \"…\"); it is signed and shown to everyone"
        )));
    }
    if to.is_zero() {
        return Err(CliError::usage("address(0) cannot be listed: anything sent there is burnt"));
    }
    let flow_hash = flow.map_or(B256::ZERO, |f| f.0);
    let fresh = AddressBookEntry {
        destination: to,
        label: label.to_owned(),
        flowHash: flow_hash,
        listed: true,
        nonce: unix_now(),
    };
    co_sign_or(s, GovernanceAction::AddressBookEntry(fresh.clone()), |a| {
        matches!(a, GovernanceAction::AddressBookEntry(e)
            if e.listed && e.destination == to && e.label == fresh.label && e.flowHash == flow_hash)
    })
    .await
}

/// The action `keyholder addressbook remove` signs (one key holder
/// suffices). Refuses a destination the verified chain does not list.
pub async fn remove_action(s: &Session, to: Address) -> CliResult<GovernanceAction> {
    crate::keyholder::my_slot(s, None)?;
    if !list(s).await?.iter().any(|e| e.address == to) {
        return Err(CliError::refused("not_listed", format!("{to} is not in the address book")));
    }
    Ok(GovernanceAction::AddressBookEntry(AddressBookEntry {
        destination: to,
        label: String::new(),
        flowHash: B256::ZERO,
        listed: false,
        nonce: unix_now(),
    }))
}

/// The address book as the gateway's verified replica holds it.
pub async fn list(s: &Session) -> CliResult<Vec<AddressBookOut>> {
    Ok(s.client().await?.address_book().await?)
}

/// One line per entry: `0xAbC…  "label"  (every flow | flow 0x…)`.
pub fn entry_line(e: &AddressBookOut) -> String {
    let scope = e.flow.map_or_else(|| "every flow".to_owned(), |f| format!("flow {f}"));
    format!("{}  {:?}  ({scope})", e.address.to_checksum(None), e.label)
}
