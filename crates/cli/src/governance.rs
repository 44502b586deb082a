//! Governed actions from the command line (DESIGN.md §8, "Intervention"):
//! freeze or unfreeze an employee, block or unblock a destination, register
//! or remove an asset, and the key holders' view of the actions still
//! collecting signatures.
//!
//! Each action is built here, from the command's arguments (and, for an
//! asset, the token's `symbol()` and `decimals()` as the chain answers
//! them), and signed with the caller's key holder key. An action the gateway
//! shows is trusted for nothing: its bytes must decode to an action whose
//! EIP-712 hash is the id the gateway names, and its description is made
//! here from those bytes ([`verify`]).
//!
//! Who must sign is box-core's rule ([`GovernanceAction::authority`]): the
//! protective direction (freeze, block, remove) takes any one key holder,
//! the relaxing one (unfreeze, unblock, register) every key holder. A
//! relaxing command co-signs the matching action other key holders started
//! if one is still collecting signatures, else starts one; it takes effect
//! once the last key holder signed.

use crate::ceremony::unix_now;
use crate::error::{CliError, CliResult};
use crate::keyholder::my_slot;
use crate::session::Session;
use box_api::action::decode_action;
use box_api::{GovernanceOut, GovernanceState, TokenOut};
use box_core::governance::{Authority, GovernanceAction};
use box_core::typed::{BlockDestination, FreezeEmployee, RegisterAsset};
use box_core::typed_data::governance_typed_data;
use box_core::{Address, B256};
use serde::Serialize;
use serde_json::Value;

/// A governance action as the gateway shows it, checked: its bytes decode
/// to `action`, whose EIP-712 signing hash is `out.hash`. Only [`verify`]
/// makes one.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionView {
    /// What the gateway says about it (signers, state, relay).
    #[serde(flatten)]
    pub out: GovernanceOut,
    /// What it does, described here from the verified bytes.
    pub what: String,
    /// The fields every signer signs (the EIP-712 `message`), by name.
    pub signed: Value,
    /// The EIP-712 struct name.
    pub kind: String,
    /// The verified action.
    #[serde(skip)]
    pub action: GovernanceAction,
}

impl ActionView {
    /// Signatures still missing before it can be relayed.
    pub fn missing(&self) -> usize {
        (self.out.required as usize).saturating_sub(self.out.signers.len())
    }

    /// `n of m key holders signed; waiting for …` or where it stands on the chain.
    pub fn progress(&self) -> String {
        let who = match self.action.authority() {
            Authority::AnyKeyHolder => "any one key holder".to_owned(),
            Authority::AllKeyHolders => format!("every key holder ({})", self.out.required),
            Authority::AllNodes => "every node account".to_owned(),
            Authority::NodeMajority => "a majority of node accounts".to_owned(),
        };
        let signed = format!("{} of {} signed", self.out.signers.len(), self.out.required);
        match self.out.state {
            GovernanceState::Collecting => {
                let waiting: Vec<String> = self.out.waiting_for.iter().map(|a| a.to_checksum(None)).collect();
                format!(
                    "needs {who}: {signed}; waiting for {} (each runs `boxctl governance sign {}`)",
                    waiting.join(", "),
                    self.out.hash
                )
            }
            GovernanceState::Queued => format!("needs {who}: {signed}; relayed to the chain, awaiting a node"),
            GovernanceState::Submitted => format!("needs {who}: {signed}; on the chain, awaiting the nodes' votes"),
            GovernanceState::Notarized => format!("needs {who}: {signed}; notarized, in effect"),
            GovernanceState::Rejected => format!(
                "needs {who}: {signed}; refused by the nodes: {}",
                self.out.rejection.as_deref().unwrap_or("no reason given")
            ),
        }
    }
}

/// Checks what the gateway shows: the action's bytes decode and hash to
/// the id it names. Refuses (exit 4) anything else.
pub fn verify(s: &Session, out: GovernanceOut) -> CliResult<ActionView> {
    let action = decode_action(&out.action.0)
        .map_err(|e| CliError::Untrusted(format!("governance action {} does not decode: {e}", out.hash)))?;
    if action.signing_hash(&s.domain()) != out.hash {
        return Err(CliError::Untrusted(format!("the action the gateway shows does not hash to {}", out.hash)));
    }
    let typed = governance_typed_data(&s.domain(), &action).map_err(|e| CliError::failed(e.to_string()))?;
    Ok(ActionView {
        what: action.describe(),
        signed: typed["message"].clone(),
        kind: typed["primaryType"].as_str().unwrap_or_default().to_owned(),
        action,
        out,
    })
}

