//! `box-gateway`: run BOX's HTTPS access layer.

use box_gateway::config::{EXAMPLE, GatewayConfig};
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
            let mut gw = box_gateway::Gateway::start(&cfg).await.map_err(|e| e.to_string())?;
            eprintln!("box-gateway listening on https://{}", gw.addr);
            tokio::select! {
                _ = gw.wait() => Err("a background task stopped; see the log".to_owned()),
                _ = tokio::signal::ctrl_c() => {
                    tracing::info!("shutting down");
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
