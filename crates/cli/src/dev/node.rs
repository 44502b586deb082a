//! `boxctl dev node add|remove`: growing and shrinking the running local
//! deployment's private chain as an operator would (crates/chain/README.md,
//! "Adding and removing a node"), every node account being local here.
//!
//! Adding: a certificate `box:node:<id>` and a node account for the next id,
//! its config (the registered nodes as peers), its process started; every
//! registered node account signs the `NodeChange`, node 1's certificate
//! submits it; the leader adds the node as a learner and promotes it once
//! it has caught up; done when it is a voter at the leader's height and the
//! gateway's verified registry lists it (the signer verifies quorum
//! certificates against the same registry of each height).
//! Removing: every other node account signs, done when raft's voters and the
//! gateway's registry drop it; then its process is stopped (its data stays).

use super::procs::{free_port, stop};
use super::stack::*;
use super::{DevArgs, DevError, at};
use crate::node_change::{self, Via};
use box_api::RegisteredNodeOut;
use box_core::governance::{GovernanceAction, SignedAction};
use box_ops::role::CertRole;
use box_ops::{certs, keyfile};
use box_proto::{Node, NodeClient, TlsMaterial};
use std::time::{Duration, Instant};

/// How long each wait may take (a loaded machine replays slowly).
const WAIT: Duration = Duration::from_secs(180);

fn cli<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> DevError + '_ {
    move |e| DevError::new(format!("{what}: {e}"))
}

async fn running(args: &DevArgs) -> Result<Stack, DevError> {
    let dir = args.absolute_dir()?;
    let mut s = Stack::open(&dir)?
        .ok_or_else(|| DevError::new(format!("no deployment in {} (boxctl dev up makes one)", args.dir.display())))?;
    if !s.state.pids.gateway.is_some_and(|p| s.runs_here(p, "gateway")) {
        return Err(DevError::new("the deployment is not running (boxctl dev up starts it)"));
    }
    s.programs = args.programs.clone();
    Ok(s)
}

async fn registry(s: &Stack) -> Result<Vec<RegisteredNodeOut>, DevError> {
    node_change::registry(&s.session("admin")?).await.map_err(cli("the gateway's node registry"))
}

/// A client of the given nodes with the gateway's client certificate (reads only).
fn reader(s: &Stack, ids: &[u64]) -> Result<NodeClient, DevError> {
    let tls = TlsMaterial::load(
        &s.dir.join("tls/ca.pem"),
        &s.dir.join("tls/gateway-client.pem"),
        &s.dir.join("tls/gateway-client.key"),
    )
    .map_err(DevError::new)?;
    Ok(NodeClient::new(ids.iter().map(|i| Node::at(endpoint(s, *i))).collect(), &tls))
}

fn endpoint(s: &Stack, id: u64) -> String {
    let port = s.state.node_ports.get(id as usize - 1).copied().unwrap_or(0);
    format!("127.0.0.1:{port}")
}

/// Signs `change` with the key files of `signers` and submits it through
/// them with the first one's node certificate; waits until notarized.
async fn sign_and_submit(
    s: &Stack,
    action: GovernanceAction,
    reg: &[RegisteredNodeOut],
    signers: &[u64],
) -> Result<(), DevError> {
    let domain = s.domain();
    let mut signed = SignedAction { action, signatures: vec![] };
    for l in node_change::to_be_signed(&domain, &signed).map_err(cli("the change"))? {
        println!("  {l}");
    }
    for id in signers {
        let key = node_change::load_node_key(
            &s.dir.join(format!("keys/node-{id}.json")),
            &box_ops::unlock::Unlock { dev: true, passphrase_fd: None },
        )
        .map_err(cli("a node key"))?;
        node_change::sign(&domain, reg, &mut signed, &key).map_err(cli("signing"))?;
        let p = node_change::progress(&domain, reg, &signed).map_err(cli("the change"))?;
        println!("  node {id} signed: {}", p.line());
        if p.complete() {
            break;
        }
    }
    let first = signers.first().copied().unwrap_or(1);
    let tls = TlsMaterial::load(
        &s.dir.join("tls/ca.pem"),
        &s.dir.join(format!("tls/node-{first}.pem")),
        &s.dir.join(format!("tls/node-{first}.key")),
    )
    .map_err(DevError::new)?;
    let via = Via { nodes: signers.iter().map(|i| endpoint(s, *i)).collect(), tls, wait: WAIT };
    let id = node_change::submit(&domain, &signed, &via).await.map_err(cli("submitting the change"))?;
    println!("  notarized (subject {id})");
    Ok(())
}

