//! The key holder's app (私钥 APP): enrol a device, send the phrase (genesis
//! or unseal), authorize flows, pause, resume, panic-lock, endorse and
//! re-enrol a lost device. Paper backups are in [`crate::backup`].
//!
//! A key holder's device key is their genesis key; their slot is their
//! index in the genesis's `keyHolders` (a re-enrolled device is found by the
//! signer's announced device list instead). Every ceremony message is sealed
//! to the signer's verified per-boot key (see [`crate::ceremony`]).

use crate::ceremony::{self, Seen, SignerView};
use crate::error::{CliError, CliResult};
use crate::session::Session;
use box_api::{FlowOut, GovernanceOut, QueuedOut};
use box_core::Address;
use box_core::ceremony::{Purpose, SignerAnnounce, SignerState};
use box_core::governance::GovernanceAction;
use box_core::ids::FlowHash;
use box_core::keys::{Phrase, check_phrase_strength};
use box_core::typed::PauseTransfers;
use std::time::Duration;

/// Options shared by the ceremony commands.
#[derive(Debug, Clone)]
pub struct CeremonyOptions {
    /// The device id sent to the signer (shown on its console and in announcements).
    pub device_id: String,
    /// How long to wait for the signer to take the message.
    pub wait: Duration,
}

impl Default for CeremonyOptions {
    fn default() -> Self {
        Self { device_id: ceremony::default_device_id(), wait: Duration::from_secs(120) }
    }
}

/// The key-holder slot (0-based) the session's key speaks for: its index
/// in the genesis, else the slot the signer announces it enrolled in.
pub fn my_slot(s: &Session, a: Option<&SignerAnnounce>) -> CliResult<u8> {
    if let Some(slot) = s.holder_slot(&s.address()) {
        return Ok(slot);
    }
    if let Some(i) = a.and_then(|a| a.devices.iter().position(|d| *d == s.address())) {
        return u8::try_from(i).map_err(|_| CliError::failed("slot out of range"));
    }
    Err(CliError::refused(
        "not_a_key_holder",
        format!(
            "{} is neither a key holder of the genesis nor an enrolled device; act as your key-holder identity (--as NAME or --key FILE)",
            s.address()
        ),
    ))
}

fn slot_text(slot: u8) -> String {
    format!("key holder {}", u16::from(slot) + 1)
}

/// Enrols this device (the holder's genesis key) with the signer's one-time `code`.
pub async fn enrol(s: &Session, code: &str, opts: &CeremonyOptions) -> CliResult<SignerView> {
    let me = s.address();
    let slot = s.holder_slot(&me).ok_or_else(|| {
        CliError::refused(
            "not_a_key_holder",
            format!("{me} is not a key holder of the genesis; enrolment uses the holder's genesis key"),
        )
    })?;
    let a = ceremony::require_announcement(s).await?;
    if a.devices.get(usize::from(slot)) == Some(&me) {
        return Ok(SignerView::from(&a));
    }
    if ceremony::state(&a) != SignerState::AwaitingEnrolment {
        return Err(CliError::refused(
            "not_enrolling",
            format!(
                "the signer is {} and takes no enrolments; a lost device is replaced with `boxctl keyholder reenrol`",
                ceremony::state(&a).as_str()
            ),
        ));
    }
    if code.trim().is_empty() {
        return Err(CliError::usage("the enrolment code is empty; copy it from the signer's console"));
    }
    ceremony::send(s, &a, Purpose::Enrol, slot, &opts.device_id, code.trim().as_bytes()).await?;
    let who = slot_text(slot);
    let seq = a.sequence;
    ceremony::wait(s, "the signer to enrol this device", opts.wait, |x| {
        if x.devices.get(usize::from(slot)) == Some(&me) {
            Some(Seen::Done(SignerView::from(x)))
        } else if x.sequence > seq && x.detail.contains(&format!("wrong enrolment code from {who}")) {
            Some(Seen::Refused(format!("the signer refused the code: {}", x.detail)))
        } else if x.sequence > seq && x.detail.starts_with("enrolment stopped") {
            Some(Seen::Refused(x.detail.clone()))
        } else {
            None
        }
    })
    .await
}

