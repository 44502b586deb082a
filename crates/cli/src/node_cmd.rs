//! `boxctl node add|remove|sign|show|submit`: a node operator's side of
//! node-set governance (see [`crate::node_change`]). Each signing command
//! prints what is signed, every field, then how many signatures the change
//! still needs.

use crate::error::{CliError, CliResult};
use crate::node_change::{self, Progress, Via};
use crate::session::Session;
use crate::ui::Ui;
use box_core::address::parse_address;
use box_core::governance::{GovernanceAction, SignedAction};
use box_proto::TlsMaterial;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Node account key files to sign with.
#[derive(Debug, Clone, Args)]
pub struct NodeKeys {
    /// A node account key file to sign with (repeat for several nodes run by one operator).
    #[arg(long = "sign-with", value_name = "KEY_FILE")]
    pub sign_with: Vec<PathBuf>,
    /// --dev accepts a plaintext node account key file, as development
    /// deployments write them (without it only an encrypted keystore, as
    /// box-node itself); --passphrase-fd N, else BOX_KEY_PASSPHRASE, else a prompt.
    #[command(flatten)]
    pub key: box_ops::unlock::KeyArgs,
}

/// The change file.
#[derive(Debug, Clone, Args)]
pub struct ChangeFile {
    /// The change file: created by the first signer, co-signed by the others, submitted when complete.
    #[arg(long, default_value = "node-change.json", value_name = "FILE")]
    pub file: PathBuf,
}

/// Node-set governance (node accounts sign).
#[derive(Debug, Subcommand)]
pub enum NodeCmd {
    /// Add a node: start the change (or co-sign it when --file holds the same
    /// change). Needs every current node account's signature.
    Add {
        /// The new node's account (its `box-node keygen` address).
        #[arg(long)]
        account: String,
        /// Where the new node listens (host:port, as the other nodes reach it).
        #[arg(long)]
        endpoint: String,
        /// The new node's certificate (its `box:node:<id>` names the node id).
        #[arg(long, value_name = "PEM", required_unless_present = "id")]
        cert: Option<PathBuf>,
        /// The node id, when no certificate is given.
        #[arg(long)]
        id: Option<u64>,
        /// The change's nonce (default: the time; taken from --file when co-signing).
        #[arg(long)]
        nonce: Option<u64>,
        /// --sign-with.
        #[command(flatten)]
        keys: NodeKeys,
        /// --file.
        #[command(flatten)]
        file: ChangeFile,
    },
    /// Remove a registered node: start the change (or co-sign it). Needs a
    /// strict majority of the node accounts.
    Remove {
        /// The node id.
        id: u64,
        /// The change's nonce (default: the time; taken from --file when co-signing).
        #[arg(long)]
        nonce: Option<u64>,
        /// --sign-with.
        #[command(flatten)]
        keys: NodeKeys,
        /// --file.
        #[command(flatten)]
        file: ChangeFile,
    },
    /// Co-sign the change in a change file.
    Sign {
        /// The change file.
        file: PathBuf,
        /// --sign-with.
        #[command(flatten)]
        keys: NodeKeys,
    },
    /// Show the change in a change file and its signatures, checked.
    Show {
        /// The change file.
        file: PathBuf,
    },
    /// Submit a complete change through a node, with a node certificate, and
    /// wait until the nodes notarize it.
    Submit {
        /// The change file.
        file: PathBuf,
        /// A node to submit through (host:port; repeat to fail over).
        #[arg(long = "node", required = true, value_name = "HOST:PORT")]
        nodes: Vec<String>,
        /// The deployment CA certificate.
        #[arg(long, value_name = "PEM")]
        ca: PathBuf,
        /// A node certificate (`box:node:<id>`): only nodes submit node changes.
        #[arg(long, value_name = "PEM")]
        cert: PathBuf,
        /// That certificate's private key.
        #[arg(long, value_name = "PEM")]
        cert_key: PathBuf,
        /// How long to wait for the decision, in seconds.
        #[arg(long, default_value_t = 120, value_name = "SECS")]
        wait: u64,
    },
}

