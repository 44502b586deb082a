//! `box-signer`: BOX's signing machine. See the crate README.

use box_core::Address;
use box_ops::shutdown::StopSignals;
use box_ops::unlock::{KeyArgs, KeygenArgs};
use box_signer::config::{Config, EXAMPLE};
use box_signer::console::Reveal;
use box_signer::runtime::{Fault, Options, Signer, open_store};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use zeroize::Zeroizing;

/// BOX's signing machine: holds the wallet key in locked memory only,
/// verifies every notarized transfer again and signs it for the public chain.
/// It opens no port: it dials the chain nodes and the Ethereum node.
#[derive(Parser)]
#[command(name = "box-signer", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the signer: shows the enrolment code on first start, then waits
    /// for the key holders' phrases (through the chain) and executes.
    Run {
        /// The configuration file (see `box-signer example-config`).
        #[arg(long, short)]
        config: PathBuf,
        /// Restore on an empty data directory: `d` from a paper backup (64 hex digits).
        #[arg(long, value_name = "HEX")]
        restore_d: Option<String>,
        /// With --restore-d: the hot-wallet address the restore must reproduce.
        #[arg(long, value_name = "ADDRESS", requires = "restore_d")]
        expect_wallet: Option<String>,
        /// Write the one-time enrolment code and `d` to this file (mode 0600)
        /// instead of the controlling terminal. They never go to standard
        /// output or the log.
        #[arg(long, value_name = "FILE")]
        enrolment_out: Option<PathBuf>,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Creates the signer's identity key file (mode 0600) and prints its address.
    ///
    /// The file is an Ethereum keystore v3 (scrypt) under a passphrase read
    /// from --passphrase-fd, BOX_KEY_PASSPHRASE, or asked twice on the
    /// terminal. With --from, the key of a plaintext key file is encrypted
    /// instead of a new one made. With --dev, the plaintext form is written.
    Keygen(KeygenArgs),
    /// Checks the signer on this machine: whether it runs, and, as it
    /// announced on the chain, sealed or unsealed, its wallet and what it
    /// waits for. Exit code 0 when it runs, 3 when it does not.
    Status {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Prints an annotated example configuration.
    ExampleConfig,
    /// Prints the wallet address and `d` for the key holders' paper backups
    /// (run it on the signer's console while the signer is stopped).
    ShowBackup {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn parse_d(hex_d: &str) -> Result<Zeroizing<[u8; 32]>, String> {
    let bytes = Zeroizing::new(
        hex::decode(hex_d.trim().trim_start_matches("0x"))
            .map_err(|_| "--restore-d must be 64 hex digits".to_owned())?,
    );
    let mut d = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(format!("--restore-d must be 32 bytes (64 hex digits), got {}", bytes.len()));
    }
    d.copy_from_slice(&bytes);
    Ok(d)
}

/// Exit code of `box-signer status` when the signer does not run.
const DOWN: u8 = 3;

async fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::ExampleConfig => {
            print!("{EXAMPLE}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { config } => {
            let config = Config::load(&config).map_err(|e| e.to_string())?;
            let s = box_signer::status::check(&config).await?;
            print!("{}", s.text);
            Ok(if s.up { ExitCode::SUCCESS } else { ExitCode::from(DOWN) })
        }
        Command::ShowBackup { config } => {
            let config = Config::load(&config).map_err(|e| e.to_string())?;
            let store = open_store(&config).map_err(|e| format!("{e} (is the signer still running?)"))?;
            let wallet: Option<Address> = store.get("wallet").map_err(|e| e.to_string())?;
            let d: Option<String> = store.get("d").map_err(|e| e.to_string())?;
            match (wallet, d) {
                (Some(w), Some(d)) => {
                    println!("hot wallet: {w}\nd: 0x{d}");
                    Ok(ExitCode::SUCCESS)
                }
                _ => Err("no wallet yet: the genesis ceremony has not completed".into()),
            }
        }
        Command::Keygen(k) => {
            let address = k.run().map_err(|e| e.to_string())?;
            println!("{}", address.to_checksum(None));
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { config, restore_d, expect_wallet, enrolment_out, key } => {
            let config = Config::load(&config).map_err(|e| e.to_string())?;
            let restore = match restore_d {
                Some(h) => {
                    let expect = expect_wallet
                        .map(|a| box_core::address::parse_address(&a).map_err(|e| format!("--expect-wallet: {e}")))
                        .transpose()?;
                    Some((parse_d(&h)?, expect))
                }
                None => None,
            };
            let mut stop = StopSignals::install().map_err(|e| format!("cannot handle the stop signals: {e}"))?;
            let start = Signer::start(Options {
                config,
                restore,
                fault: Fault::from_env(),
                unlock: key.unlock(),
                reveal: enrolment_out.map_or(Reveal::Terminal, Reveal::File),
            });
            // Start-up only checks and waits (nothing is acted on yet): a
            // stop signal ends it at once.
            let signer = tokio::select! {
                s = start => s.map_err(|e| e.to_string())?,
                _ = stop.recv("box-signer") => return Ok(ExitCode::SUCCESS),
            };
            // Running, a stop signal persists the verified state first.
            let stopped = async {
                stop.recv("box-signer").await;
            };
            signer.run(stopped).await.map(|()| ExitCode::SUCCESS).map_err(|e| e.to_string())
        }
    }
}

fn main() -> ExitCode {
    box_ops::logging::init("info");
    // Before anything is printed: the output file holds the enrolment code.
    for note in box_signer::console::protect_output() {
        tracing::warn!("{note}");
    }
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("box-signer: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("box-signer: {e}");
            ExitCode::FAILURE
        }
    }
}