/// What kind of phrase the signer waits for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhraseNeeded {
    /// The genesis: a new phrase (checked for strength here first).
    Genesis,
    /// Unsealing (also out of a lock): the holder's original phrase.
    Unseal,
    /// Nothing: the signer is unsealed.
    None,
    /// Devices must enrol first.
    EnrolFirst,
}

/// What the signer needs now.
pub fn phrase_needed(a: &SignerAnnounce) -> PhraseNeeded {
    match ceremony::state(a) {
        SignerState::AwaitingEnrolment => PhraseNeeded::EnrolFirst,
        SignerState::AwaitingGenesis => PhraseNeeded::Genesis,
        SignerState::Sealed | SignerState::Locked => PhraseNeeded::Unseal,
        SignerState::Unsealed => PhraseNeeded::None,
    }
}

/// Sends the holder's phrase: at genesis (strength checked here first) or to
/// unseal. Returns the signer's state once it took the phrase.
pub async fn send_phrase(s: &Session, phrase: &Phrase, opts: &CeremonyOptions) -> CliResult<SignerView> {
    let a = ceremony::require_announcement(s).await?;
    let slot = my_slot(s, Some(&a))?;
    match phrase_needed(&a) {
        PhraseNeeded::EnrolFirst => {
            return Err(CliError::refused(
                "enrol_first",
                "the signer is waiting for key-holder devices to enrol (`boxctl keyholder enrol --code …`)",
            ));
        }
        PhraseNeeded::None => return Ok(SignerView::from(&a)),
        PhraseNeeded::Genesis => {
            check_phrase_strength(phrase.expose())
                .map_err(|e| CliError::usage(format!("this phrase would be refused: {e}")))?;
        }
        PhraseNeeded::Unseal => {}
    }
    if a.devices.get(usize::from(slot)) != Some(&s.address()) {
        return Err(CliError::refused(
            "not_enrolled",
            format!("{} is not the enrolled device of {}", s.address(), slot_text(slot)),
        ));
    }
    ceremony::send(s, &a, Purpose::Phrase, slot, &opts.device_id, phrase.expose().as_bytes()).await?;
    let who = slot_text(slot);
    let (seq, boot, received, was_locked) =
        (a.sequence, a.boot, a.received, ceremony::state(&a) == SignerState::Locked);
    ceremony::wait(s, "the signer to take the phrase", opts.wait, |x| {
        let st = ceremony::state(x);
        if x.boot != boot {
            return Some(Seen::Refused("the signer restarted; send the phrase again".into()));
        }
        if x.sequence <= seq {
            return None;
        }
        if x.detail.contains(&format!("{who}'s phrase is refused"))
            || x.detail.contains(&format!("wrong phrase from {who}"))
        {
            return Some(Seen::Refused(x.detail.clone()));
        }
        if st == SignerState::Locked && !was_locked {
            return Some(Seen::Refused(format!("the signer locked: {}", x.detail)));
        }
        if st == SignerState::Unsealed || x.received > received {
            return Some(Seen::Done(SignerView::from(x)));
        }
        None
    })
    .await
}

/// The 0-based slot of 1-based key holder `holder`, checked against the announcement.
fn holder_slot(a: &SignerAnnounce, holder: u8) -> CliResult<u8> {
    let n = a.devices.len();
    if holder == 0 || usize::from(holder) > n {
        return Err(CliError::usage(format!("--slot {holder}: key holders are numbered 1 to {n}")));
    }
    Ok(holder - 1)
}