/// Runs a `boxctl node` command. Every command reads the registry from the
/// gateway (`session`: any registered identity).
pub async fn node_cmd(ui: &Ui, cmd: NodeCmd, session: impl FnOnce() -> CliResult<Session>) -> CliResult<()> {
    match cmd {
        NodeCmd::Add { account, endpoint, cert, id, nonce, keys, file } => {
            let s = session()?;
            let registry = node_change::registry(&s).await?;
            let account = parse_address(&account).map_err(|e| CliError::usage(format!("--account: {e}")))?;
            let id = match (cert, id) {
                (Some(c), given) => {
                    let from_cert = node_change::node_id_of_certificate(&c)?;
                    if given.is_some_and(|g| g != from_cert) {
                        return Err(CliError::usage(format!("--id differs from the certificate's node {from_cert}")));
                    }
                    from_cert
                }
                (None, Some(id)) => id,
                (None, None) => return Err(CliError::usage("--cert or --id names the node")),
            };
            let existing = existing(&file.file)?;
            let nonce = nonce.or(existing.as_ref().map(nonce_of)).unwrap_or_else(node_change::fresh_nonce);
            let change = node_change::add(&registry, account, id, &endpoint, nonce)?;
            let signed = start_or_join(existing, GovernanceAction::NodeChange(change), &file.file)?;
            sign_and_write(ui, &s, &registry, signed, &keys, &file.file)
        }
        NodeCmd::Remove { id, nonce, keys, file } => {
            let s = session()?;
            let registry = node_change::registry(&s).await?;
            let existing = existing(&file.file)?;
            let nonce = nonce.or(existing.as_ref().map(nonce_of)).unwrap_or_else(node_change::fresh_nonce);
            let change = node_change::remove(&registry, id, nonce)?;
            let signed = start_or_join(existing, GovernanceAction::NodeChange(change), &file.file)?;
            sign_and_write(ui, &s, &registry, signed, &keys, &file.file)
        }
        NodeCmd::Sign { file, keys } => {
            let s = session()?;
            let registry = node_change::registry(&s).await?;
            let signed = node_change::read(&file)?;
            sign_and_write(ui, &s, &registry, signed, &keys, &file)
        }
        NodeCmd::Show { file } => {
            let s = session()?;
            let registry = node_change::registry(&s).await?;
            let signed = node_change::read(&file)?;
            let p = node_change::progress(&s.domain(), &registry, &signed)?;
            ui.emit(&p, || {
                for l in node_change::to_be_signed(&s.domain(), &signed).unwrap_or_default() {
                    ui.line(&l);
                }
                ui.line(&p.line());
            })
        }
        NodeCmd::Submit { file, nodes, ca, cert, cert_key, wait } => {
            let signed = node_change::read(&file)?;
            let tls = TlsMaterial::load(&ca, &cert, &cert_key).map_err(CliError::usage)?;
            let s = session()?;
            let domain = s.domain();
            // The nodes decide a change once: one submitted without its
            // signatures is rejected and its nonce spent.
            let p = node_change::progress(&domain, &node_change::registry(&s).await?, &signed)?;
            if !p.complete() {
                return Err(CliError::refused(
                    "signatures_missing",
                    format!("{}; nothing was submitted (the nodes would reject it and spend its nonce)", p.line()),
                ));
            }
            let via = Via { nodes, tls, wait: Duration::from_secs(wait) };
            let spin = ui.spinner("submitting the change and waiting for the nodes to notarize it");
            let id = node_change::submit(&domain, &signed, &via).await?;
            drop(spin);
            ui.emit(&serde_json::json!({ "subject": id.to_string(), "state": "notarized" }), || {
                ui.done(&format!("notarized: {} (subject {id})", signed.action.describe()));
                ui.line("the majority is recomputed from the new registry; `boxctl status` shows it");
            })
        }
    }
}

fn existing(file: &Path) -> CliResult<Option<SignedAction>> {
    if file.exists() { node_change::read(file).map(Some) } else { Ok(None) }
}

fn nonce_of(s: &SignedAction) -> u64 {
    match &s.action {
        GovernanceAction::NodeChange(c) => c.nonce,
        _ => 0,
    }
}

/// The change in `existing` when it is `action`; a new one when there is none.
fn start_or_join(existing: Option<SignedAction>, action: GovernanceAction, file: &Path) -> CliResult<SignedAction> {
    match existing {
        None => Ok(SignedAction { action, signatures: vec![] }),
        Some(e) if e.action == action => Ok(e),
        Some(e) => Err(CliError::usage(format!(
            "{} holds another change (\"{}\"); co-sign it with `boxctl node sign`, or name another --file",
            file.display(),
            e.action.describe()
        ))),
    }
}

fn sign_and_write(
    ui: &Ui,
    s: &Session,
    registry: &[box_api::RegisteredNodeOut],
    mut signed: SignedAction,
    keys: &NodeKeys,
    file: &Path,
) -> CliResult<()> {
    let domain = s.domain();
    for l in node_change::to_be_signed(&domain, &signed)? {
        eprintln!("{l}");
    }
    for k in &keys.sign_with {
        let key = node_change::load_node_key(k, &keys.key.unlock())?;
        node_change::sign(&domain, registry, &mut signed, &key)?;
    }
    node_change::write(file, &signed)?;
    let p: Progress = node_change::progress(&domain, registry, &signed)?;
    ui.emit(&serde_json::json!({ "file": file, "progress": p }), || {
        ui.line(&format!("{} ({})", p.line(), file.display()));
        if p.complete() {
            ui.line(&format!(
                "submit it through a node: boxctl node submit {} --node HOST:PORT --ca CA --cert NODE.pem --cert-key NODE.key",
                file.display()
            ));
        }
    })
}
