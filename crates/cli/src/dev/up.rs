//! `boxctl dev up` and `boxctl dev down`.

use super::create::create;
use super::procs::stop;
use super::stack::*;
use super::start::{ceremony, start};
use super::{DevArgs, DevError, at};
use box_core::U256;
use std::time::Duration;

/// `boxctl dev up`: creates the deployment in `args.dir` (or resumes it),
/// starts whatever is not running, brings the signer to unsealed (the key
/// ceremony the first time) and funds the hot wallet.
///
/// If any step fails, or Ctrl-C arrives, every process this run started is
/// stopped again (processes that were already running stay) and the error
/// names the step and the log to read.
pub async fn up(args: DevArgs) -> Result<(), DevError> {
    let s = bring_up(&args).await?;
    summary(&s, &args);
    Ok(())
}

/// [`up`] without the summary, for the demo: the running deployment, with
/// the processes this run started (still to be stopped if a later step fails).
pub async fn bring_up(args: &DevArgs) -> Result<Stack, DevError> {
    std::fs::create_dir_all(&args.dir).map_err(io(format!("cannot create {}", args.dir.display())))?;
    let dir = args.absolute_dir()?;
    let quiet = args.json;
    let mut s = match Stack::open(&dir)? {
        Some(mut s) => {
            if !quiet {
                println!("resuming the deployment in {}", args.dir.display());
            }
            s.programs = args.programs.clone();
            s
        }
        None => {
            if !quiet {
                println!("creating a local BOX deployment in {}", args.dir.display());
            }
            interruptible(create(&dir, &args.programs)).await?
        }
    };
    match interruptible(run_up(&mut s, quiet)).await {
        Ok(()) => Ok(s),
        Err(e) => Err(s.fail(e).await),
    }
}

/// Runs `f` unless Ctrl-C comes first (then: an error saying so).
pub async fn interruptible<T>(f: impl std::future::Future<Output = Result<T, DevError>>) -> Result<T, DevError> {
    tokio::select! {
        r = f => r,
        _ = tokio::signal::ctrl_c() => Err(DevError::new("interrupted (Ctrl-C)")),
    }
}

async fn run_up(s: &mut Stack, quiet: bool) -> Result<(), DevError> {
    start(s).await?;
    let log = s.log("signer");
    let wallet = ceremony(s, quiet).await.map_err(at("bringing the signer to unsealed (the key ceremony)", &log))?;
    s.state.wallet = Some(wallet);
    s.save()?;
    if !s.state.funded {
        let log = s.log("anvil");
        let funded = async {
            let chain = s.chain().await?;
            let unit = U256::from(10u64).pow(U256::from(18u64));
            chain.fund(wallet, U256::from(100u64) * unit).await?;
            chain.send_token(s.state.token, wallet, U256::from(10_000u64) * unit).await
        };
        funded.await.map_err(at("funding the hot wallet", &log))?;
        s.state.funded = true;
        s.save()?;
    }
    Ok(())
}

impl Stack {
    /// A step failed: stops what this run started and returns `e` saying so.
    pub async fn fail(&mut self, e: DevError) -> DevError {
        let stopped = self.stop_started().await;
        if stopped.is_empty() {
            return e;
        }
        let pids: Vec<String> = stopped.iter().map(u32::to_string).collect();
        eprintln!("stopped the {} process(es) this run started (pids {})", stopped.len(), pids.join(", "));
        e
    }
}

/// Prints where everything runs (text, or JSON with `--json`).
pub fn summary(s: &Stack, args: &DevArgs) {
    let wallet = s.state.wallet.map(|w| w.to_string()).unwrap_or_default();
    let profile = s.dir.join(PROFILE);
    if args.json {
        let v = serde_json::json!({
            "dir": s.dir, "profile": profile, "gateway": s.gateway_url(), "console": format!("{}/console/", s.gateway_url()), "anvil": s.anvil_url(), "wallet": wallet,
            "token": s.state.token.to_string(), "nodes": s.state.node_ports.iter().map(|p| format!("127.0.0.1:{p}")).collect::<Vec<_>>(),
            "pids": s.state.pids,
        });
        println!("{v}");
        return;
    }
    println!("BOX is up:");
    println!("  public chain   anvil at {} (chain id {CHAIN_ID})", s.anvil_url());
    println!(
        "  private chain  box-node ×{} at {}",
        s.state.node_ports.len() - s.state.removed.len(),
        s.state
            .node_ports
            .iter()
            .enumerate()
            .filter(|(i, _)| !s.state.removed.contains(&(*i as u64 + 1)))
            .map(|(_, p)| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  gateway        {}", s.gateway_url());
    println!(
        "  web console    {}/console/ (trust the CA tls/ca.pem; sign in with a keystore of identities/)",
        s.gateway_url()
    );
    println!("  signer         unsealed; hot wallet {wallet}");
    println!("  token          BOXT at {}", s.state.token);
    println!("  files          {} (configs, keys, data; logs in logs/)", s.dir.display());
    println!("  boxctl         export BOX_PROFILE={}", profile.display());
    println!("                 {} --as keyholder-1|admin|manager-1|finance-1 status", boxctl_command());
    println!("stop it with: {} dev down --dir {}", boxctl_command(), s.dir.display());
}

/// How to run this boxctl again: its own path (absolute, so the line works
/// from any directory), or `boxctl` when that is what the PATH finds.
pub fn boxctl_command() -> String {
    let Ok(exe) = std::env::current_exe() else { return "boxctl".into() };
    let on_path = std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p)
            .any(|d| std::fs::canonicalize(d.join("boxctl")).ok() == std::fs::canonicalize(&exe).ok())
    });
    if on_path { "boxctl".into() } else { exe.display().to_string() }
}

/// `boxctl dev down`: stops every process, keeps the data.
pub async fn down(args: DevArgs) -> Result<(), DevError> {
    let Some(mut s) = Stack::open(&args.absolute_dir()?)? else {
        return Err(DevError::new(format!("no deployment in {} (nothing to stop)", args.dir.display())));
    };
    let grace = Duration::from_secs(10);
    // The signer first (it holds the key), the public chain last (it saves its state on exit).
    // Only pids that still run in this deployment's directories: after a
    // reboot a recorded pid may belong to anything else.
    if let Some(p) = s.state.pids.signer.take().filter(|p| s.runs_here(*p, "signer")) {
        stop(p, grace).await;
    }
    if let Some(p) = s.state.pids.gateway.take().filter(|p| s.runs_here(*p, "gateway")) {
        stop(p, grace).await;
    }
    for (i, p) in std::mem::take(&mut s.state.pids.nodes).into_iter().enumerate() {
        if let Some(p) = p.filter(|p| s.runs_here(*p, &format!("node-{}", i + 1))) {
            stop(p, grace).await;
        }
    }
    if let Some(p) = s.state.pids.anvil.take().filter(|p| s.runs_here(*p, "anvil")) {
        stop(p, grace).await;
    }
    s.save()?;
    if !args.json {
        println!("stopped; the data is kept in {} (boxctl dev up resumes it)", args.dir.display());
    }
    Ok(())
}
