//! `box-gateway`: run BOX's HTTPS access layer.

use box_gateway::config::{EXAMPLE, GatewayConfig};
use box_ops::shutdown::StopSignals;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "box-gateway",
    version,
    about = "BOX access layer: the HTTPS API the apps use; an untrusted relay to the chain"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway from its TOML configuration.
    #[command(long_about = format!("Run the gateway from its TOML configuration.\n\nEvery field, with an example:\n\n{EXAMPLE}"))]
    Run {
        /// Path of the gateway's TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print a commented example configuration.
    ExampleConfig,
    /// Print the OpenAPI 3 document.
    Openapi,
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Run { config } => {
            let cfg = GatewayConfig::load(&config).map_err(|e| e.to_string())?;
            let mut stop = StopSignals::install().map_err(|e| format!("cannot handle the stop signals: {e}"))?;
            let mut gw = tokio::select! {
                gw = box_gateway::Gateway::start(&cfg) => gw.map_err(|e| e.to_string())?,
                _ = stop.recv("box-gateway") => return Ok(()),
            };
            eprintln!("box-gateway listening on https://{}", gw.addr);
            tokio::select! {
                _ = gw.wait() => Err("a background task stopped; see the log".to_owned()),
                _ = stop.recv("box-gateway") => {
                    gw.stop().await;
                    Ok(())
                }
            }
        }
        Command::ExampleConfig => {
            print!("{EXAMPLE}");
            Ok(())
        }
        Command::Openapi => {
            let doc = box_gateway::api::openapi();
            println!("{}", doc.to_pretty_json().map_err(|e| e.to_string())?);
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    box_ops::logging::init("info,sqlx=warn");
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("box-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}
