//! The auditor's tools: export the history with its certificates, and verify
//! an export offline against the genesis alone (with box-core's
//! `verify_history`, the same code the nodes, the signer and the gateway run).
//!
//! The export file is JSON: `{ "genesis": {…}, "blocks": ["0x<canonical block>", …] }`.

use crate::error::{CliError, CliResult};
use crate::files::write_private;
use crate::session::Session;
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_core::typed::Genesis;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// An export file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportFile {
    /// The genesis the history starts from.
    pub genesis: Genesis,
    /// Every sealed block from height 1, box-core canonical bytes, 0x hex.
    pub blocks: Vec<String>,
}

/// What was exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exported {
    /// Blocks written.
    pub blocks: u64,
    /// The file.
    pub file: String,
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Blocks verified.
    pub blocks: u64,
    /// Entries replayed.
    pub entries: u64,
    /// Subjects notarized, each with a verified certificate.
    pub notarized: u64,
    /// Subjects rejected.
    pub rejected: u64,
    /// The state hash after the last block.
    pub state_hash: String,
}

/// Fetches the whole history and writes it to `out` (never overwriting).
/// The gateway's genesis must be the profile's.
pub async fn export(s: &Session, out: &Path) -> CliResult<Exported> {
    if out.exists() {
        return Err(CliError::usage(format!("{} already exists; refusing to overwrite it", out.display())));
    }
    let (genesis, blocks) = s.client().await?.audit_export().await?;
    if genesis != *s.genesis() {
        return Err(CliError::Untrusted(
            "the gateway exports a history from another genesis than the profile's".into(),
        ));
    }
    let file =
        ExportFile { genesis, blocks: blocks.iter().map(|b| format!("0x{}", hex::encode(b.encode()))).collect() };
    let text = serde_json::to_vec_pretty(&file).map_err(|e| CliError::failed(e.to_string()))?;
    // Not secret, but nobody else needs to write it.
    write_private(out, &text)?;
    Ok(Exported { blocks: blocks.len() as u64, file: out.display().to_string() })
}

/// Verifies the export at `path` against `genesis` (the pinned one), offline.
pub fn verify(path: &Path, genesis: &Genesis) -> CliResult<Verified> {
    let text = std::fs::read(path).map_err(|e| CliError::io("read", path, &e))?;
    let file: ExportFile = serde_json::from_slice(&text)
        .map_err(|e| CliError::usage(format!("{} is not a boxctl audit export: {e}", path.display())))?;
    let bad = |m: String| CliError::refused("history_invalid", m);
    if file.genesis != *genesis {
        return Err(bad("the export starts from another genesis than the one it is checked against".into()));
    }
    let blocks = file
        .blocks
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let bytes =
                hex::decode(h.trim_start_matches("0x")).map_err(|_| bad(format!("block {} is not hex", i + 1)))?;
            Block::decode(&bytes).map_err(|e| bad(format!("block {}: {e}", i + 1)))
        })
        .collect::<CliResult<Vec<_>>>()?;
    let report = box_core::audit::verify_history(genesis, &blocks).map_err(|e| bad(e.to_string()))?;
    Ok(Verified {
        blocks: report.blocks,
        entries: report.entries,
        notarized: report.notarized,
        rejected: report.rejected,
        state_hash: report.state.state_root().0.to_string(),
    })
}