/// Every governance action the gateway holds, checked (newest first).
/// `open_only` keeps those still collecting signatures, asked of the
/// gateway's index of them (`GET /v1/governance?pending=true`).
pub async fn list(s: &Session, open_only: bool) -> CliResult<Vec<ActionView>> {
    let mut out = Vec::new();
    let c = s.client().await?;
    let all = if open_only { c.governance_pending().await? } else { c.governance().await? };
    for g in all {
        if !open_only || g.state == GovernanceState::Collecting {
            out.push(verify(s, g)?);
        }
    }
    Ok(out)
}

/// One action, checked.
pub async fn show(s: &Session, hash: B256) -> CliResult<ActionView> {
    verify(s, s.client().await?.governance_action(hash).await?)
}

/// The `eth_signTypedData_v4` JSON of `action`, for a wallet to sign
/// instead of boxctl (`--typed-data`); the API takes the signature.
pub fn typed_data(s: &Session, action: &GovernanceAction) -> CliResult<Value> {
    governance_typed_data(&s.domain(), action).map_err(|e| CliError::failed(e.to_string()))
}

/// The lines a person reads before signing `action`: its struct and every
/// signed field.
pub fn to_be_signed(s: &Session, action: &GovernanceAction) -> CliResult<Vec<String>> {
    let typed = governance_typed_data(&s.domain(), action).map_err(|e| CliError::failed(e.to_string()))?;
    let mut lines =
        vec![format!("to be signed ({}): {}", typed["primaryType"].as_str().unwrap_or(""), action.describe())];
    if let Some(fields) = typed["message"].as_object() {
        for (k, v) in fields {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            lines.push(format!("  {k:<12} {v}"));
        }
    }
    Ok(lines)
}

/// The action `hash`, checked, while it still collects signatures: what
/// `governance sign` signs. Refuses one that has its signatures already.
pub async fn open(s: &Session, hash: B256) -> CliResult<ActionView> {
    my_slot(s, None)?;
    let v = show(s, hash).await?;
    if v.out.state != GovernanceState::Collecting {
        return Err(CliError::refused(
            "already_signed",
            format!("\"{}\" has its signatures already ({})", v.what, v.out.state),
        ));
    }
    Ok(v)
}

/// Adds this key holder's signature to the action `hash` (checked first).
/// Refuses an action that already has its signatures.
pub async fn sign(s: &Session, hash: B256) -> CliResult<ActionView> {
    let v = open(s, hash).await?;
    submit(s, &v.action).await
}

/// Signs `action` and returns it as the gateway now holds it.
async fn submit(s: &Session, action: &GovernanceAction) -> CliResult<ActionView> {
    let out = s.client().await?.sign_governance(action).await?;
    verify(s, out)
}

/// For a relaxing action (every key holder): the open action `same` picks,
/// if another key holder started one, else `fresh`.
pub(crate) async fn co_sign_or(
    s: &Session,
    fresh: GovernanceAction,
    same: impl Fn(&GovernanceAction) -> bool,
) -> CliResult<GovernanceAction> {
    my_slot(s, None)?;
    Ok(list(s, true).await?.into_iter().map(|v| v.action).find(|a| same(a)).unwrap_or(fresh))
}

fn reason_required(reason: &str, what: &str) -> CliResult<String> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(CliError::usage(format!(
            "give a reason to {what} (--reason \"…\"); it is signed and recorded on the chain"
        )));
    }
    Ok(r.to_owned())
}

/// The action `keyholder freeze` signs: one key holder suffices.
pub fn freeze_action(employee: Address, reason: &str) -> CliResult<GovernanceAction> {
    let reason = reason_required(reason, "freeze an employee")?;
    Ok(GovernanceAction::FreezeEmployee(FreezeEmployee { employee, frozen: true, reason, nonce: unix_now() }))
}

/// The action `keyholder unfreeze` signs: the open unfreeze of `employee`
/// another key holder started, else a new one.
pub async fn unfreeze_action(s: &Session, employee: Address, reason: &str) -> CliResult<GovernanceAction> {
    let fresh = GovernanceAction::FreezeEmployee(FreezeEmployee {
        employee,
        frozen: false,
        reason: reason.trim().to_owned(),
        nonce: unix_now(),
    });
    co_sign_or(s, fresh, |a| matches!(a, GovernanceAction::FreezeEmployee(f) if f.employee == employee && !f.frozen))
        .await
}

