//! `boxctl genesis new|check|fingerprint`: the deployment's genesis made from
//! a plan (TOML), checked rule by rule, and its fingerprint for people to
//! compare out of band. Offline, except that `new` reads the chain id and the
//! assets' symbols and decimals from an Ethereum RPC when the plan names one.
//!
//! The plan (unknown fields refused; addresses EIP-55 or all one case):
//!
//! ```toml
//! chain_id = 1                      # the public chain's EIP-155 id
//! eth_rpc = "https://rpc.example"   # optional: checks chain_id, reads each asset's symbol and decimals
//! key_holders = ["0x…", "0x…", "0x…"]  # 3 to 16, in slot order (the signer's console counts 1…N)
//! signer = "0x…"                    # the signer's identity key's address
//! [[nodes]]
//! id = 1
//! endpoint = "node-1.example.com:7001"  # host:port of the node's gRPC
//! account = "0x…"                   # the node's account key's address (box-node keygen)
//! [[assets]]                        # ERC-20 tokens; ETH is always there
//! token = "0x…"
//! symbol = "USDC"                   # optional with eth_rpc (then checked against the chain)
//! decimals = 6                      # likewise
//! ```
//!
//! `deploymentId` is 32 fresh random bytes and `time` the current time:
//! running `new` twice gives two different deployments, on purpose.

