//! `boxctl audit follow --out DIR`: the auditor's verified, read-only
//! replica of the history (issue 15, item 4). It reads sealed blocks from
//! the gateway's audit export with the auditor's own signed requests (a role
//! that can neither vote nor write), verifies each against the genesis with
//! box-core's `HistoryVerifier` before keeping it, and stops at the first
//! block that does not verify, keeping nothing of it.
//!
//! DIR holds `genesis.json` (the profile's, pinned at the first run),
//! `blocks.jsonl` (one canonical block, 0x hex, per line, in height order)
//! and `checkpoint.bin` (the length of `blocks.jsonl` it covers, a
//! big-endian `u64`, then box-core's binary checkpoint of the verifier after
//! the last kept block). A run resumes from the checkpoint without
//! replaying the history, once box-core's `checkpoint::decode` accepted it
//! (its rows give the root its last block's header names); bytes appended
//! after it by an interrupted run are cut off first. A `checkpoint.json`
//! written by earlier versions is still read, and replaced at the next save.
//!
//! With `--bootstrap-from HOST:PORT… --ca --cert --cert-key` (opt-in; an
//! auditor's node certificate), an empty replica does not start at block 1:
//! box-proto's `bootstrap` verifies the node-registry chain from the genesis,
//! takes the latest state a node keeps and starts from it only if a strict
//! majority of the registry attests its height, block hash and state root.
//! `bootstrap.json` then records where it started and who attested, and
//! `blocks.jsonl` holds the blocks after that height. A refused state (a
//! minority, another root, a forged or edited state, a registry that does
//! not verify) or no answer is reported with the reason, and the replica
//! verifies from the genesis instead. A replica that already has a
//! checkpoint ignores the option.

use crate::error::{CliError, CliResult};
use crate::session::Session;
use box_core::audit::HistoryVerifier;
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_core::evidence::SealedHeader;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

/// Most blocks asked for per page.
const PAGE: u64 = 1000;

/// The `checkpoint.json` earlier versions wrote (read, never written).
#[derive(Deserialize)]
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
    /// The height this replica started at from a majority-attested state
    /// (this run), instead of block 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrapped_at: Option<u64>,
    /// Why the attested state was not used (this run): it verified from the genesis instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_refused: Option<String>,
}

/// Where an empty replica may start instead of block 1: nodes to ask, with
/// a certificate of the deployment CA (an auditor's reads everything needed).
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// Node endpoints (host:port).
    pub nodes: Vec<String>,
    /// The deployment CA, the certificate and its key.
    pub tls: box_proto::TlsMaterial,
}

/// What `bootstrap.json` records.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Started {
    height: u64,
    block_hash: String,
    state_root: String,
    attested_by: Vec<String>,
    source: String,
}

