//! The governed address book (what Fireblocks and BitGo call a whitelist):
//! the destinations a flow with `addressBookOnly` may pay.
//!
//! Entries are listed and removed only by notarized governance
//! ([`crate::typed::AddressBookEntry`]: listing needs every key holder,
//! removing one). The book is part of the notary state and its commitment
//! (row tag `0x07`, crate README "State commitment"). A flow without
//! `addressBookOnly` never reads it.

use crate::ids::FlowHash;
use crate::typed::AddressBookEntry;
use alloy::primitives::Address;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One listed destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookEntry {
    /// What people call it ("Supplier GmbH, EUR account").
    pub label: String,
    /// The one flow it is listed for; `None`: every flow.
    pub flow: Option<FlowHash>,
}

impl BookEntry {
    /// Whether this entry lets flow `flow` pay the destination.
    pub fn permits(&self, flow: &FlowHash) -> bool {
        self.flow.is_none_or(|f| f == *flow)
    }
}

/// The address book: one entry per destination (listing a destination again
/// replaces its label and scope).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AddressBook(BTreeMap<Address, BookEntry>);

impl AddressBook {
    /// The entry for `to`, if listed.
    pub fn get(&self, to: &Address) -> Option<&BookEntry> {
        self.0.get(to)
    }

    /// Whether flow `flow` may pay `to` under the book (listed for it or for
    /// every flow). Says nothing about any other rule.
    pub fn permits(&self, to: &Address, flow: &FlowHash) -> bool {
        self.0.get(to).is_some_and(|e| e.permits(flow))
    }

    /// Every entry, by destination.
    pub fn iter(&self) -> impl Iterator<Item = (&Address, &BookEntry)> {
        self.0.iter()
    }

    /// How many destinations are listed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Lists `to` with `entry` (a state taken back from its rows).
    pub(crate) fn list(&mut self, to: Address, entry: BookEntry) {
        self.0.insert(to, entry);
    }

    /// Applies a notarized, verified action: lists or removes its destination.
    /// Does not check who signed (the notary did).
    pub(crate) fn apply(&mut self, a: &AddressBookEntry) {
        if a.listed {
            let flow = (!a.flowHash.is_zero()).then_some(FlowHash(a.flowHash));
            self.0.insert(a.destination, BookEntry { label: a.label.clone(), flow });
        } else {
            self.0.remove(&a.destination);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alloy::primitives::B256;

    fn entry(to: u8, flow: B256, listed: bool) -> AddressBookEntry {
        AddressBookEntry { destination: Address::repeat_byte(to), label: "l".into(), flowHash: flow, listed, nonce: 0 }
    }

    #[test]
    fn an_entry_permits_its_flow_or_every_flow_and_removal_forgets_it() {
        let (f, g) = (FlowHash(B256::repeat_byte(1)), FlowHash(B256::repeat_byte(2)));
        let mut book = AddressBook::default();
        book.apply(&entry(7, f.0, true));
        book.apply(&entry(8, B256::ZERO, true));
        assert!(book.permits(&Address::repeat_byte(7), &f));
        assert!(!book.permits(&Address::repeat_byte(7), &g));
        assert!(book.permits(&Address::repeat_byte(8), &g));
        assert!(!book.permits(&Address::repeat_byte(9), &f));
        book.apply(&entry(8, B256::ZERO, false));
        assert!(!book.permits(&Address::repeat_byte(8), &g));
        assert_eq!(book.len(), 1);
    }
}
