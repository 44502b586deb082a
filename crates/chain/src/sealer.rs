//! The leader's block sealing: propose a `Seal` when entries are waiting, then
//! sign the header every replica computed and propose the signature.

use crate::fault::Faults;
use crate::proposer::{Proposer, now};
use crate::state_machine::Shared;
use crate::types::Command;
use box_core::crypto::SecretKey;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Runs until `shutdown` changes. Only acts while this node leads.
pub async fn run(
    shared: Arc<Shared>,
    proposer: Proposer,
    key: SecretKey,
    interval: Duration,
    faults: Arc<Faults>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        if !proposer.is_leader() {
            continue;
        }
        // Seal, then sign straight away: two commands per block.
        let began = std::time::Instant::now();
        for _ in 0..2 {
            let cmd = {
                let s = shared.read();
                if let Some(p) = &s.pending {
                    let sig = s.notary.domain().sign(&key, &p.header);
                    faults.after_signing(&s.notary.domain(), &key, p);
                    Some(Command::SignBlock { height: p.header.height, signature: sig.as_bytes().to_vec() })
                } else if !s.unsealed.is_empty() {
                    Some(Command::Seal { height: s.next_height, time: now() })
                } else {
                    None
                }
            };
            let Some(cmd) = cmd else { break };
            let signed = matches!(cmd, Command::SignBlock { .. }).then(|| shared.read().next_height);
            if let Err(e) = proposer.local(cmd).await {
                tracing::debug!("sealing deferred: {e}");
                break;
            }
            if let Some(height) = signed {
                shared.seal_time.send_replace((height, began.elapsed()));
            }
        }
    }
}
