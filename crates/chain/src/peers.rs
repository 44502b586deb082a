//! How a node treats a peer it cannot reach: raft retries with an
//! exponential backoff instead of every 500 ms, and the log says once that
//! the peer went down and once that it came back, instead of an error line
//! per attempt. "Down" is any raft message that did not get an answer: no
//! connection, a refusal (a peer that suspects this node, see
//! [`crate::liveness`]), a transport error or no answer in time.

use crate::types::NodeId;
use openraft::network::Backoff;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// box-node's default log filter (`RUST_LOG` replaces it): `info`, openraft's
/// warnings, and not openraft's replication lines (nor its replication
/// handler's warnings), which repeat on every attempt to reach a down peer:
/// [`PeerHealth`] reports those once instead. Storage failures still reach
/// the log through raft's core, which stops on them.
pub const LOG_FILTER: &str =
    "info,openraft=warn,openraft::replication=off,openraft::engine::handler::replication_handler=error";

/// The first wait before retrying an unreachable peer.
pub const FIRST_RETRY: Duration = Duration::from_millis(500);
/// The longest wait between two attempts of a node's other rounds with its
/// peers (a snapshot tip's attestations, fetching blocks below a snapshot).
pub const MAX_RETRY: Duration = Duration::from_secs(8);

/// The longest wait between two raft messages to an unreachable peer: a
/// node that comes back hears from the leader within this long (see
/// [`ELECTION_HOLD`]).
pub const RAFT_MAX_RETRY: Duration = Duration::from_secs(1);

/// How long a restarted node starts no election while a peer names a
/// leader, beyond its election timeout: [`RAFT_MAX_RETRY`], the longest
/// the leader waits before its next message reaches it. An election the
/// node started before that message would come to nothing (the voters
/// refuse it while the leader's lease holds) but raise the node's term, and
/// the leader, answered with that higher term, would step down: one
/// election, a pause in notarizing, every time a follower came back.
pub const ELECTION_HOLD: Duration = RAFT_MAX_RETRY;

/// The retry intervals for an unreachable raft peer: 0.5 s, then
/// [`RAFT_MAX_RETRY`]. openraft drops it at the first successful message.
/// (It was 0.5 s doubling to 8 s: a follower back after a long absence
/// timed out waiting for the leader and started an election.)
pub fn backoff() -> Backoff {
    Backoff::new(std::iter::successors(Some(FIRST_RETRY), |d| Some((*d * 2).min(RAFT_MAX_RETRY))))
}

/// Which peers are down, shared by every raft connection of one node.
///
/// Guarantees: one `warn` line when a peer becomes unreachable, one `info`
/// line when it answers again, nothing in between. It does not decide
/// anything for raft; it only reports.
#[derive(Clone, Default)]
pub struct PeerHealth {
    down: Arc<Mutex<HashMap<NodeId, ()>>>,
}

impl PeerHealth {
    /// Records that `peer` at `addr` answered.
    pub fn reached(&self, peer: NodeId, addr: &str) {
        let was_down = self.down.lock().unwrap_or_else(PoisonError::into_inner).remove(&peer).is_some();
        if was_down {
            tracing::info!("node {peer} at {addr} is reachable again");
        }
    }

    /// Records that `peer` at `addr` could not be reached, and why.
    pub fn unreachable(&self, peer: NodeId, addr: &str, why: &str) {
        let newly = self.down.lock().unwrap_or_else(PoisonError::into_inner).insert(peer, ()).is_none();
        if newly {
            tracing::warn!(
                "node {peer} at {addr} is unreachable ({why}); retrying with a backoff up to {} s, \
                 and logging again when it answers",
                RAFT_MAX_RETRY.as_secs()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_the_raft_cap() {
        let waits: Vec<Duration> = backoff().take(7).collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [500, 1000, 1000, 1000, 1000, 1000, 1000]);
    }
}
