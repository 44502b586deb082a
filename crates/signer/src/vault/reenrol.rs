//! Re-enrolment of a lost device (DESIGN.md §3) and its per-slot backoff.
//!
//! A re-enrolment reaches [`Vault::reenrol`] only after
//! [`box_core::ceremony::admit`] found its endorsement signed by an enrolled
//! device, so a stranger's key cannot make the signer work. Then, before the
//! one Argon2id run that checks the phrase against the slot's commitment,
//! the slot's backoff: after a failure beyond the first, the next attempt
//! for that slot is refused until [`reenrol_backoff`] seconds have passed
//! by the signer's own clock. The counts are in the store, so a restart does
//! not reset them. A failed re-enrolment never counts toward the lock (it
//! proves no enrolled identity; DESIGN.md §2); a success clears the slot's
//! count.

use super::{Outcome, Vault, VaultError};
use crate::store::Device;
use box_core::Address;
use box_core::ceremony::{Admitted, CeremonyMessage, Purpose, reenrol_backoff};
use box_core::keys::Phrase;
use serde::{Deserialize, Serialize};

/// Store key of the per-slot backoff.
const BACKOFF: &str = "reenrol_backoff";

/// One slot's failed re-enrolments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Backoff {
    /// Consecutive failures.
    failures: u32,
    /// Unix seconds (signer clock) before which the next attempt is refused.
    until: u64,
}

impl Vault {
    /// The backoff of every slot, as stored.
    fn backoffs(&self) -> Result<Vec<Backoff>, VaultError> {
        let mut all: Vec<Backoff> = self.store.get(BACKOFF)?.unwrap_or_default();
        all.resize(self.key_holders.len(), Backoff::default());
        Ok(all)
    }

    /// Replaces the device of `admitted`'s slot with `device` if the sealed
    /// phrase matches the slot's commitment.
    pub(super) fn reenrol(
        &mut self,
        device: Address,
        admitted: Admitted,
        m: &CeremonyMessage,
        now: u64,
    ) -> Result<Outcome, VaultError> {
        let slot = admitted.slot();
        let i = usize::from(slot);
        let n = u16::from(slot) + 1;
        if self.wallet().is_none() {
            return Ok(Outcome::ignored("re-enrolment needs a wallet; enrol instead"));
        }
        let mut backoffs = self.backoffs()?;
        let held = backoffs[i];
        if now < held.until {
            self.detail = format!(
                "re-enrolling slot {n} refused: held back for {} s more after {} failed attempts; try again then",
                held.until - now,
                held.failures
            );
            return Ok(Outcome::changed(self.detail.clone()));
        }
        let opened = match self.ceremony.open(&self.boot, Purpose::Reenrol, &device, slot, &m.sealed) {
            Ok(p) => p,
            Err(e) => return Ok(Outcome::ignored(e.to_string())),
        };
        let Ok(text) = std::str::from_utf8(&opened) else {
            return Ok(Outcome::ignored("the phrase is not UTF-8"));
        };
        if !self.check_commitment(slot, &Phrase::new(text))? {
            let failures = held.failures.saturating_add(1);
            let wait = reenrol_backoff(failures);
            backoffs[i] = Backoff { failures, until: now.saturating_add(wait) };
            self.store.put(BACKOFF, &backoffs)?;
            let next = if wait == 0 {
                "the next attempt may follow at once".to_owned()
            } else {
                format!("the next attempt is held back for {wait} s")
            };
            self.detail = format!(
                "wrong phrase for re-enrolling slot {n} ({failures} failed; {next}; re-enrolment failures do not lock the signer)"
            );
            return Ok(Outcome::changed(self.detail.clone()));
        }
        backoffs[i] = Backoff::default();
        self.devices[i] = Some(Device { address: device, device_id: m.deviceId.clone() });
        self.store.put_all(&[("devices", serde_json::json!(self.devices)), (BACKOFF, serde_json::json!(backoffs))])?;
        let by = admitted.endorser().map(|e| format!(", endorsed by {e}")).unwrap_or_default();
        self.detail = format!("key holder {n} re-enrolled device {}{by}", m.deviceId);
        Ok(Outcome::changed(self.detail.clone()))
    }
}