async fn poll<F, Fut>(what: &str, mut f: F) -> Result<(), DevError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !f().await {
        if Instant::now() > deadline {
            return Err(DevError::new(format!("{what} did not happen within {} s", WAIT.as_secs())));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(())
}

/// Waits until the gateway's verified registry is `want` (node ids); prints it.
async fn gateway_follows(s: &Stack, want: &[u64]) -> Result<(), DevError> {
    let session = s.session("admin")?;
    poll("the gateway following the new registry", || async {
        node_change::registry(&session).await.is_ok_and(|r| r.iter().map(|n| n.id).collect::<Vec<_>>() == want)
    })
    .await?;
    let n = want.len();
    println!("  the gateway verified the new registry: nodes {want:?}, a subject needs {} of {n} votes", n / 2 + 1);
    Ok(())
}

/// `boxctl dev node add`.
pub async fn add(args: DevArgs) -> Result<(), DevError> {
    let mut s = running(&args).await?;
    let reg = registry(&s).await?;
    let id = s.state.node_ports.len() as u64 + 1;
    let name = format!("node-{id}");
    let port = free_port()?;
    let endpoint = format!("127.0.0.1:{port}");
    println!(
        "adding node {id} at {endpoint} to the registry of nodes {:?}",
        reg.iter().map(|n| n.id).collect::<Vec<_>>()
    );
    std::fs::create_dir_all(s.dir.join(&name)).map_err(io(format!("cannot create {name}")))?;
    let tls = s.dir.join("tls");
    let hosts = ["127.0.0.1".to_owned(), "localhost".to_owned()];
    certs::issue(&tls, &tls, &name, CertRole::Node(id), &hosts).map_err(io(format!("certificate for {name}")))?;
    let account =
        keyfile::generate(&s.dir.join(format!("keys/{name}.json")), random32()?).map_err(io(format!("key {name}")))?;
    println!("  certificate tls/{name}.pem (box:node:{id}), node account {account} (keys/{name}.json)");
    let peers: Vec<(u64, String)> = reg.iter().map(|n| (n.id, n.endpoint.clone())).collect();
    write(&s.dir.join(format!("{name}/node.toml")), &config(id, &endpoint, &peers, "learner"))?;
    s.state.node_ports.push(port);
    s.state.pids.nodes.resize(id as usize, None);
    let log = s.log(&name);
    let bin = s.programs.box_binary("box-node").map_err(at("starting the new node", &log))?;
    let (cwd, step) = (s.dir.join(&name), format!("starting box-node {id}"));
    let pid = s.started.spawn(&format!("box-node {id}"), &bin, &["run", "--dev", "--config", "node.toml"], &cwd, &log);
    let pid = match pid {
        Ok(p) => p,
        Err(e) => return Err(s.fail(e.during(&step).with_log(&log)).await),
    };
    s.state.pids.nodes[id as usize - 1] = Some(pid);
    s.save()?;
    println!("  box-node {id} started as a learner (pid {pid}, log logs/{name}.log)");

    let change =
        node_change::add(&reg, account, id, &endpoint, node_change::fresh_nonce()).map_err(cli("the change"))?;
    let signers: Vec<u64> = reg.iter().map(|n| n.id).collect();
    println!("every registered node account signs (adding a node needs all {}):", signers.len());
    if let Err(e) = sign_and_submit(&s, GovernanceAction::NodeChange(change), &reg, &signers).await {
        return Err(s.fail(e.during("signing and submitting the node change").with_log(&log)).await);
    }
    // From here the change is on the chain: the node stays, whatever happens.
    s.started.keep();
    let mut all = signers.clone();
    all.push(id);
    let nodes = reader(&s, &all)?;
    println!("  the leader adds node {id} as a learner; it is promoted once it has caught up");
    poll("the new node becoming a caught-up voter", || async {
        let views = nodes.cluster().await;
        let leader_height =
            views.iter().filter_map(|v| v.info.as_ref().ok()).filter(|i| i.leader == i.node_id).map(|i| i.height).max();
        let me = views.iter().filter_map(|v| v.info.as_ref().ok()).find(|i| i.node_id == id);
        match (leader_height, me) {
            (Some(h), Some(me)) => me.voters.contains(&id) && me.height + 2 >= h,
            _ => false,
        }
    })
    .await
    .map_err(|e| e.with_log(&log))?;
    println!("  node {id} is a voter and has caught up");
    gateway_follows(&s, &all).await?;
    // Registered now: it runs as a voter from here on (it also watches for a
    // withholding leader, which a learner does not).
    write(&s.dir.join(format!("{name}/node.toml")), &config(id, &endpoint, &peers, "voter"))?;
    if let Some(p) = s.state.pids.nodes[id as usize - 1].take() {
        stop(p, Duration::from_secs(10)).await;
    }
    let pid =
        s.started.spawn(&format!("box-node {id}"), &bin, &["run", "--dev", "--config", "node.toml"], &cwd, &log)?;
    s.state.pids.nodes[id as usize - 1] = Some(pid);
    s.save()?;
    s.started.keep();
    poll("the node answering again as a voter", || async {
        nodes
            .cluster()
            .await
            .iter()
            .filter_map(|v| v.info.as_ref().ok())
            .any(|i| i.node_id == id && i.voters.contains(&id))
    })
    .await
    .map_err(|e| e.with_log(&log))?;
    println!("  box-node {id} restarted with role = \"voter\" in {name}/node.toml (pid {pid})");
    println!("node {id} added");
    Ok(())
}

/// `boxctl dev node remove ID`.
pub async fn remove(args: DevArgs, id: u64) -> Result<(), DevError> {
    let mut s = running(&args).await?;
    let reg = registry(&s).await?;
    let signers: Vec<u64> = reg.iter().map(|n| n.id).filter(|n| *n != id).collect();
    if reg.iter().any(|n| n.id == id) {
        let change = node_change::remove(&reg, id, node_change::fresh_nonce()).map_err(cli("the change"))?;
        println!(
            "removing node {id} from the registry of nodes {:?}; the other node accounts sign (removing needs {} of {})",
            reg.iter().map(|n| n.id).collect::<Vec<_>>(),
            reg.len() / 2 + 1,
            reg.len()
        );
        sign_and_submit(&s, GovernanceAction::NodeChange(change), &reg, &signers).await?;
    } else if s.state.node_ports.len() >= id as usize && !s.state.removed.contains(&id) {
        // Its removal was signed and submitted by hand (`boxctl node remove|sign|submit`): finish it.
        println!("node {id} is no longer registered (its removal is notarized); finishing it");
    } else {
        return Err(DevError::new(format!("node {id} is not a node of this deployment")));
    }
    let nodes = reader(&s, &signers)?;
    poll("raft dropping the node from its voters", || async {
        nodes
            .cluster()
            .await
            .iter()
            .filter_map(|v| v.info.as_ref().ok())
            .any(|i| i.leader != 0 && i.leader != id && !i.voters.contains(&id))
    })
    .await?;
    println!("  raft's voters no longer include node {id}");
    gateway_follows(&s, &signers).await?;
    let sub = format!("node-{id}");
    if let Some(p) = s.state.pids.nodes.get_mut(id as usize - 1).and_then(Option::take)
        && s.runs_here(p, &sub)
    {
        stop(p, Duration::from_secs(10)).await;
        println!("  box-node {id} stopped (its data stays in {sub}/)");
    }
    if !s.state.removed.contains(&id) {
        s.state.removed.push(id);
    }
    s.save()?;
    println!("node {id} removed");
    Ok(())
}

/// A node's config: `peers` (the registered nodes, voters) and itself with `role`.
fn config(id: u64, endpoint: &str, peers: &[(u64, String)], role: &str) -> String {
    let name = format!("node-{id}");
    let mut text = format!(
        "# box-node {id} of the development deployment (boxctl dev node add).\nid = {id}\nlisten = \"{endpoint}\"\nrole = \"{role}\"\n\
         data_dir = \"data\"\ngenesis = \"../genesis.json\"\naccount_key = \"../keys/{name}.json\"\nseal_interval_ms = 100\n\n\
         [tls]\nca = \"../tls/ca.pem\"\ncert = \"../tls/{name}.pem\"\nkey = \"../tls/{name}.key\"\n\n"
    );
    for (i, a) in peers.iter().map(|(i, a)| (*i, a.as_str())).chain([(id, endpoint)]) {
        let r = if i == id { role } else { "voter" };
        text.push_str(&format!("[[peers]]\nid = {i}\naddr = \"{a}\"\nrole = \"{r}\"\n\n"));
    }
    text
}