/// Starts the empty replica in `dir` from a majority-attested state:
/// `Ok(verifier)` once saved, `Err(reason)` when the state is not used.
async fn start_certified(s: &Session, dir: &Path, b: &Bootstrap) -> CliResult<Result<HistoryVerifier, String>> {
    let nodes = b.nodes.iter().map(|n| box_proto::Node::at(n.clone())).collect();
    let client = box_proto::NodeClient::new(nodes, &b.tls);
    let boot = match box_proto::bootstrap(&client, s.genesis()).await {
        Ok(boot) => boot,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let Some(header) = boot.checkpoint.header.clone() else {
        return Ok(Err("the attested state has no sealed header".into()));
    };
    let a = boot.certified.attestation();
    let started = Started {
        height: a.height,
        block_hash: a.blockHash.to_string(),
        state_root: a.stateRoot.to_string(),
        attested_by: boot.certified.signers().iter().map(|x| x.to_checksum(None)).collect(),
        source: boot.source.clone(),
    };
    let json = serde_json::to_vec_pretty(&started).map_err(|e| CliError::failed(e.to_string()))?;
    crate::files::write_private(&dir.join("bootstrap.json"), &json)?;
    save(dir, &boot.checkpoint.verifier, &header, 0)?;
    Ok(Ok(boot.checkpoint.verifier))
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
    let bin = dir.join(CHECKPOINT);
    if bin.exists() {
        let data = std::fs::read(&bin).map_err(io("read", &bin))?;
        let damaged =
            |e: String| CliError::failed(format!("{} is damaged ({e}); start a new directory", bin.display()));
        let (covered, rest) = data.split_at_checked(8).ok_or_else(|| damaged("it is cut short".into()))?;
        let mut n = [0u8; 8];
        n.copy_from_slice(covered);
        let c = box_core::checkpoint::decode(s.genesis(), rest).map_err(|e| damaged(e.to_string()))?;
        return Ok((c.verifier, u64::from_be_bytes(n)));
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

/// The checkpoint's file in the replica's directory.
const CHECKPOINT: &str = "checkpoint.bin";

/// Writes the checkpoint atomically (a temporary file renamed over it);
/// `header` is the sealed header of the verifier's last block. Removes a
/// `checkpoint.json` of earlier versions once replaced.
fn save(dir: &Path, verifier: &HistoryVerifier, header: &SealedHeader, bytes: u64) -> CliResult<()> {
    let tmp = dir.join("checkpoint.bin.tmp");
    let c = dir.join(CHECKPOINT);
    let _ = std::fs::remove_file(&tmp);
    let mut data = bytes.to_be_bytes().to_vec();
    data.extend_from_slice(&box_core::checkpoint::encode(verifier, Some(header)));
    crate::files::write_private(&tmp, &data)?;
    std::fs::rename(&tmp, &c).map_err(io("rename", &c))?;
    let old = dir.join("checkpoint.json");
    if old.exists() {
        std::fs::remove_file(&old).map_err(io("remove", &old))?;
    }
    Ok(())
}

/// One pass: fetches and verifies every block after the replica's height
/// until the gateway has no more, keeping each verified page. Refuses
/// (exit 3) at the first block that does not verify; what was kept before
/// it stays.
pub async fn follow_once(s: &Session, dir: &Path, bootstrap: Option<&Bootstrap>) -> CliResult<Followed> {
    let (mut verifier, mut bytes) = open(s, dir)?;
    let (mut bootstrapped_at, mut bootstrap_refused) = (None, None);
    if let Some(b) = bootstrap.filter(|_| verifier.height() == 0 && bytes == 0) {
        match start_certified(s, dir, b).await? {
            Ok(v) => {
                bootstrapped_at = Some(v.height());
                verifier = v;
            }
            Err(why) => bootstrap_refused = Some(format!("{why}; verifying from the genesis (block 1) instead")),
        }
    }
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
        let mut last = None;
        for (i, raw) in page.blocks.iter().enumerate() {
            let height = page.from + i as u64;
            let block = Block::decode(&raw.0)
                .map_err(|e| CliError::refused("history_invalid", format!("block {height}: {e}")))?;
            verifier.push(&block).map_err(|e| CliError::refused("history_invalid", e.to_string()))?;
            lines.push_str(&format!("0x{}\n", hex::encode(block.encode())));
            last = Some(block.sealed_header());
        }
        if let Some(header) = last {
            file.write_all(lines.as_bytes()).and_then(|()| file.sync_all()).map_err(io("write", &path))?;
            bytes += lines.len() as u64;
            save(dir, &verifier, &header, bytes)?;
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
        bootstrapped_at,
        bootstrap_refused,
    })
}

/// Follows for good: a pass every `every`, printing each new height. A
/// gateway that cannot be reached is waited for; a block that does not
/// verify stops it.
pub async fn follow(
    ui: &crate::ui::Ui,
    s: &Session,
    dir: &Path,
    every: Duration,
    bootstrap: Option<&Bootstrap>,
) -> CliResult<()> {
    let mut last = None;
    loop {
        match follow_once(s, dir, bootstrap).await {
            Ok(f) => {
                tell_bootstrap(ui, &f);
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

/// Says where a replica started, when this run bootstrapped it or refused the attested state.
pub fn tell_bootstrap(ui: &crate::ui::Ui, f: &Followed) {
    if let Some(h) = f.bootstrapped_at {
        ui.line(&format!(
            "started from block {h}: its state root is attested by a strict majority of the node registry"
        ));
    }
    if let Some(why) = &f.bootstrap_refused {
        ui.warn(why);
    }
}
