//! Governance actions as the API carries them: a bare action's box-core
//! canonical bytes (`POST /v1/governance`'s `action`).

use box_core::encoding::{Canonical, Kind, header};
use box_core::governance::GovernanceAction;
use box_core::typed::{AddressBookEntry, BlockDestination, FreezeEmployee, PauseTransfers, RegisterAsset};

/// Decodes a bare governance action from its canonical bytes: a freeze,
/// block, asset registration, pause or address-book entry. Node changes are refused: node
/// accounts sign them and a node submits them, never the gateway. Checks
/// the encoding only, not who may sign it.
pub fn decode_action(bytes: &[u8]) -> Result<GovernanceAction, String> {
    let (kind, _) = header(bytes).map_err(|e| e.to_string())?;
    let e = |e: box_core::encoding::DecodeError| e.to_string();
    Ok(match kind {
        Kind::FreezeEmployee => GovernanceAction::FreezeEmployee(FreezeEmployee::decode(bytes).map_err(e)?),
        Kind::BlockDestination => GovernanceAction::BlockDestination(BlockDestination::decode(bytes).map_err(e)?),
        Kind::RegisterAsset => GovernanceAction::RegisterAsset(RegisterAsset::decode(bytes).map_err(e)?),
        Kind::PauseTransfers => GovernanceAction::PauseTransfers(PauseTransfers::decode(bytes).map_err(e)?),
        Kind::AddressBookEntry => GovernanceAction::AddressBookEntry(AddressBookEntry::decode(bytes).map_err(e)?),
        Kind::NodeChange => {
            return Err("node changes are signed by node accounts and submitted through a node, not the gateway".into());
        }
        other => {
            return Err(format!(
                "the bytes encode another kind of object (kind {}), not a governance action (freeze employee, block destination, register asset, pause transfers or address-book entry)",
                other as u8
            ));
        }
    })
}

/// The canonical bytes of a bare governance action.
pub fn encode_action(a: &GovernanceAction) -> Vec<u8> {
    match a {
        GovernanceAction::FreezeEmployee(v) => v.encode(),
        GovernanceAction::BlockDestination(v) => v.encode(),
        GovernanceAction::RegisterAsset(v) => v.encode(),
        GovernanceAction::NodeChange(v) => v.encode(),
        GovernanceAction::PauseTransfers(v) => v.encode(),
        GovernanceAction::AddressBookEntry(v) => v.encode(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn actions_round_trip_and_node_changes_are_refused() {
        let pause = GovernanceAction::PauseTransfers(PauseTransfers { paused: true, reason: "audit".into(), nonce: 1 });
        assert_eq!(decode_action(&encode_action(&pause)).unwrap(), pause);
        let node = GovernanceAction::NodeChange(box_core::typed::NodeChange {
            account: box_core::Address::ZERO,
            nodeId: 4,
            endpoint: "x".into(),
            add: true,
            nonce: 1,
        });
        assert!(decode_action(&encode_action(&node)).unwrap_err().contains("node accounts"));
    }
}
