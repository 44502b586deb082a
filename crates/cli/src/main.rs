//! boxctl
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// boxctl
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The local deployment.
    Dev {
        #[command(subcommand)]
        what: DevCmd,
    },
    /// The demo.
    Demo {
        /// Directory.
        #[arg(long, default_value = "box-dev")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum DevCmd {
    /// Up.
    Up {
        /// Directory.
        #[arg(long, default_value = "box-dev")]
        dir: PathBuf,
    },
    /// Down.
    Down {
        /// Directory.
        #[arg(long, default_value = "box-dev")]
        dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Cmd::Dev { what: DevCmd::Up { dir } } => box_cli::dev::up(box_cli::dev::DevArgs { dir, json: false }).await,
        Cmd::Dev { what: DevCmd::Down { dir } } => box_cli::dev::down(box_cli::dev::DevArgs { dir, json: false }).await,
        Cmd::Demo { dir } => box_cli::dev::demo(box_cli::dev::DevArgs { dir, json: false }).await,
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("boxctl: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
