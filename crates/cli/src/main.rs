//! `boxctl`: parses the command line, runs it, and turns any refusal into a
//! message on stderr and a non-zero exit code (see `CliError::exit_code`).

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = box_cli::cli::Cli::parse();
    // Diagnostics only with BOXCTL_LOG (e.g. BOXCTL_LOG=debug); they never include secrets.
    let filter = tracing_subscriber::EnvFilter::try_from_env("BOXCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(box_cli::run::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