/// What `boxctl keyholder endorse` hands to the holder who lost a device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Endorsement {
    /// The 1-based key holder who re-enrols.
    pub slot: u8,
    /// Their new device's address.
    pub device: String,
    /// The signer boot the endorsement holds for.
    pub boot: String,
    /// The endorsing (enrolled) device.
    pub endorser: String,
    /// The signature, `0x` and 130 hex digits, for `reenrol --endorsement`.
    pub endorsement: String,
}

/// Vouches, with this session's enrolled device, that `device` may try to
/// re-enrol for 1-based key holder `holder` during the signer's current
/// boot. Signs locally and sends nothing: the holder passes the result to
/// `boxctl keyholder reenrol --endorsement`. It proves nothing about their
/// phrase, which the signer still checks; it lets the signer spend the
/// Argon2id run on that device's attempt.
pub async fn endorse(s: &Session, holder: u8, device: Address) -> CliResult<Endorsement> {
    let a = ceremony::require_announcement(s).await?;
    let slot = holder_slot(&a, holder)?;
    let me = s.address();
    if !a.devices.contains(&me) {
        return Err(CliError::refused(
            "not_enrolled",
            format!("{me} is not an enrolled key-holder device; only an enrolled device can endorse a re-enrolment"),
        ));
    }
    if a.wallet.is_zero() {
        return Err(CliError::refused("no_wallet", "there is no wallet yet: the holder enrols with the one-time code"));
    }
    if device.is_zero() {
        return Err(CliError::usage("--device: address(0) is not a device"));
    }
    if let Some(i) = a.devices.iter().position(|d| *d == device) {
        return Err(CliError::refused(
            "already_enrolled",
            format!("{device} is already the enrolled device of key holder {}", i + 1),
        ));
    }
    let sig = box_core::ceremony::endorse(&s.domain(), s.key(), a.boot, slot, device);
    Ok(Endorsement {
        slot: holder,
        device: device.to_checksum(None),
        boot: a.boot.to_string(),
        endorser: me.to_checksum(None),
        endorsement: format!("0x{}", hex::encode(sig.as_bytes())),
    })
}

/// Replaces the device of 1-based key holder `holder` with this session's key,
/// proven by the holder's original `phrase`, with an enrolled device's
/// `endorsement` (`boxctl keyholder endorse`, by a co-holder or the holder's
/// old device). Checks the endorsement locally first, as the gateway and the
/// signer will.
pub async fn reenrol(
    s: &Session,
    holder: u8,
    phrase: &Phrase,
    endorsement: &str,
    opts: &CeremonyOptions,
) -> CliResult<SignerView> {
    let a = ceremony::require_announcement(s).await?;
    let slot = holder_slot(&a, holder)?;
    let me = s.address();
    if a.devices.get(usize::from(slot)) == Some(&me) {
        return Ok(SignerView::from(&a));
    }
    if a.wallet.is_zero() {
        return Err(CliError::refused("no_wallet", "there is no wallet yet: enrol with the one-time code instead"));
    }
    let sig = parse_endorsement(endorsement)?;
    let by = box_core::ceremony::endorser(&s.domain(), a.boot, slot, me, &sig.as_bytes())
        .map_err(|e| CliError::usage(format!("--endorsement: {e}")))?;
    if !a.devices.contains(&by) {
        return Err(CliError::refused(
            "reenrolment_not_endorsed",
            format!(
                "the endorsement is not from an enrolled device for {me}, key holder {holder} and the signer's current boot {}; ask a key holder to run `boxctl keyholder endorse --slot {holder} --device {me}` again",
                a.boot
            ),
        ));
    }
    ceremony::send_reenrol(s, &a, slot, &opts.device_id, phrase.expose().as_bytes(), &sig).await?;
    let seq = a.sequence;
    ceremony::wait(s, "the signer to re-enrol this device", opts.wait, |x| {
        if x.devices.get(usize::from(slot)) == Some(&me) {
            Some(Seen::Done(SignerView::from(x)))
        } else if x.sequence > seq && x.detail.contains(&format!("re-enrolling slot {holder}")) {
            Some(Seen::Refused(x.detail.clone()))
        } else if x.boot != a.boot {
            Some(Seen::Refused("the signer restarted; its new boot needs a new endorsement".into()))
        } else {
            None
        }
    })
    .await
}

