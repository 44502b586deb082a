//! Changing a flow the way the whitepaper says (disable the old one,
//! authorize a new one), for an approver who leaves: the admin drafts the
//! new version with the approver replaced, and each key holder sees the
//! difference between the two flows before signing `enable(new)` and
//! `disable(old)` (issue 15, item 5).

use crate::admin;
use crate::assets;
use crate::error::{CliError, CliResult};
use crate::flowfile;
use crate::keyholder::{self, verified_flow};
use crate::session::Session;
use crate::ui::Ui;
use box_api::{FlowOut, FlowState, QueuedOut};
use box_core::Address;
use box_core::address::parse_address;
use box_core::ids::FlowHash;

/// The lines of `new` against `old` (a longest-common-subsequence diff):
/// `- ` only in the old, `+ ` only in the new, `  ` in both.
pub fn diff(old: &str, new: &str) -> Vec<String> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // lcs[i][j]: the common subsequence length of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] > lcs[i + 1][j]) {
            out.push(format!("+ {}", b[j]));
            j += 1;
        } else {
            out.push(format!("- {}", a[i]));
            i += 1;
        }
    }
    out
}

/// The difference between flow `old` and flow `new`, each checked to hash
/// to its name, as flow-file lines.
pub async fn flow_diff(s: &Session, old: FlowHash, new: FlowHash) -> CliResult<Vec<String>> {
    let (_, o) = verified_flow(s, old).await?;
    let (_, n) = verified_flow(s, new).await?;
    let book = assets::load(s).await?;
    Ok(diff(&flowfile::to_toml(&o, &book), &flowfile::to_toml(&n, &book)))
}

/// Drafts the next version of flow `old` with `leaving` replaced by
/// `successor` in every level that names them (same place, same
/// threshold; the nonce one higher). Refuses when `leaving` approves in no
/// level, or `successor` is already in a level `leaving` is in.
pub async fn replace_approver(s: &Session, old: FlowHash, leaving: Address, successor: Address) -> CliResult<FlowOut> {
    let (_, mut flow) = verified_flow(s, old).await?;
    let mut replaced = false;
    for level in &mut flow.levels {
        if let Some(p) = level.approvers.iter().position(|a| *a == leaving) {
            if level.approvers.contains(&successor) {
                return Err(CliError::usage(format!(
                    "{successor} already approves in level {:?}; choose someone else",
                    level.name
                )));
            }
            level.approvers[p] = successor;
            replaced = true;
        }
    }
    if !replaced {
        return Err(CliError::usage(format!("{leaving} approves in no level of flow {old}")));
    }
    flow.nonce = flow.nonce.saturating_add(1);
    admin::create_flow(s, &flow).await
}

/// What a key holder signs to replace flow `old` by `new`: `enable(new)`,
/// then `disable(old)` unless it is disabled already (one key holder's
/// disable suffices, so the old flow stops at once, before the new one is
/// active).
pub async fn authorize_replacing(
    s: &Session,
    new: FlowHash,
    old: FlowHash,
) -> CliResult<(QueuedOut, Option<QueuedOut>)> {
    let enabled = keyholder::authorize(s, new, true).await?;
    let (o, _) = verified_flow(s, old).await?;
    let disabled = match o.status {
        FlowState::Disabled => None,
        _ => Some(keyholder::authorize(s, old, false).await?),
    };
    Ok((enabled, disabled))
}

/// `keyholder authorize NEW --replaces OLD`: prints the difference on
/// stderr, asks on a terminal (unless `yes`), signs, prints what was signed.
pub async fn run_authorize(ui: &Ui, s: &Session, new: &str, old: &str, yes: bool) -> CliResult<()> {
    let (new, old) = (admin::parse_flow_hash(new)?, admin::parse_flow_hash(old)?);
    for l in flow_diff(s, old, new).await? {
        eprintln!("{l}");
    }
    if !yes && crate::ui::interactive() && !crate::ui::confirm(&format!("Sign enable({new}) and disable({old})?"))? {
        return Err(CliError::usage("not signed"));
    }
    let (enabled, disabled) = authorize_replacing(s, new, old).await?;
    ui.emit(&serde_json::json!({ "enable": enabled, "disable": disabled }), || {
        ui.done(&format!("enable({new}) signed and relayed (subject {})", enabled.subject_id));
        match &disabled {
            Some(q) => ui.done(&format!("disable({old}) signed and relayed (subject {})", q.subject_id)),
            None => ui.line(&format!("flow {old} is disabled already")),
        }
    })
}

/// `admin flow replace-approver HASH --approver A --with B [--submit]`.
pub async fn run_replace(
    ui: &Ui,
    s: &Session,
    hash: &str,
    (leaving, successor): (&str, &str),
    submit: bool,
) -> CliResult<()> {
    let old = admin::parse_flow_hash(hash)?;
    let who = |what: &str, a: &str| parse_address(a).map_err(|e| CliError::usage(format!("{what}: {e}")));
    let f = replace_approver(s, old, who("--approver", leaving)?, who("--with", successor)?).await?;
    let queued = if submit { Some(admin::submit_flow(s, f.hash).await?) } else { None };
    let diff = flow_diff(s, old, f.hash).await?;
    ui.emit(&serde_json::json!({ "flow": f, "replaces": old, "diff": diff, "submitted": queued }), || {
        for l in &diff {
            ui.line(l);
        }
        ui.done(&format!("flow {} drafted to replace {old}", f.hash));
        ui.line(&format!(
            "each key holder runs `boxctl keyholder authorize {} --replaces {old}` (it shows this difference)",
            f.hash
        ));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_marks_what_changed_and_keeps_the_rest() {
        let old = "name = \"P\"\napprovers = [\"0xA\", \"0xB\"]\nthreshold = 1\nnonce = 1";
        let new = "name = \"P\"\napprovers = [\"0xA\", \"0xC\"]\nthreshold = 1\nnonce = 2";
        assert_eq!(
            diff(old, new),
            [
                "  name = \"P\"",
                "- approvers = [\"0xA\", \"0xB\"]",
                "+ approvers = [\"0xA\", \"0xC\"]",
                "  threshold = 1",
                "- nonce = 1",
                "+ nonce = 2"
            ]
        );
        assert!(diff(old, old).iter().all(|l| l.starts_with("  ")));
    }
}
