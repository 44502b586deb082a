//! A notarized subject's effect on the state.

use super::{Event, FlowStatus, NotaryState, Subject, TransferStatus};
use crate::Refusal;
use crate::asset::AssetRegistry;
use crate::flow::verify_flow;
use crate::governance::GovernanceAction;
use crate::ids::{FlowHash, SubjectId, TransferId};
use crate::typed::GenesisNode;
use alloy::primitives::B256;

impl NotaryState {
    /// Applies a notarized subject's effect, re-checking the authority rules
    /// that need no clock.
    pub(super) fn effect(&mut self, id: SubjectId, subject: &Subject) -> Result<Vec<Event>, Refusal> {
        let domain = self.domain();
        let mut events = Vec::new();
        match subject {
            Subject::Flow(f) => {
                let h = match self.flow_hashes.take(&id) {
                    Some(h) => crate::flow::check_shape(f).map(|()| h)?,
                    None => verify_flow(&domain, f)?.hash(),
                };
                if let Some(r) = self.flows.get_mut(&h) {
                    r.status = FlowStatus::Notarized;
                }
                events.push(Event::FlowStatus { flow: h, status: FlowStatus::Notarized });
            }
            Subject::FlowAuthorization(a) => {
                self.check_authorization(a)?;
                let who =
                    a.signer(&domain).map_err(|err| Refusal::BadSignature { who: "flow authorization".into(), err })?;
                let h = FlowHash(a.value.flowHash);
                let key_holders = self.key_holders.clone();
                if let Some(r) = self.flows.get_mut(&h) {
                    let before = r.status.clone();
                    if a.value.enable {
                        r.enabled_by.insert(who);
                        if r.status == FlowStatus::Notarized && key_holders.is_subset(&r.enabled_by) {
                            r.status = FlowStatus::Authorized;
                        }
                    } else {
                        r.status = FlowStatus::Disabled;
                    }
                    if r.status != before {
                        events.push(Event::FlowStatus { flow: h, status: r.status.clone() });
                    }
                }
            }
            Subject::Transfer(t) => {
                let tid = t.transfer_id(&domain);
                self.transfer_open(&tid)?;
                if let Some(r) = self.transfers.get_mut(&tid) {
                    r.status = TransferStatus::Notarized;
                    r.subject = id;
                    r.open = r.open.saturating_sub(1);
                }
                events.push(Event::TransferStatus { transfer: tid, status: TransferStatus::Notarized });
            }
            Subject::Governance(g) => {
                let v = self.check_governance(g)?;
                events.push(Event::Governance { subject: id, description: v.action().describe() });
                match v.action() {
                    GovernanceAction::FreezeEmployee(a) => {
                        if a.frozen {
                            self.frozen.insert(a.employee)
                        } else {
                            self.frozen.remove(&a.employee)
                        };
                    }
                    GovernanceAction::BlockDestination(a) => {
                        if a.blocked {
                            self.blocked.insert(a.destination)
                        } else {
                            self.blocked.remove(&a.destination)
                        };
                    }
                    GovernanceAction::RegisterAsset(a) => {
                        if a.registered {
                            let asset = AssetRegistry::erc20(a.token, &a.symbol, a.decimals)
                                .map_err(|e| Refusal::Governance(e.to_string()))?;
                            self.assets.insert(asset);
                        } else {
                            self.assets.remove(&a.token);
                        }
                    }
                    GovernanceAction::PauseTransfers(a) => {
                        self.paused = a.paused.then(|| a.reason.clone());
                    }
                    GovernanceAction::AddressBookEntry(a) => self.address_book.apply(a),
                    GovernanceAction::NodeChange(c) => {
                        self.registry = self.registry.apply_change(c, v.signers())?;
                        if c.add {
                            let node =
                                GenesisNode { nodeId: c.nodeId, endpoint: c.endpoint.clone(), account: c.account };
                            self.nodes.insert(c.account, node);
                        } else {
                            self.nodes.remove(&c.account);
                        }
                        events.push(Event::RegistryChanged { accounts: self.registry.accounts().copied().collect() });
                        // The majority changed: pending subjects may now be decided.
                        let pending: Vec<SubjectId> = self.pending().map(|(s, _)| *s).filter(|s| *s != id).collect();
                        for s in pending {
                            events.extend(self.tally(s));
                        }
                    }
                }
            }
            Subject::SignerReport(r) => {
                let signer =
                    r.signer(&domain).map_err(|err| Refusal::BadSignature { who: "signer report".into(), err })?;
                if signer != self.genesis.signer {
                    return Err(Refusal::Unauthorized(format!("report signed by {signer}, not the signer")));
                }
                match self.check_report(&r.value)? {
                    ReportEffect::Flow(h, tx) => {
                        if let Some(f) = self.flows.get_mut(&h) {
                            f.status = FlowStatus::Active;
                            f.anchor_tx = Some(tx);
                        }
                        events.push(Event::FlowStatus { flow: h, status: FlowStatus::Active });
                    }
                    ReportEffect::Transfer(tid, next) => {
                        if let Some(t) = self.transfers.get_mut(&tid) {
                            // A confirmation keeps its report's detail (e.g. a
                            // token's shortfall); any other status clears it.
                            t.detail = match next {
                                TransferStatus::Confirmed { .. } => r.value.detail.clone(),
                                _ => String::new(),
                            };
                            t.status = next.clone();
                        }
                        events.push(Event::TransferStatus { transfer: tid, status: next });
                    }
                }
            }
        }
        Ok(events)
    }
}

/// What a signer report changes.
pub(super) enum ReportEffect {
    Flow(FlowHash, B256),
    Transfer(TransferId, TransferStatus),
}
