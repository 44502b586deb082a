//! Witnessing in batches: what a client ([`crate::NodeClient`]) or a node
//! tells the other nodes about an entry it took (`Notary.Witness`), so that
//! each starts a deadline for it (box-chain's `liveness`).
//!
//! One task per node sends what was queued for it: the first entry at once,
//! and everything queued while that call was on the wire in the next call,
//! up to [`MAX_WITNESS_BATCH`] entries and [`MAX_WITNESS_BYTES`] a call. A
//! witness is best effort (every node also watches what it proposes itself):
//! [`Witnesses::send`] never waits, and a node that is down or slow loses
//! what overflows its queue ([`QUEUE`] entries or [`QUEUE_BYTES`] bytes),
//! logged at debug level, as a witness that failed is.

use crate::pb;
use crate::pb::notary_client::NotaryClient;
use crate::tls::Channels;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::transport::Channel;

/// Most entries one `Notary.Witness` call carries (`entry` and `more`);
/// a node refuses a call with more.
pub const MAX_WITNESS_BATCH: usize = 256;

/// Most entry bytes one call carries, unless its one entry is larger
/// (gRPC's default limit on a message a server decodes is 4 MiB; one entry
/// is at most box-core's 1 MiB encoding limit).
pub const MAX_WITNESS_BYTES: usize = 3 << 20;

/// Entries queued for one node before more are dropped.
pub const QUEUE: usize = 4096;

/// Entry bytes queued for one node before more are dropped (64 MiB).
pub const QUEUE_BYTES: usize = 64 << 20;

/// Per-node queues of entries to witness, each drained by its own task.
/// Cloning shares the queues.
#[derive(Clone)]
pub struct Witnesses {
    inner: Arc<Inner>,
}

struct Inner {
    channels: Channels,
    timeout: Duration,
    queues: Mutex<HashMap<String, Queue>>,
}

/// One node's queue and the entry bytes waiting in it.
#[derive(Clone)]
struct Queue {
    tx: mpsc::Sender<Vec<u8>>,
    bytes: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Witnesses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witnesses").field("timeout", &self.inner.timeout).finish_non_exhaustive()
    }
}

impl Witnesses {
    /// Queues that dial nodes over `channels`, each call with deadline `timeout`.
    pub fn new(channels: Channels, timeout: Duration) -> Self {
        Self { inner: Arc::new(Inner { channels, timeout, queues: Mutex::new(HashMap::new()) }) }
    }

    /// Queues `entry` (canonical `Entry` bytes) for the node at `addr`,
    /// starting its task on the current tokio runtime if it has none (or its
    /// task ended with the runtime it ran on). Never waits; outside a
    /// runtime, or with the node's queue full, the entry is dropped.
    pub fn send(&self, addr: &str, entry: Vec<u8>) {
        let queue = {
            let mut queues = self.inner.queues.lock().unwrap_or_else(PoisonError::into_inner);
            match queues.get(addr) {
                Some(q) if !q.tx.is_closed() => q.clone(),
                _ => {
                    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                        tracing::debug!(node = %addr, "witness not sent: no async runtime");
                        return;
                    };
                    let channel = match self.inner.channels.get(addr) {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::debug!(node = %addr, "witness not sent: {e}");
                            return;
                        }
                    };
                    let (tx, rx) = mpsc::channel(QUEUE);
                    let queue = Queue { tx, bytes: Arc::new(AtomicUsize::new(0)) };
                    runtime.spawn(drain(channel, addr.to_owned(), rx, queue.bytes.clone(), self.inner.timeout));
                    queues.insert(addr.to_owned(), queue.clone());
                    queue
                }
            }
        };
        let len = entry.len();
        if queue.bytes.fetch_add(len, Ordering::Relaxed) + len > QUEUE_BYTES {
            queue.bytes.fetch_sub(len, Ordering::Relaxed);
            tracing::debug!(node = %addr, "witness not sent: {QUEUE_BYTES} bytes already wait for that node");
        } else if queue.tx.try_send(entry).is_err() {
            queue.bytes.fetch_sub(len, Ordering::Relaxed);
            tracing::debug!(node = %addr, "witness not sent: {QUEUE} entries already wait for that node");
        }
    }
}

/// Sends what `rx` holds to the node at `addr`, as many entries a call as
/// have queued, until every sender is gone; `bytes` counts what waits in `rx`.
async fn drain(
    channel: Channel,
    addr: String,
    mut rx: mpsc::Receiver<Vec<u8>>,
    bytes: Arc<AtomicUsize>,
    timeout: Duration,
) {
    let mut client = NotaryClient::new(channel);
    let mut queued = Vec::with_capacity(MAX_WITNESS_BATCH);
    while rx.recv_many(&mut queued, MAX_WITNESS_BATCH).await > 0 {
        bytes.fetch_sub(queued.iter().map(Vec::len).sum(), Ordering::Relaxed);
        let mut entries = queued.drain(..).peekable();
        while let Some(entry) = entries.next() {
            let (mut more, mut bytes) = (Vec::new(), entry.len());
            while let Some(next) = entries.next_if(|e| bytes + e.len() <= MAX_WITNESS_BYTES) {
                bytes += next.len();
                more.push(next);
            }
            let count = 1 + more.len();
            let mut req = tonic::Request::new(pb::WitnessRequest { entry, more });
            req.set_timeout(timeout);
            match client.witness(req).await {
                Ok(_) => {}
                // The node answered: what it refused is named; the others it took.
                Err(e) if refusal(e.code()) => {
                    tracing::debug!(node = %addr, "a witness call of {count} entries: {}", e.message());
                }
                Err(e) => tracing::debug!(node = %addr, "{count} witnessed entries not delivered: {}", e.message()),
            }
        }
    }
}

/// Whether `code` is a node's refusal of an entry (its answer), not a
/// failure to reach it.
fn refusal(code: tonic::Code) -> bool {
    matches!(code, tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition | tonic::Code::PermissionDenied)
}
