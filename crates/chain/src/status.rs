//! `box-node status`: a local check of a running node, for an operator on
//! its machine (or a monitoring probe). It reads the node's configuration,
//! asks the node and its peers over the usual mutual-TLS API with the node's
//! own certificate, and says in words what it sees.

use crate::config::NodeConfig;
use box_proto::pb::ClusterInfo;
use box_proto::{Node, NodeClient, TlsMaterial};
use std::fmt::Write as _;

/// What `box-node status` found: the text to print, and whether this node answered.
pub struct Status {
    /// Lines for a person: role, leader, height, the peers and whether they answer.
    pub text: String,
    /// Whether this node answered (the exit code is 0 only then).
    pub up: bool,
}

fn ids(list: &[u64]) -> String {
    if list.is_empty() {
        return "none".into();
    }
    list.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

fn describe_self(cfg: &NodeConfig, info: &ClusterInfo) -> String {
    let role = if info.voters.contains(&cfg.id) { "voter" } else { "learner" };
    let leader = match info.leader {
        0 => "no leader known (an election may be under way)".to_owned(),
        l if l == cfg.id => "this node is the leader".to_owned(),
        l => format!("the leader is node {l}"),
    };
    format!(
        "node {} at {}: running, {role}; {leader}\nheight {} (applied {}), {} notary entries not yet sealed\n\
         voters: {}; learners: {}\n",
        cfg.id,
        cfg.advertise,
        info.height,
        info.last_applied,
        info.unsealed,
        ids(&info.voters),
        ids(&info.learners)
    )
}

/// Asks the node `cfg` describes, and every peer it lists, for their view.
///
/// # Errors
/// When the node's certificate or key cannot be read.
pub async fn check(cfg: &NodeConfig) -> Result<Status, String> {
    let tls = TlsMaterial::load(&cfg.tls.ca, &cfg.tls.cert, &cfg.tls.key)?;
    let nodes: Vec<Node> = cfg.peers.iter().map(|p| Node { id: p.id, addr: p.addr.clone() }).collect();
    let views = NodeClient::new(nodes, &tls).cluster().await;
    let mut text = String::new();
    let mut up = false;
    if let Some(own) = views.iter().find(|v| v.node.id == cfg.id) {
        match &own.info {
            Ok(info) => {
                up = true;
                text.push_str(&describe_self(cfg, info));
            }
            Err(why) => {
                let _ = writeln!(text, "node {} at {}: not answering ({why})", cfg.id, cfg.advertise);
            }
        }
    }
    text.push_str("peers:\n");
    for v in views.iter().filter(|v| v.node.id != cfg.id) {
        let _ = match &v.info {
            Ok(info) => writeln!(text, "  node {} at {}: answering, height {}", v.node.id, v.node.addr, info.height),
            Err(why) => writeln!(text, "  node {} at {}: not answering ({why})", v.node.id, v.node.addr),
        };
    }
    Ok(Status { text, up })
}