use crate::error::{CliError, CliResult};
use crate::ui::Ui;
use box_core::Address;
use box_core::address::parse_address;
use box_core::genesis::{self, Fingerprint, Problem};
use box_core::typed::{Genesis, GenesisAsset, GenesisNode};
use clap::Subcommand;
use rand_core::{OsRng, TryRngCore};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Genesis commands.
#[derive(Debug, Subcommand)]
pub enum GenesisCmd {
    /// Make the genesis from a plan (TOML: key holders, nodes, signer, chain id, assets; see the box-cli README).
    ///
    /// Checks every rule before writing; prints the fingerprint to compare out of band.
    New {
        /// The plan.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Where to write the genesis JSON (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Check a genesis file against every rule; each broken rule is listed with its field and reason (exit 2).
    Check {
        /// The genesis JSON.
        file: PathBuf,
    },
    /// Print a genesis's fingerprint, the short hash people compare out of band before trusting it.
    Fingerprint {
        /// The genesis JSON.
        file: PathBuf,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Plan {
    chain_id: u64,
    eth_rpc: Option<String>,
    key_holders: Vec<String>,
    signer: String,
    #[serde(default)]
    nodes: Vec<PlanNode>,
    #[serde(default)]
    assets: Vec<PlanAsset>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanNode {
    id: u64,
    endpoint: String,
    account: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanAsset {
    token: String,
    symbol: Option<String>,
    decimals: Option<u8>,
}

/// A genesis file's fingerprint and whether it holds.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checked {
    /// The file.
    pub file: PathBuf,
    /// The short fingerprint (five groups of four hex digits).
    pub fingerprint: String,
    /// The full Keccak-256 of the genesis's canonical encoding.
    pub fingerprint_full: String,
    /// Every broken rule, `field: reason` (empty when valid).
    pub problems: Vec<String>,
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn address(field: &str, s: &str) -> CliResult<Address> {
    parse_address(s).map_err(|e| CliError::usage(format!("{field}: {e}")))
}

/// Reads a genesis JSON file, naming what is wrong in words.
pub fn read(file: &Path) -> CliResult<Genesis> {
    let text = std::fs::read_to_string(file).map_err(|e| CliError::io("read the genesis", file, &e))?;
    serde_json::from_str(&text).map_err(|e| {
        CliError::usage(format!(
            "{} is not a BOX genesis (fields deploymentId, chainId, keyHolders, nodes, signer, assets, time): {e}",
            file.display()
        ))
    })
}

/// Checks the genesis in `file` and computes its fingerprint.
pub fn check_file(file: &Path) -> CliResult<Checked> {
    let g = read(file)?;
    let f = Fingerprint::of(&g);
    Ok(Checked {
        file: file.to_path_buf(),
        fingerprint: f.short(),
        fingerprint_full: f.0.to_string(),
        problems: genesis::check(&g, now()).iter().map(Problem::to_string).collect(),
    })
}

/// Makes the genesis the plan in `from` describes (reading the chain when it names an RPC).
pub async fn from_plan(from: &Path) -> CliResult<Genesis> {
    let text = std::fs::read_to_string(from).map_err(|e| CliError::io("read the plan", from, &e))?;
    let plan: Plan =
        toml::from_str(&text).map_err(|e| CliError::usage(format!("the plan {} is malformed: {e}", from.display())))?;
    let eth = match &plan.eth_rpc {
        Some(url) => {
            let eth = box_eth::Eth::connect(url).map_err(|e| CliError::usage(format!("eth_rpc: {e}")))?;
            let id = eth.chain_id().await.map_err(|e| CliError::Unavailable(format!("eth_rpc {url}: {e}")))?;
            if id != plan.chain_id {
                return Err(CliError::usage(format!(
                    "chain_id is {} but {url} serves chain {id}; name the RPC of the chain the deployment uses",
                    plan.chain_id
                )));
            }
            Some(eth)
        }
        None => None,
    };
    let mut assets = Vec::new();
    for (i, a) in plan.assets.iter().enumerate() {
        let token = address(&format!("assets[{i}].token"), &a.token)?;
        let (symbol, decimals) = match &eth {
            Some(eth) => {
                let unavailable = |e: box_eth::EthError| {
                    CliError::usage(format!("assets[{i}]: {token} does not answer symbol() and decimals(): {e}"))
                };
                let symbol = eth.token_symbol(token).await.map_err(unavailable)?;
                let decimals = eth.token_decimals(token).await.map_err(unavailable)?;
                for (said, read) in
                    [(a.symbol.clone(), symbol.clone()), (a.decimals.map(|d| d.to_string()), decimals.to_string())]
                {
                    if let Some(said) = said
                        && said != read
                    {
                        return Err(CliError::usage(format!(
                            "assets[{i}]: the plan says {said} but the token contract {token} says {read}"
                        )));
                    }
                }
                (symbol, decimals)
            }
            None => match (&a.symbol, a.decimals) {
                (Some(s), Some(d)) => (s.clone(), d),
                _ => {
                    return Err(CliError::usage(format!(
                        "assets[{i}]: give symbol and decimals, or eth_rpc to read them from the token contract"
                    )));
                }
            },
        };
        assets.push(GenesisAsset { token, symbol, decimals });
    }
    let mut deployment = [0u8; 32];
    OsRng.try_fill_bytes(&mut deployment).map_err(|e| CliError::failed(format!("no randomness: {e}")))?;
    Ok(Genesis {
        deploymentId: deployment.into(),
        chainId: plan.chain_id,
        keyHolders: plan
            .key_holders
            .iter()
            .enumerate()
            .map(|(i, k)| address(&format!("key_holders[{i}]"), k))
            .collect::<CliResult<_>>()?,
        nodes: plan
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                Ok(GenesisNode {
                    nodeId: n.id,
                    endpoint: n.endpoint.clone(),
                    account: address(&format!("nodes[{i}].account"), &n.account)?,
                })
            })
            .collect::<CliResult<_>>()?,
        signer: address("signer", &plan.signer)?,
        assets,
        time: now(),
    })
}

fn refuse(problems: &[String]) -> CliError {
    CliError::usage(format!("the genesis breaks {} rule(s):\n  {}", problems.len(), problems.join("\n  ")))
}

/// Runs a `genesis` command.
pub async fn run(ui: &Ui, cmd: GenesisCmd) -> CliResult<()> {
    match cmd {
        GenesisCmd::New { from, out } => {
            if out.exists() {
                return Err(CliError::usage(format!("{} already exists; refusing to overwrite it", out.display())));
            }
            let g = from_plan(&from).await?;
            let problems: Vec<String> = genesis::check(&g, now()).iter().map(Problem::to_string).collect();
            if !problems.is_empty() {
                return Err(refuse(&problems));
            }
            let text = serde_json::to_string_pretty(&g).map_err(|e| CliError::failed(e.to_string()))?;
            crate::files::write_private(&out, format!("{text}\n").as_bytes())?;
            let checked = check_file(&out)?;
            ui.emit(&checked, || {
                ui.done(&format!("genesis written to {}", out.display()));
                ui.line(&format!("fingerprint: {}", checked.fingerprint));
                ui.line(&format!("(full: {})", checked.fingerprint_full));
                ui.line("Send the file to every key holder and operator, and read the fingerprint to them over");
                ui.line("another channel; each checks it with `boxctl genesis fingerprint FILE`.");
            })
        }
        GenesisCmd::Check { file } => {
            let checked = check_file(&file)?;
            if ui.json {
                ui.json(&checked)?;
            }
            if !checked.problems.is_empty() {
                return Err(refuse(&checked.problems));
            }
            if !ui.json {
                ui.done(&format!("{} holds every rule; fingerprint {}", file.display(), checked.fingerprint));
            }
            Ok(())
        }
        GenesisCmd::Fingerprint { file } => {
            let checked = check_file(&file)?;
            ui.emit(&checked, || {
                ui.line(&checked.fingerprint);
                if !checked.problems.is_empty() {
                    ui.warn(&format!(
                        "this genesis breaks {} rule(s); see `boxctl genesis check`",
                        checked.problems.len()
                    ));
                }
            })
        }
    }
}
