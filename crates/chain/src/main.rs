//! `box-node`: run a BOX private-chain node, and set up its certificates and
//! node account key.

use box_chain::config::{EXAMPLE, NodeConfig};
use box_chain::node;
use box_ops::role::CertRole;
use box_ops::shutdown::StopSignals;
use box_ops::{certs, keyfile};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "box-node", version, about = "BOX private-chain node: notarizes by majority vote of 2n+1 nodes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node from its TOML configuration.
    #[command(long_about = format!(
        "Run a node from its TOML configuration.\n\nEvery field, with an example:\n\n{EXAMPLE}"
    ))]
    Run {
        /// Path of the node's TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print a commented example configuration.
    ExampleConfig,
    /// Certificates from the deployment's own CA (development CA with rcgen).
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Create a node account key file (mode 0600) and print its address.
    Keygen {
        /// Where to write the key file; refused if it exists.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Create the deployment CA (ca.pem, ca.key) in a directory.
    Init {
        /// Directory for the CA files.
        #[arg(long)]
        dir: PathBuf,
        /// The CA's common name.
        #[arg(long, default_value = "BOX deployment CA")]
        name: String,
    },
    /// Issue a certificate for a node or service, signed by the CA.
    Issue {
        /// Directory holding ca.pem and ca.key.
        #[arg(long)]
        ca_dir: PathBuf,
        /// Directory for <name>.pem and <name>.key.
        #[arg(long)]
        out: PathBuf,
        /// Certificate name (also a DNS name in it).
        #[arg(long)]
        name: String,
        /// What the holder is: node:<id> (a node's raft id), gateway, signer or
        /// auditor. Written as the URI subject alternative name box:<role>,
        /// which is what the nodes read for authority.
        #[arg(long)]
        role: CertRole,
        /// Host names or IP addresses the certificate is valid for (repeatable).
        #[arg(long = "host", default_value = "127.0.0.1")]
        hosts: Vec<String>,
    },
}

fn entropy() -> Result<[u8; 32], String> {
    use rand_core::{OsRng, TryRngCore};
    let mut buf = [0u8; 32];
    OsRng.try_fill_bytes(&mut buf).map_err(|e| format!("the operating system gave no randomness: {e}"))?;
    Ok(buf)
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Run { config } => {
            let cfg = NodeConfig::load(&config).map_err(|e| e.to_string())?;
            for w in cfg.warnings() {
                tracing::warn!("{w}");
            }
            let fault = box_chain::fault::Fault::from_env();
            let mut stop = StopSignals::install().map_err(|e| format!("cannot handle the stop signals: {e}"))?;
            let n = tokio::select! {
                n = node::start_with_fault(&cfg, fault) => n.map_err(|e| e.to_string())?,
                _ = stop.recv("box-node") => return Ok(()),
            };
            tracing::info!(id = cfg.id, listen = %cfg.listen, "box-node serving");
            let raft = n.raft.clone();
            tokio::select! {
                r = n.wait() => r.map_err(|e| e.to_string())?,
                _ = stop.recv("box-node") => {
                    let _ = raft.shutdown().await;
                }
            }
            Ok(())
        }
        Command::ExampleConfig => {
            print!("{EXAMPLE}");
            Ok(())
        }
        Command::Certs(CertsCommand::Init { dir, name }) => {
            let files = certs::init_ca(&dir, &name).map_err(|e| e.to_string())?;
            println!(
                "created the CA: certificate {} (give it to every node and service), private key {} (mode 0600; \
                 keep it offline, it issues every certificate)",
                files.cert.display(),
                files.key.display()
            );
            Ok(())
        }
        Command::Certs(CertsCommand::Issue { ca_dir, out, name, role, hosts }) => {
            let files = certs::issue(&ca_dir, &out, &name, role, &hosts).map_err(|e| e.to_string())?;
            println!("issued: certificate {}, private key {} (mode 0600)", files.cert.display(), files.key.display());
            Ok(())
        }
        Command::Keygen { out } => {
            let address = keyfile::generate(&out, entropy()?).map_err(|e| e.to_string())?;
            println!("{}", address.to_checksum(None));
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // openraft's replication logs an ERROR per failed attempt to a down peer;
    // `peers::PeerHealth` says it once when it goes down and once when it is back.
    box_ops::logging::init(box_chain::peers::LOG_FILTER);
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("box-node: {e}");
            ExitCode::FAILURE
        }
    }
}
