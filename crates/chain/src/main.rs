//! `box-node`: run a BOX private-chain node, and set up its certificates and
//! node account key.

use box_chain::config::{EXAMPLE, NodeConfig};
use box_chain::node;
use box_ops::certs;
use box_ops::role::CertRole;
use box_ops::shutdown::StopSignals;
use box_ops::unlock::{KeyArgs, KeygenArgs};
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
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Check the running node on this machine: role, leader, height and
    /// peers, asked over its API with its own certificate. Exit code 0 when
    /// it answers, 3 when it does not.
    Status {
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
    ///
    /// The file is an Ethereum keystore v3 (scrypt) under a passphrase read
    /// from --passphrase-fd, BOX_KEY_PASSPHRASE, or asked twice on the
    /// terminal. With --from, the key of a plaintext key file is encrypted
    /// instead of a new one made. With --dev, the plaintext form is written.
    Keygen(KeygenArgs),
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

async fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Run { config, key } => {
            let mut cfg = NodeConfig::load(&config).map_err(|e| e.to_string())?;
            cfg.unlock = key.unlock();
            for w in cfg.warnings() {
                tracing::warn!("{w}");
            }
            let fault = box_chain::fault::Fault::from_env();
            let mut stop = StopSignals::install().map_err(|e| format!("cannot handle the stop signals: {e}"))?;
            let n = tokio::select! {
                n = node::start_with_fault(&cfg, fault) => n.map_err(|e| e.to_string())?,
                _ = stop.recv("box-node") => return Ok(ExitCode::SUCCESS),
            };
            tracing::info!(id = cfg.id, listen = %cfg.listen, "box-node serving");
            let raft = n.raft.clone();
            tokio::select! {
                r = n.wait() => r.map_err(|e| e.to_string())?,
                _ = stop.recv("box-node") => {
                    let _ = raft.shutdown().await;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { config } => {
            let cfg = NodeConfig::load(&config).map_err(|e| e.to_string())?;
            let s = box_chain::status::check(&cfg).await?;
            print!("{}", s.text);
            Ok(if s.up { ExitCode::SUCCESS } else { ExitCode::from(DOWN) })
        }
        Command::ExampleConfig => {
            print!("{EXAMPLE}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Certs(CertsCommand::Init { dir, name }) => {
            let files = certs::init_ca(&dir, &name).map_err(|e| e.to_string())?;
            println!(
                "created the CA: certificate {} (give it to every node and service), private key {} (mode 0600; \
                 keep it offline, it issues every certificate)",
                files.cert.display(),
                files.key.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Certs(CertsCommand::Issue { ca_dir, out, name, role, hosts }) => {
            let files = certs::issue(&ca_dir, &out, &name, role, &hosts).map_err(|e| e.to_string())?;
            println!("issued: certificate {}, private key {} (mode 0600)", files.cert.display(), files.key.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen(k) => {
            let address = k.run().map_err(|e| e.to_string())?;
            println!("{}", address.to_checksum(None));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Exit code of `box-node status` when the node does not answer.
const DOWN: u8 = 3;

#[tokio::main]
async fn main() -> ExitCode {
    // openraft's replication logs an ERROR per failed attempt to a down peer;
    // `peers::PeerHealth` says it once when it goes down and once when it is back.
    box_ops::logging::init(box_chain::peers::LOG_FILTER);
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("box-node: {e}");
            ExitCode::FAILURE
        }
    }
}
