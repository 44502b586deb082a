//! Starting what is not running, waiting for each piece to be ready, and
//! the key ceremony that brings the signer to unsealed.

use super::procs::wait_for_line;
use super::stack::*;
use super::{DevError, at};
use box_core::Address;
use box_core::ceremony::{Purpose, SignerAnnounce, SignerState, answer};
use box_core::encoding::Canonical;
use box_proto::{Node, NodeClient, TlsMaterial};
use rand_core::{OsRng, UnwrapErr};
use std::path::Path;
use std::time::Duration;

pub(super) fn start_anvil(s: &mut Stack) -> Result<(), DevError> {
    if s.state.pids.anvil.is_some_and(|p| s.runs_here(p, "anvil")) {
        return Ok(());
    }
    let bin = s.programs.anvil()?;
    let port = s.state.anvil_port.to_string();
    let state = s.dir.join("anvil/state.json");
    let state = state.to_string_lossy().into_owned();
    let args =
        ["--host", "127.0.0.1", "--port", &port, "--chain-id", "31337", "--state", &state, "--state-interval", "1"];
    let (cwd, log) = (s.dir.join("anvil"), s.log("anvil"));
    s.state.pids.anvil = Some(s.started.spawn("anvil", &bin, &args, &cwd, &log)?);
    Ok(())
}

/// The file in the signer's directory it shows the enrolment code and `d` in
/// (`--enrolment-out`, mode 0600): dev up reads the code there.
const ENROLMENT_FILE: &str = "enrolment.txt";

/// Starts whatever is not running, each step named for the error.
pub(super) async fn start(s: &mut Stack) -> Result<(), DevError> {
    let log = s.log("anvil");
    start_anvil(s).map_err(at("starting anvil", &log))?;
    s.chain().await.map_err(at("waiting for anvil", &log))?;
    s.state.pids.nodes.resize(s.state.node_ports.len(), None);
    for i in 0..s.state.node_ports.len() {
        if s.state.removed.contains(&(i as u64 + 1)) {
            continue;
        }
        let sub = format!("node-{}", i + 1);
        if !s.state.pids.nodes[i].is_some_and(|p| s.runs_here(p, &sub)) {
            let (cwd, log) = (s.dir.join(&sub), s.log(&sub));
            let step = format!("starting box-node {}", i + 1);
            let bin = s.programs.box_binary("box-node").map_err(at(&step, &log))?;
            let pid = s.started.spawn(
                &format!("box-node {}", i + 1),
                &bin,
                &["run", "--dev", "--config", "node.toml"],
                &cwd,
                &log,
            );
            s.state.pids.nodes[i] = Some(pid.map_err(at(&step, &log))?);
        }
    }
    s.save()?;
    let logs = s.dir.join("logs");
    wait_leader(s).await.map_err(at("waiting for the nodes to elect a leader", &logs))?;
    let log = s.log("gateway");
    if !s.state.pids.gateway.is_some_and(|p| s.runs_here(p, "gateway")) {
        let bin = s.programs.box_binary("box-gateway").map_err(at("starting box-gateway", &log))?;
        let cwd = s.dir.join("gateway");
        let pid = s.started.spawn("box-gateway", &bin, &["run", "--config", "gateway.toml"], &cwd, &log);
        s.state.pids.gateway = Some(pid.map_err(at("starting box-gateway", &log))?);
        s.save()?;
    }
    wait_gateway(s).await.map_err(at("waiting for box-gateway to answer", &log))?;
    let log = s.log("signer");
    if !s.state.pids.signer.is_some_and(|p| s.runs_here(p, "signer")) {
        let bin = s.programs.box_binary("box-signer").map_err(at("starting box-signer", &log))?;
        let cwd = s.dir.join("signer");
        // The log is appended to: an earlier boot's lines stay above this one's.
        s.signer_log_from = std::fs::metadata(&log).map_or(0, |m| usize::try_from(m.len()).unwrap_or(usize::MAX));
        let pid = s.started.spawn(
            "box-signer",
            &bin,
            &["run", "--dev", "--enrolment-out", ENROLMENT_FILE, "--config", "signer.toml"],
            &cwd,
            &log,
        );
        s.state.pids.signer = Some(pid.map_err(at("starting box-signer", &log))?);
        s.save()?;
    }
    Ok(())
}

/// Polls `ready` every 100 ms for up to `tries` times, failing at once when a
/// process this run started has exited.
async fn wait_until<F, Fut>(s: &mut Stack, tries: u32, what: &str, mut ready: F) -> Result<(), DevError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..tries {
        s.started.check()?;
        if ready().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(DevError::new(format!("{what} did not happen within {} s", tries / 10)))
}

async fn wait_leader(s: &mut Stack) -> Result<(), DevError> {
    let tls = TlsMaterial::load(
        &s.dir.join("tls/ca.pem"),
        &s.dir.join("tls/gateway-client.pem"),
        &s.dir.join("tls/gateway-client.key"),
    )
    .map_err(DevError::new)?;
    let nodes = s.state.node_ports.iter().map(|port| Node::at(format!("127.0.0.1:{port}"))).collect();
    let client = NodeClient::new(nodes, &tls);
    wait_until(s, 600, "a leader election", || async {
        client.cluster().await.iter().any(|v| v.info.as_ref().is_ok_and(|i| i.leader != 0))
    })
    .await
}

