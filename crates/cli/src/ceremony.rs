//! The key ceremony through the gateway: the signer's announcement in, a key
//! holder's sealed and signed message out (`GET /v1/ceremony/signer`,
//! `POST /v1/ceremony/messages`).
//!
//! The gateway is untrusted, and the announcement carries the HPKE key a
//! phrase is sealed to: the client checks the announcement's signature
//! against the signer of the *pinned* genesis (the profile's, never the
//! gateway's), so a gateway that substitutes its own ceremony key is refused
//! before anything is sealed.

use crate::error::{CliError, CliResult};
use crate::session::Session;
use box_api::ClientError;
use box_core::Signature;
use box_core::ceremony::{Purpose, SignerAnnounce, SignerState, answer, answer_reenrol};
use box_core::encoding::Canonical;
use box_core::notary::Entry;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The signer's latest verified announcement, or `None` if it has made none yet.
pub async fn announcement(s: &Session) -> CliResult<Option<SignerAnnounce>> {
    let client = s.client().await?;
    match client.signer_announce(s.genesis().signer).await {
        Ok(a) => Ok(Some(a)),
        Err(e @ ClientError::Api { .. }) if e.code() == Some("signer_not_announced") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The announcement, or a refusal when the signer has not announced itself.
pub async fn require_announcement(s: &Session) -> CliResult<SignerAnnounce> {
    announcement(s).await?.ok_or_else(|| {
        CliError::refused(
            "signer_not_announced",
            "the signer has not announced itself on the chain yet; is box-signer running and connected to the nodes?",
        )
    })
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Seals `payload` for `purpose` to the announced ceremony key, signs it with
/// the session's key as `slot`'s device and relays it through the gateway.
pub async fn send(
    s: &Session,
    announce: &SignerAnnounce,
    purpose: Purpose,
    slot: u8,
    device_id: &str,
    payload: &[u8],
) -> CliResult<()> {
    let mut rng = rand_core::UnwrapErr(rand_core::OsRng);
    let msg = answer(&s.domain(), s.key(), announce, purpose, slot, device_id, payload, unix_now(), &mut rng)
        .map_err(|e| CliError::Untrusted(e.to_string()))?;
    s.client().await?.relay_ceremony(&Entry::Ceremony(msg).encode()).await?;
    Ok(())
}

/// Seals the holder's original `phrase` as a re-enrolment of `slot` with a
/// co-holder's `endorsement`, signs it with the session's (new) key and
/// relays it through the gateway.
pub async fn send_reenrol(
    s: &Session,
    announce: &SignerAnnounce,
    slot: u8,
    device_id: &str,
    phrase: &[u8],
    endorsement: &Signature,
) -> CliResult<()> {
    let mut rng = rand_core::UnwrapErr(rand_core::OsRng);
    let msg =
        answer_reenrol(&s.domain(), s.key(), announce, slot, device_id, phrase, endorsement, unix_now(), &mut rng)
            .map_err(|e| CliError::Untrusted(e.to_string()))?;
    s.client().await?.relay_ceremony(&Entry::Ceremony(msg).encode()).await?;
    Ok(())
}

/// What a wait saw.
pub enum Seen<T> {
    /// Done.
    Done(T),
    /// Refused, with the reason.
    Refused(String),
}

/// Polls the announcement until `check` decides, or `timeout` passes.
pub async fn wait<T>(
    s: &Session,
    what: &str,
    timeout: Duration,
    mut check: impl FnMut(&SignerAnnounce) -> Option<Seen<T>>,
) -> CliResult<T> {
    let start = Instant::now();
    loop {
        if let Some(a) = announcement(s).await? {
            match check(&a) {
                Some(Seen::Done(v)) => return Ok(v),
                Some(Seen::Refused(reason)) => return Err(CliError::refused("signer_refused", reason)),
                None => {}
            }
        }
        if start.elapsed() >= timeout {
            return Err(CliError::Timeout(format!(
                "gave up after {} s waiting for {what}; the message was relayed and may still be taken (run `boxctl status`)",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The announced state.
pub fn state(a: &SignerAnnounce) -> SignerState {
    SignerState::from_u8(a.state).unwrap_or(SignerState::Locked)
}

/// A device id for this machine: `boxctl@<hostname>` (at most 64 bytes).
pub fn default_device_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_owned()).filter(|h| !h.is_empty());
    let id = format!("boxctl@{}", host.unwrap_or_else(|| "unknown".into()));
    let mut out = String::new();
    for c in id.chars() {
        if out.len() + c.len_utf8() > box_core::ceremony::MAX_DEVICE_ID_LEN {
            break;
        }
        out.push(c);
    }
    out
}

/// The signer's announcement as boxctl shows it (and prints with `--json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignerView {
    /// `awaiting_enrolment`, `awaiting_genesis`, `sealed`, `unsealed` or `locked`.
    pub state: SignerState,
    /// The state in words.
    pub state_text: String,
    /// This boot's id (the challenge).
    pub boot: String,
    /// The announcement's sequence number.
    pub sequence: u64,
    /// The hot wallet, once it exists.
    pub wallet: Option<String>,
    /// Enrolled device per key-holder slot (`null` for an empty slot).
    pub devices: Vec<Option<String>>,
    /// Key holders.
    pub holders: u8,
    /// Phrases received in the current round.
    pub received: u8,
    /// Whether transfers are paused.
    pub paused: bool,
    /// The latest event or refusal, in words.
    pub detail: String,
    /// When the signer announced it (Unix seconds).
    pub time: u64,
}

impl From<&SignerAnnounce> for SignerView {
    fn from(a: &SignerAnnounce) -> Self {
        let st = state(a);
        Self {
            state: st,
            state_text: st.as_str().to_owned(),
            boot: a.boot.to_string(),
            sequence: a.sequence,
            wallet: (!a.wallet.is_zero()).then(|| a.wallet.to_checksum(None)),
            devices: a.devices.iter().map(|d| (!d.is_zero()).then(|| d.to_checksum(None))).collect(),
            holders: a.holders,
            received: a.received,
            paused: a.paused,
            detail: a.detail.clone(),
            time: a.time,
        }
    }
}