/// The action `keyholder block` signs: one key holder suffices.
pub fn block_action(destination: Address, reason: &str) -> CliResult<GovernanceAction> {
    let reason = reason_required(reason, "block a destination")?;
    Ok(GovernanceAction::BlockDestination(BlockDestination { destination, blocked: true, reason, nonce: unix_now() }))
}

/// The action `keyholder unblock` signs: the open unblock of `destination`
/// another key holder started, else a new one.
pub async fn unblock_action(s: &Session, destination: Address, reason: &str) -> CliResult<GovernanceAction> {
    let fresh = GovernanceAction::BlockDestination(BlockDestination {
        destination,
        blocked: false,
        reason: reason.trim().to_owned(),
        nonce: unix_now(),
    });
    co_sign_or(
        s,
        fresh,
        |a| matches!(a, GovernanceAction::BlockDestination(b) if b.destination == destination && !b.blocked),
    )
    .await
}

/// The token contract as the chain answers `symbol()` and `decimals()`
/// (through the gateway's Ethereum node).
pub async fn token(s: &Session, contract: Address) -> CliResult<TokenOut> {
    Ok(s.client().await?.token(contract).await?)
}

/// The action `keyholder asset add` signs: the registration of `token` with
/// the symbol and decimals the chain answered, co-signing an open one with
/// exactly those values. Refuses a token that is registered already.
pub async fn register_action(s: &Session, token: &TokenOut) -> CliResult<GovernanceAction> {
    if token.registered {
        return Err(CliError::refused("already_registered", format!("{} is registered already", token.token)));
    }
    let fresh = RegisterAsset {
        token: token.token,
        symbol: token.symbol.clone(),
        decimals: token.decimals,
        registered: true,
        nonce: unix_now(),
    };
    co_sign_or(s, GovernanceAction::RegisterAsset(fresh.clone()), |a| {
        matches!(a, GovernanceAction::RegisterAsset(r)
            if r.registered && r.token == fresh.token && r.symbol == fresh.symbol && r.decimals == fresh.decimals)
    })
    .await
}

/// The action `keyholder asset remove` signs (one key holder suffices):
/// the removal of a registered token, named with its registered symbol.
pub async fn remove_action(s: &Session, contract: Address) -> CliResult<GovernanceAction> {
    my_slot(s, None)?;
    let assets = s.client().await?.assets().await?;
    let a = assets
        .iter()
        .find(|a| a.asset == contract && !contract.is_zero())
        .ok_or_else(|| CliError::refused("unknown_asset", format!("{contract} is not a registered token")))?;
    Ok(GovernanceAction::RegisterAsset(RegisterAsset {
        token: contract,
        symbol: a.symbol.clone(),
        decimals: a.decimals,
        registered: false,
        nonce: unix_now(),
    }))
}

/// Signs `action` as this key holder (see the `*_action` builders).
pub async fn sign_action(s: &Session, action: &GovernanceAction) -> CliResult<ActionView> {
    my_slot(s, None)?;
    submit(s, action).await
}

/// Tells an approver (on stderr) when governance already stops a transfer
/// they are asked to approve: its applicant is frozen, its destination
/// blocked. The chain refuses such a transfer whatever they sign.
pub fn warn_governed(ui: &crate::ui::Ui, status: &box_api::StatusOut, t: &crate::transfers::TransferView) {
    let named = |list: &[Address], who: &str| list.iter().any(|a| a.to_checksum(None).eq_ignore_ascii_case(who));
    if named(&status.frozen, &t.applicant) {
        ui.warn(&format!("the applicant {} is frozen by governance: this transfer will be refused", t.applicant));
    }
    if named(&status.blocked, &t.to) {
        ui.warn(&format!("the destination {} is blocked by governance: this transfer will be refused", t.to));
    }
}

/// Offboards a person in one go: signs `freeze` (from [`freeze_action`]:
/// their notarized transfers and new applications are refused once it is
/// notarized), then has the gateway revoke their escrowed keystore and
/// cancel their applications still collecting approvals with `reason`.
pub async fn offboard(
    s: &Session,
    freeze: &GovernanceAction,
    reason: &str,
) -> CliResult<(ActionView, box_api::OffboardOut)> {
    let GovernanceAction::FreezeEmployee(f) = freeze else {
        return Err(CliError::failed("offboarding signs a freeze"));
    };
    let v = sign_action(s, freeze).await?;
    let out = s.client().await?.offboard(f.employee, reason.trim()).await?;
    Ok((v, out))
}