/// Parses `0x` and 130 hex digits (65 bytes) into a canonical signature.
fn parse_endorsement(text: &str) -> CliResult<box_core::Signature> {
    let h = text.trim();
    let h = h.strip_prefix("0x").unwrap_or(h);
    let bytes = hex::decode(h).map_err(|_| {
        CliError::usage("--endorsement must be 0x followed by 130 hex digits, as `keyholder endorse` prints it")
    })?;
    box_core::crypto::signature_from_bytes(&bytes).map_err(|e| CliError::usage(format!("--endorsement: {e}")))
}

/// Locks the signer at once (it zeroizes the key; a full unseal is needed).
pub async fn panic(s: &Session, opts: &CeremonyOptions) -> CliResult<SignerView> {
    let a = ceremony::require_announcement(s).await?;
    let slot = my_slot(s, Some(&a))?;
    if ceremony::state(&a) == SignerState::Locked {
        return Ok(SignerView::from(&a));
    }
    ceremony::send(s, &a, Purpose::Panic, slot, &opts.device_id, b"").await?;
    ceremony::wait(s, "the signer to lock", opts.wait, |x| {
        (ceremony::state(x) == SignerState::Locked).then(|| Seen::Done(SignerView::from(x)))
    })
    .await
}

/// The flow `hash` as the gateway shows it, checked: its contents hash to `hash`.
pub async fn verified_flow(s: &Session, hash: FlowHash) -> CliResult<(FlowOut, box_core::typed::BoxFlow)> {
    let f = s.client().await?.flow(hash).await?;
    let flow = f.flow.0.clone();
    if s.domain().flow_hash(&flow) != hash {
        return Err(CliError::Untrusted(format!("the flow the gateway shows does not hash to {hash}")));
    }
    Ok((f, flow))
}

/// Signs `enable(flow)` (or `disable(flow)`) after checking that the flow the
/// gateway shows hashes to `flow`.
pub async fn authorize(s: &Session, flow: FlowHash, enable: bool) -> CliResult<QueuedOut> {
    my_slot(s, None)?;
    verified_flow(s, flow).await?;
    Ok(s.client().await?.authorize_flow(flow, enable).await?)
}

/// Signs `pause(reason)`: one key holder suffices.
pub async fn pause(s: &Session, reason: &str) -> CliResult<GovernanceOut> {
    if reason.trim().is_empty() {
        return Err(CliError::usage("give a reason for the pause (--reason \"…\"); it is recorded on the chain"));
    }
    my_slot(s, None)?;
    let action = GovernanceAction::PauseTransfers(PauseTransfers {
        paused: true,
        reason: reason.trim().to_owned(),
        nonce: ceremony::unix_now(),
    });
    Ok(s.client().await?.sign_governance(&action).await?)
}

/// Signs `resume`: co-signs the resume other key holders started (if any is
/// still collecting signatures), else starts one. It takes effect once every
/// key holder has signed.
pub async fn resume(s: &Session) -> CliResult<GovernanceOut> {
    my_slot(s, None)?;
    let client = s.client().await?;
    let domain = s.domain();
    let mut pending = None;
    for g in client.governance().await? {
        if g.relay.is_some() {
            continue;
        }
        let Ok(action) = box_api::action::decode_action(&g.action.0) else { continue };
        let resume = matches!(&action, GovernanceAction::PauseTransfers(p) if !p.paused);
        if resume && action.signing_hash(&domain) == g.hash {
            pending = Some(action);
            break;
        }
    }
    let action = pending.unwrap_or_else(|| {
        GovernanceAction::PauseTransfers(PauseTransfers {
            paused: false,
            reason: String::new(),
            nonce: ceremony::unix_now(),
        })
    });
    Ok(client.sign_governance(&action).await?)
}
