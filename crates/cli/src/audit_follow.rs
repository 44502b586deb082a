//! `boxctl audit follow --out DIR`: the auditor's verified, read-only
//! replica of the history (issue 15, item 4). It reads sealed blocks from
//! the gateway's audit export with the auditor's own signed requests (a role
//! that can neither vote nor write), verifies each against the genesis with
//! box-core's `HistoryVerifier` before keeping it, and stops at the first
//! block that does not verify, keeping nothing of it.
//!
//! DIR holds `genesis.json` (the profile's, pinned at the first run),
//! `blocks.jsonl` (one canonical block, 0x hex, per line, in height order)
//! and `checkpoint.json` (the verifier's state after the last kept block and
//! the length of `blocks.jsonl` it covers). A run resumes from the
//! checkpoint without replaying the history; bytes appended after it by an
//! interrupted run are cut off first.

use crate::error::{CliError, CliResult};
use crate::session::Session;
use box_core::audit::HistoryVerifier;
use box_core::block::Block;
use box_core::encoding::Canonical;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

/// Most blocks asked for per page.
const PAGE: u64 = 1000;

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    verifier: HistoryVerifier,
    /// Bytes of `blocks.jsonl` the verifier covers.
    bytes: u64,
}

/// Where the replica stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Followed {
    /// Height of the last verified block kept.
    pub height: u64,
    /// The height this run resumed from.
    pub resumed_from: u64,
    /// The state hash after the last kept block.
    pub state_hash: String,
    /// The replica's directory.
    pub dir: String,
}

fn io<'a>(what: &'a str, p: &'a Path) -> impl FnOnce(std::io::Error) -> CliError + 'a {
    move |e| CliError::io(what, p, &e)
}

/// Opens (or starts) the replica in `dir` for the session's genesis.
fn open(s: &Session, dir: &Path) -> CliResult<(HistoryVerifier, u64)> {
    crate::files::private_dir(dir)?;
    let g = dir.join("genesis.json");
    let pinned = serde_json::to_vec_pretty(s.genesis()).map_err(|e| CliError::failed(e.to_string()))?;
    if g.exists() {
        let text = std::fs::read(&g).map_err(io("read", &g))?;
        let theirs: box_core::typed::Genesis = serde_json::from_slice(&text)
            .map_err(|e| CliError::usage(format!("{} is not a genesis: {e}", g.display())))?;
        if theirs != *s.genesis() {
            return Err(CliError::usage(format!(
                "{} follows another deployment than the profile's; use another directory",
                dir.display()
            )));
        }
    } else {
        crate::files::write_private(&g, &pinned)?;
    }
    let c = dir.join("checkpoint.json");
    if !c.exists() {
        let v = HistoryVerifier::new(s.genesis()).map_err(|e| CliError::refused("history_invalid", e.to_string()))?;
        return Ok((v, 0));
    }
    let text = std::fs::read(&c).map_err(io("read", &c))?;
    let cp: Checkpoint = serde_json::from_slice(&text)
        .map_err(|e| CliError::failed(format!("{} is damaged ({e}); start a new directory", c.display())))?;
    Ok((cp.verifier, cp.bytes))
}

/// Writes the checkpoint atomically (a temporary file renamed over it).
fn save(dir: &Path, verifier: &HistoryVerifier, bytes: u64) -> CliResult<()> {
    let tmp = dir.join("checkpoint.json.tmp");
    let c = dir.join("checkpoint.json");
    let _ = std::fs::remove_file(&tmp);
    let text = serde_json::to_vec(&Checkpoint { verifier: verifier.clone(), bytes })
        .map_err(|e| CliError::failed(e.to_string()))?;
    crate::files::write_private(&tmp, &text)?;
    std::fs::rename(&tmp, &c).map_err(io("rename", &c))
}

/// One pass: fetches and verifies every block after the replica's height
/// until the gateway has no more, keeping each verified page. Refuses
/// (exit 3) at the first block that does not verify; what was kept before
/// it stays.
pub async fn follow_once(s: &Session, dir: &Path) -> CliResult<Followed> {
    let (mut verifier, mut bytes) = open(s, dir)?;
    let resumed_from = verifier.height();
    let path = dir.join("blocks.jsonl");
    let mut file =
        std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&path).map_err(io("open", &path))?;
    // An interrupted run may have appended past its checkpoint.
    file.set_len(bytes).map_err(io("truncate", &path))?;
    let client = s.client().await?;
    loop {
        let page = client.audit_page(verifier.height() + 1, PAGE).await?;
        if page.genesis != *s.genesis() {
            return Err(CliError::Untrusted("the gateway serves a history from another genesis".into()));
        }
        let mut lines = String::new();
        for (i, raw) in page.blocks.iter().enumerate() {
            let height = page.from + i as u64;
            let block = Block::decode(&raw.0)
                .map_err(|e| CliError::refused("history_invalid", format!("block {height}: {e}")))?;
            verifier.push(&block).map_err(|e| CliError::refused("history_invalid", e.to_string()))?;
            lines.push_str(&format!("0x{}\n", hex::encode(block.encode())));
        }
        if !lines.is_empty() {
            file.write_all(lines.as_bytes()).and_then(|()| file.sync_all()).map_err(io("write", &path))?;
            bytes += lines.len() as u64;
            save(dir, &verifier, bytes)?;
        }
        if page.next.is_none() || page.blocks.is_empty() {
            break;
        }
    }
    Ok(Followed {
        height: verifier.height(),
        resumed_from,
        state_hash: verifier.state().state_root().0.to_string(),
        dir: dir.display().to_string(),
    })
}

/// Follows for good: a pass every `every`, printing each new height. A
/// gateway that cannot be reached is waited for; a block that does not
/// verify stops it.
pub async fn follow(ui: &crate::ui::Ui, s: &Session, dir: &Path, every: Duration) -> CliResult<()> {
    let mut last = None;
    loop {
        match follow_once(s, dir).await {
            Ok(f) => {
                if last != Some(f.height) {
                    ui.emit(&f, || ui.done(&format!("verified up to block {} (state {})", f.height, f.state_hash)))?;
                    last = Some(f.height);
                }
            }
            Err(CliError::Unavailable(m)) => ui.warn(&format!("{m}; trying again")),
            Err(e) => return Err(e),
        }
        tokio::time::sleep(every).await;
    }
}