async fn wait_gateway(s: &mut Stack) -> Result<(), DevError> {
    let admin = s.client("admin")?;
    wait_until(s, 300, "the gateway answering", || async { admin.deployment().await.is_ok() }).await
}

/// The signer's latest announcement, through the gateway, its signature
/// checked against the genesis signer.
async fn announcement(s: &Stack) -> Result<Option<SignerAnnounce>, DevError> {
    match s.client("admin")?.signer_announce(s.genesis.signer).await {
        Ok(a) => Ok(Some(a)),
        Err(e) if e.code() == Some("signer_not_announced") => Ok(None),
        Err(e) if e.code().is_some() => Err(DevError::new(format!("signer status: {e}"))),
        Err(_) => Ok(None), // the gateway is still starting
    }
}

/// Waits for an announcement that passes `ok`, failing at once when a
/// process this run started has exited.
async fn wait_signer(
    s: &mut Stack,
    what: &str,
    ok: impl Fn(&SignerAnnounce) -> bool,
) -> Result<SignerAnnounce, DevError> {
    for _ in 0..1200 {
        s.started.check()?;
        if let Some(a) = announcement(s).await?
            && ok(&a)
        {
            return Ok(a);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(DevError::new(format!("the signer did not reach \"{what}\" within 120 s")))
}

/// Key holder `i` sends `payload` for `purpose` through the gateway.
async fn send(s: &Stack, i: usize, a: &SignerAnnounce, purpose: Purpose, payload: &[u8]) -> Result<(), DevError> {
    let key = s.key(KEY_HOLDERS[i])?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let msg = answer(&s.domain(), &key, a, purpose, i as u8, KEY_HOLDERS[i], payload, now, &mut UnwrapErr(OsRng))
        .map_err(io("sealing a ceremony message"))?;
    let entry = box_core::notary::Entry::Ceremony(msg).encode();
    s.client_with(key)?.relay_ceremony(&entry).await.map_err(io("relaying a ceremony message"))?;
    Ok(())
}

/// Brings the signer to Unsealed: the genesis ceremony the first time, an unseal after.
pub(super) async fn ceremony(s: &mut Stack, quiet: bool) -> Result<Address, DevError> {
    let log = s.log("signer");
    let from = s.signer_log_from;
    // The signer announces each boot; wait for this boot's announcement.
    let a = wait_signer(s, "started", |a| {
        let state = SignerState::from_u8(a.state);
        state.is_some() && alive_boot(&log, from, a)
    })
    .await?;
    match SignerState::from_u8(a.state) {
        Some(SignerState::AwaitingEnrolment) => {
            // Shown only in the file dev up asked for (never the log); the latest boot's is last.
            let shown = s.dir.join("signer").join(ENROLMENT_FILE);
            let line = wait_for_line(&shown, 0, "one-time enrolment code:", Duration::from_secs(30)).await?;
            let text = std::fs::read_to_string(&shown).unwrap_or_default();
            let code = text
                .lines()
                .rev()
                .find_map(|l| l.split("one-time enrolment code: ").nth(1))
                .unwrap_or_else(|| line.split("code: ").nth(1).unwrap_or(""))
                .trim()
                .to_owned();
            if !quiet {
                println!("  key holders enrol their devices with the signer's one-time code");
            }
            for i in 0..3 {
                send(s, i, &a, Purpose::Enrol, code.as_bytes()).await?;
            }
            let a = wait_signer(s, "every device enrolled", |x| x.state == SignerState::AwaitingGenesis as u8).await?;
            if !quiet {
                println!(
                    "  key holders send their phrases (HPKE-sealed to the signer, through the gateway and the chain)"
                );
            }
            for i in 0..3 {
                send(s, i, &a, Purpose::Phrase, s.phrase(i)?.as_bytes()).await?;
            }
        }
        Some(SignerState::Sealed | SignerState::Locked | SignerState::AwaitingGenesis) => {
            if !quiet {
                println!("  key holders unseal the signer with their phrases");
            }
            for i in 0..3 {
                send(s, i, &a, Purpose::Phrase, s.phrase(i)?.as_bytes()).await?;
            }
        }
        _ => {}
    }
    let boot = a.boot;
    let a = wait_signer(s, "unsealed", |x| x.boot == boot && x.state == SignerState::Unsealed as u8).await?;
    Ok(a.wallet)
}

/// Whether `a` is the running signer's current boot: its console shows the
/// boot id, in the log after `from` (an earlier boot's id above it is not
/// this one's, and its announcement may still be the chain's latest).
fn alive_boot(log: &Path, from: usize, a: &SignerAnnounce) -> bool {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.get(from..)
        .unwrap_or_default()
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("box-signer: boot "))
        .is_some_and(|b| b.trim() == a.boot.to_string())
}
