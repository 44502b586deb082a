//! Evidence of equivocation in the notary state: recorded once per account,
//! and standing for as long as that account is a registered node.

use super::{Event, NotaryState};
use crate::evidence::Equivocation;
use alloy::primitives::Address;

impl NotaryState {
    /// Records a verified proof that a registered node account sealed two
    /// different headers at one height. Refused (changing nothing) when the
    /// proof does not verify, the account is not registered (anyone can make
    /// a key sign two headers), or that account's equivocation is already on
    /// record: the state holds at most one record per registered account.
    pub(super) fn evidence(&mut self, e: &Equivocation) -> Vec<Event> {
        let refused = |reason: String| vec![Event::Refused { reason }];
        let node = match e.verify(&self.domain()) {
            Ok(node) => node,
            Err(err) => return refused(format!("equivocation evidence: {err}")),
        };
        if !self.registry.contains(&node) {
            return refused(format!("equivocation evidence against {node}, which is not a registered node account"));
        }
        if let Some(h) = self.equivocators.get(&node) {
            return refused(format!("the equivocation of {node} (at height {h}) is already on record"));
        }
        self.equivocators.insert(node, e.height());
        vec![Event::Equivocation { node, height: e.height() }]
    }

    /// Every node account with equivocation evidence on record, with the
    /// height of its evidence, removed from the registry or not.
    pub fn equivocators(&self) -> impl Iterator<Item = (&Address, &u64)> {
        self.equivocators.iter()
    }

    /// The first recorded equivocator that is still a registered node
    /// account, with the height of its evidence: while there is one, the
    /// history may be forked and the signer executes nothing. Governance
    /// removing the account (a notarized `NodeChange`) ends it; adding the
    /// same account again makes the evidence stand again.
    pub fn standing_equivocation(&self) -> Option<(Address, u64)> {
        self.equivocators.iter().find(|(a, _)| self.registry.contains(a)).map(|(a, h)| (*a, *h))
    }
}
