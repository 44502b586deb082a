//! Deposing a leader that withholds entries (DESIGN §2: a minority, even the
//! raft leader, can stall liveness only until it is replaced).
//!
//! openraft followers never time out while the leader heartbeats, and they
//! refuse to vote for anyone while its lease is fresh; a leader is never asked
//! to step down. So a leader that heartbeats but drops proposals would stall
//! notarization for good. Here:
//!
//! 1. Every entry a client gives any node reaches every node: the node that
//!    receives a `Submit` or `Propose` tells its peers (`Notary.Witness`).
//! 2. Each voter starts a deadline ([`Progress`]) for every entry it has
//!    verified (it decodes and its effect is not yet in the local state):
//!    what it proposes itself (what clients gave it, its companion's votes)
//!    and what peers witnessed to it. The state machine clears a deadline
//!    when it applies that entry. A witnessed entry still out after half a
//!    deadline is proposed by this node itself, with a new deadline. Entries
//!    applied but left unsealed, or a sealed header left unsigned, count too.
//! 3. When a deadline of an entry this node proposed expires, the node
//!    suspects the current leader ([`Suspects`]): it refuses that node's raft
//!    messages (AppendEntries, InstallSnapshot, vote requests) for a while,
//!    so its own lease lapses, and relays it nothing more. Once a majority
//!    suspects it, they elect another node, and the late entries are
//!    proposed again through the new leader. Witnessed entries alone never
//!    get a leader suspected: whoever can call `Witness` could otherwise
//!    depose an honest leader with junk nobody proposes.
//!
//! A node that is behind does not blame the leader for its own lag: while
//! it has more than [`CATCH_UP_GAP`] entries still to apply (its own log, or
//! what the leader last said is committed) and it keeps applying, the
//! deadlines wait ([`CatchUp`]). A node restarted after others moved on, or
//! one slower than its peers, would otherwise suspect an honest leader for
//! entries that sit in the part of the log it has not applied yet, refuse
//! its messages, fall further behind, and suspect it again. The wait is
//! capped ([`CATCH_UP_DEADLINES`] deadlines), so a leader that announces a
//! commit it never sends is suspected all the same, later.
//!
//! Suspicion is sticky and backs off: three deadlines at first, doubling on
//! every repeat up to ten minutes; a repeat is forgiven for every four base
//! periods without one. A node proven to have equivocated (see
//! [`crate::crosscheck`]) stays suspected while it is a registered node.
//!
//! Safety does not change: raft's safety never depends on delivery, and a
//! refused message looks like a slow network. A node that wrongly suspects
//! an honest leader only stops following it for a while, like a partitioned
//! node; a majority that does so costs one election. This module does not
//! make raft Byzantine-tolerant: a leader can still fork histories (that is
//! detected, not prevented: [`crate::crosscheck`]).

use crate::fault::Faults;
use crate::proposer::Proposer;
use crate::state_machine::{ChainState, Shared};
use crate::types::{NodeId, TypeConfig};
use box_core::B256;
use box_core::ceremony::Ceremony;
use box_core::encoding::Canonical;
use box_core::ids::ContentHash;
use box_core::notary::{Entry, SubjectStatus};
use box_core::typed::{NodeVote, Signed};
use box_proto::{Channels, Witnesses};
use openraft::Raft;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Most entries watched at once; beyond it new entries are not watched (a
/// flood cannot make the map grow without bound).
const MAX_WATCHED: usize = 10_000;
/// Longest a node stays suspected for withholding.
const MAX_SUSPICION: Duration = Duration::from_secs(600);
/// How long a peer may take to take a witnessed entry.
const WITNESS_TIMEOUT: Duration = Duration::from_secs(2);
/// Entries proposed again at once after a deadline expired.
const REPROPOSE_AT_ONCE: usize = 8;
/// Most witnessed entries a node proposes itself per check (a quarter
/// second): what a flood of witnessed junk can add to the log.
const WITNESSED_AT_ONCE: usize = 64;
/// Entries a node may have still to apply and count as keeping up: a
/// pipeline's worth. Behind by more (and applying), it is catching up.
pub const CATCH_UP_GAP: u64 = 64;
/// Longest a node catching up holds its deadlines, in deadlines.
pub const CATCH_UP_DEADLINES: u32 = 6;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a panic elsewhere; the map itself stays usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How an entry came to be watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Another node told this one about it (`Notary.Witness`). When its
    /// deadline passes this node proposes it itself and waits again: a
    /// leader is suspected only for leaving out what this node proposed, so
    /// a stranger's witnessed junk cannot get an honest leader deposed.
    Witnessed,
    /// This node proposed it (its companion's vote, what a client gave it,
    /// a witnessed entry it proposed in turn).
    Proposed,
}

#[derive(Debug)]
struct Watched {
    entry: Vec<u8>,
    due: Instant,
    origin: Origin,
}

/// How many applied entries [`Progress`] remembers, so that a witness
/// arriving after its entry was applied starts no deadline.
const RECENTLY_APPLIED: usize = 4096;

/// The content hashes of the last [`RECENTLY_APPLIED`] applied entries.
#[derive(Debug, Default)]
struct Recent {
    order: VecDeque<B256>,
    set: HashSet<B256>,
}

/// Entries this node wants in the log, each with its deadline. Cleared by
/// the state machine as it applies them. An entry applied recently is not
/// watched again: a witness can arrive after the entry it names was applied
/// (the client's node tells its peers while the log already carries it),
/// and an entry the state cannot show as done would otherwise be proposed
/// again. (A ceremony message was, and applied twice; the notary now also
/// records each one for its signer boot, so the state shows it done and a
/// replay is refused: the two guards are independent.)
///
/// Lock order: the chain state ([`crate::state_machine::Shared::read`])
/// before this one's locks. The state machine calls [`Progress::applied`]
/// while it holds the state's write lock, so whoever reads the state for
/// [`Progress::expired`]'s `done` takes that read lock first. (The other
/// order hung a node: `expired` held `watched` and waited to read the
/// state while an entry being applied held the state and waited for
/// `watched`, each on one of the two runtime threads.)
#[derive(Debug, Default)]
pub struct Progress {
    watched: Mutex<HashMap<B256, Watched>>,
    applied: Mutex<Recent>,
}

/// What [`Progress::expired`] found.
#[derive(Debug, Default, PartialEq, Eq)]
struct Expired {
    /// Witnessed entries to propose now (now watched as proposed).
    propose: Vec<Vec<u8>>,
    /// Entries this node proposed that the leader left out past the deadline.
    late: Vec<Vec<u8>>,
}

impl Progress {
    /// Starts a deadline `due` for `entry` (canonical `Entry` bytes) unless
    /// it is watched already (the first deadline stands; a witnessed entry
    /// this node now proposes counts as proposed). Returns whether it is
    /// watched.
    pub fn watch(&self, entry: &[u8], due: Instant, origin: Origin) -> bool {
        let key = ContentHash::of(entry).0;
        if lock(&self.applied).set.contains(&key) {
            return false; // in the log already: nothing to wait for
        }
        let mut w = lock(&self.watched);
        if let Some(known) = w.get_mut(&key) {
            if origin == Origin::Proposed {
                known.origin = Origin::Proposed;
            }
            return true;
        }
        if w.len() >= MAX_WATCHED {
            return false;
        }
        w.insert(key, Watched { entry: entry.to_vec(), due, origin });
        true
    }

    /// Whether `entry` is watched (`Some(true)`) or was applied lately
    /// (`Some(false)`); `None` if neither.
    pub fn known(&self, entry: &[u8]) -> Option<bool> {
        let key = ContentHash::of(entry).0;
        if lock(&self.applied).set.contains(&key) {
            return Some(false);
        }
        lock(&self.watched).contains_key(&key).then_some(true)
    }

    /// The state machine applied `entry`: its deadline is met, and a later
    /// witness of it starts none.
    pub fn applied(&self, entry: &[u8]) {
        let key = ContentHash::of(entry).0;
        {
            let mut r = lock(&self.applied);
            if r.set.insert(key) {
                r.order.push_back(key);
                if r.order.len() > RECENTLY_APPLIED
                    && let Some(old) = r.order.pop_front()
                {
                    r.set.remove(&old);
                }
            }
        }
        let mut w = lock(&self.watched);
        if !w.is_empty() {
            w.remove(&key);
        }
    }

    /// How many entries are watched.
    pub fn len(&self) -> usize {
        lock(&self.watched).len()
    }

    /// Whether nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops entries whose effect `done` says is in the state already (a
    /// snapshot install applies entries without naming them); of those past
    /// their deadline at `now`, turns up to `at_most` witnessed ones into
    /// proposed ones due at `next`, and returns them with the late proposed ones.
    /// `done` runs under `watched`: it must not take the state's lock
    /// (pass it a state read before the call; the lock order above).
    fn expired(&self, now: Instant, next: Instant, at_most: usize, done: impl Fn(&[u8]) -> bool) -> Expired {
        let mut w = lock(&self.watched);
        let due: Vec<B256> = w.iter().filter(|(_, x)| x.due <= now).map(|(k, _)| *k).collect();
        let mut out = Expired::default();
        for k in due {
            let Some(x) = w.get_mut(&k) else { continue };
            if done(&x.entry) {
                w.remove(&k);
            } else if x.origin == Origin::Proposed {
                out.late.push(x.entry.clone());
            } else if out.propose.len() < at_most {
                x.origin = Origin::Proposed;
                x.due = next;
                out.propose.push(x.entry.clone());
            }
        }
        out
    }

    /// Gives every watched entry a fresh deadline `due` (a new leader gets a whole deadline).
    fn rearm(&self, due: Instant) {
        for x in lock(&self.watched).values_mut() {
            x.due = due;
        }
    }
}

#[derive(Debug)]
struct Suspicion {
    strikes: u32,
    until: Instant,
}

/// Nodes whose raft messages this node refuses for now, and the last
/// commit index a leader announced to it (how far behind this node is).
#[derive(Debug)]
pub struct Suspects {
    base: Duration,
    inner: Mutex<HashMap<NodeId, Suspicion>>,
    /// The greatest commit index an accepted AppendEntries announced, plus
    /// one (0: none yet).
    leader_commit: AtomicU64,
}

impl Suspects {
    /// A first suspicion lasts `base`.
    pub fn new(base: Duration) -> Self {
        Self { base, inner: Mutex::default(), leader_commit: AtomicU64::new(0) }
    }

    /// An AppendEntries this node took said the log is committed up to
    /// `index` (the raft service calls this; commit indexes only grow).
    pub fn heard_commit(&self, index: Option<u64>) {
        if let Some(i) = index {
            self.leader_commit.fetch_max(i.saturating_add(1), Ordering::Relaxed);
        }
    }

    /// The greatest commit index a leader announced to this node.
    pub fn leader_commit(&self) -> Option<u64> {
        self.leader_commit.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Suspects `node` once more; returns for how long from now.
    pub fn suspect(&self, node: NodeId) -> Duration {
        let now = Instant::now();
        let mut m = lock(&self.inner);
        let s = m.entry(node).or_insert(Suspicion { strikes: 0, until: now });
        if now > s.until {
            let forgive = self.base.saturating_mul(4).as_millis().max(1);
            let clean = u32::try_from(now.duration_since(s.until).as_millis() / forgive).unwrap_or(u32::MAX);
            s.strikes = s.strikes.saturating_sub(clean);
        }
        s.strikes = (s.strikes + 1).min(16);
        let d = self.base.saturating_mul(1 << (s.strikes - 1).min(10)).min(MAX_SUSPICION);
        s.until = s.until.max(now + d);
        s.until.duration_since(now)
    }

    /// Keeps `node` suspected for at least `base` from now, without a strike
    /// (a proven equivocator, for as long as the proof stands). Returns
    /// whether it was not suspected before.
    pub fn hold(&self, node: NodeId) -> bool {
        let now = Instant::now();
        let mut m = lock(&self.inner);
        let s = m.entry(node).or_insert(Suspicion { strikes: 0, until: now });
        let fresh = s.until <= now;
        s.until = s.until.max(now + self.base);
        fresh
    }

    /// `Err(remaining)` while `node` is suspected.
    pub fn admit(&self, node: NodeId) -> Result<(), Duration> {
        let now = Instant::now();
        match lock(&self.inner).get(&node) {
            Some(s) if s.until > now => Err(s.until - now),
            _ => Ok(()),
        }
    }
}

/// Whether vote `v`'s effect is in `s`: its subject is decided, or its voter's vote is recorded.
fn vote_visible(s: &ChainState, v: &Signed<NodeVote>) -> bool {
    let notary = &s.notary;
    let voter = v.signer(&notary.domain()).ok();
    notary.subject(&box_core::ids::SubjectId(v.value.subject)).is_some_and(|r| {
        r.status != SubjectStatus::Pending
            || voter.is_some_and(|a| r.accepts.contains_key(&a) || r.refusals.contains_key(&a))
    })
}

/// Whether `entry`'s effect is in `s` already, so nothing waits for it.
fn visible(s: &ChainState, entry: &Entry) -> bool {
    let notary = &s.notary;
    let domain = notary.domain();
    match entry {
        Entry::Submit(subject) => subject.id(&domain).is_ok_and(|id| notary.subject(&id).is_some()),
        Entry::Vote(v) => vote_visible(s, v),
        // A batch is visible once every vote in it is: a leader that leaves out
        // the batch leaves out each of its votes.
        Entry::Votes(b) => b.votes().iter().all(|v| vote_visible(s, v)),
        Entry::Ceremony(Ceremony::Announce(a)) => {
            notary.signer_status().is_some_and(|now| now.value.sequence >= a.value.sequence)
        }
        Entry::Ceremony(c @ Ceremony::Message(_)) => notary.ceremony_recorded(c),
        Entry::Evidence(e) => e.verify(&domain).is_ok_and(|n| notary.equivocators().any(|(a, _)| *a == n)),
    }
}

/// This node's side of the liveness rules: witnessing, telling peers, and
/// the suspects its raft service refuses.
pub struct Liveness {
    id: NodeId,
    advertise: String,
    voter: bool,
    deadline: Duration,
    shared: Arc<Shared>,
    suspects: Arc<Suspects>,
    faults: Arc<Faults>,
    channels: Channels,
    /// What [`Liveness::received`] tells the peers, a batch a call.
    witnesses: Witnesses,
    configured: Vec<String>,
}

/// How a node is set up for [`Liveness::new`].
pub struct LivenessSetup {
    /// This node's raft id.
    pub id: NodeId,
    /// The address peers dial this node at (left out of fan-out).
    pub advertise: String,
    /// Whether this node votes (only voters watch and suspect).
    pub voter: bool,
    /// `raft.progress_deadline_ms`.
    pub deadline: Duration,
    /// Every peer address in the configuration.
    pub configured: Vec<String>,
}

impl Liveness {
    /// The liveness rules of one node; `suspects` is shared with its raft
    /// service and its proposer (see [`Liveness::suspects_for`]).
    pub fn new(
        setup: LivenessSetup,
        shared: Arc<Shared>,
        suspects: Arc<Suspects>,
        faults: Arc<Faults>,
        channels: Channels,
    ) -> Self {
        Self {
            id: setup.id,
            advertise: setup.advertise,
            voter: setup.voter,
            deadline: setup.deadline,
            suspects,
            shared,
            faults,
            witnesses: Witnesses::new(channels.clone(), WITNESS_TIMEOUT),
            channels,
            configured: setup.configured,
        }
    }

    /// An empty suspect list for a node whose deadline is `deadline`: a
    /// first suspicion lasts three deadlines.
    pub fn suspects_for(deadline: Duration) -> Arc<Suspects> {
        Arc::new(Suspects::new(deadline.saturating_mul(3)))
    }

    /// The nodes whose raft messages are refused for now.
    pub fn suspects(&self) -> Arc<Suspects> {
        self.suspects.clone()
    }

    /// The injected fault, if any.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// How long an entry may wait.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The client channels this node dials peers with.
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    /// Every other node this node knows: the registered nodes' endpoints and
    /// the configured peers.
    pub fn peers(&self) -> Vec<String> {
        let mut out: Vec<String> = self.shared.read().notary.nodes().map(|n| n.endpoint.clone()).collect();
        out.extend(self.configured.iter().cloned());
        out.sort();
        out.dedup();
        out.retain(|a| *a != self.advertise);
        out
    }

    /// Another node, or a client, says a client gave `entry` (canonical
    /// `Entry` bytes, `decoded`) to another node: if its effect is not in the
    /// state yet, watch it as witnessed (half a deadline, then this node
    /// proposes it and waits a whole one). Returns whether it is watched.
    /// Learners watch nothing.
    pub fn witness(&self, entry: &[u8], decoded: &Entry) -> bool {
        if !self.voter || visible(&self.shared.read(), decoded) {
            return false;
        }
        self.shared.progress.watch(entry, Instant::now() + self.deadline / 2, Origin::Witnessed)
    }

    /// Whether `entry` is watched already (`Some(true)`) or was applied
    /// lately (`Some(false)`): what a second witness of it is answered
    /// without checking it again. Always `Some(false)` on a learner, which
    /// watches nothing.
    pub fn known(&self, entry: &[u8]) -> Option<bool> {
        if !self.voter {
            return Some(false);
        }
        self.shared.progress.known(entry)
    }

    /// A client gave this node `entry` (which this node then proposes, and
    /// so watches): tell every peer (a learner too), so each voter starts its
    /// own deadline. Nothing happens for an entry that does not decode or
    /// whose effect is in the state already. (A withholding node tells nobody.)
    pub fn received(&self, entry: &[u8]) {
        let Ok(decoded) = Entry::decode(entry) else { return };
        if visible(&self.shared.read(), &decoded) || self.faults.withholds() {
            return;
        }
        for addr in self.peers() {
            self.witnesses.send(&addr, entry.to_vec());
        }
    }

    /// Keeps every registered node proven to have equivocated suspected.
    fn hold_equivocators(&self) {
        let ids: Vec<(NodeId, box_core::Address)> = {
            let s = self.shared.read();
            let notary = &s.notary;
            let local = self.shared.local_equivocators();
            notary
                .nodes()
                .filter(|n| local.contains(&n.account) || notary.equivocators().any(|(a, _)| *a == n.account))
                .map(|n| (n.nodeId, n.account))
                .collect()
        };
        for (id, account) in ids {
            if id != self.id && self.suspects.hold(id) {
                tracing::error!(node = id, %account, "refusing raft messages from a proven equivocator");
            }
        }
    }
}

/// Whether a node is catching up with the leader (see the module docs): its
/// late entries may sit in the part of the log it has not applied yet.
#[derive(Debug)]
struct CatchUp {
    /// The last applied index seen, and when it last moved.
    applied: Option<u64>,
    moved: Instant,
    /// Since when the deadlines have been held for it.
    since: Option<Instant>,
    /// Whether the log said so for this hold.
    told: bool,
}

impl CatchUp {
    fn new(now: Instant) -> Self {
        Self { applied: None, moved: now, since: None, told: false }
    }

    /// Notes this node's `applied` index and the greatest index it knows to
    /// be in the log (`known`: its own last log index, or a commit index a
    /// leader announced); returns how many entries it is behind when that
    /// excuses late entries: more than [`CATCH_UP_GAP`], applying within
    /// the last `deadline`, and held for less than [`CATCH_UP_DEADLINES`].
    fn behind(&mut self, now: Instant, applied: Option<u64>, known: Option<u64>, deadline: Duration) -> Option<u64> {
        if applied != self.applied {
            self.applied = applied;
            self.moved = now;
        }
        let gap = match (known, applied) {
            (Some(k), Some(a)) => k.saturating_sub(a),
            (Some(k), None) => k.saturating_add(1),
            (None, _) => 0,
        };
        if gap <= CATCH_UP_GAP {
            self.reset();
            return None;
        }
        let since = *self.since.get_or_insert(now);
        let held = now.duration_since(since) < deadline.saturating_mul(CATCH_UP_DEADLINES);
        (held && now.duration_since(self.moved) < deadline).then_some(gap)
    }

    /// Whether the log has yet to say that deadlines are held; true once.
    fn tell(&mut self) -> bool {
        !std::mem::replace(&mut self.told, true)
    }

    /// The hold ended (caught up, or a suspicion): the next starts afresh.
    fn reset(&mut self) {
        self.since = None;
        self.told = false;
    }
}

/// Sealing that does not move: entries applied but not in a signed block.
#[derive(Default)]
struct SealWatch {
    height: u64,
    since: Option<Instant>,
}

impl SealWatch {
    /// Whether sealing has stood still with entries waiting for `deadline`.
    fn stalled(&mut self, s: &ChainState, now: Instant, deadline: Duration) -> bool {
        let waiting = !s.unsealed.is_empty() || s.pending.is_some();
        if !waiting || s.height() != self.height {
            self.height = s.height();
            self.since = None;
            return false;
        }
        let since = *self.since.get_or_insert(now);
        if now.duration_since(since) >= deadline {
            self.since = Some(now);
            return true;
        }
        false
    }
}

/// Runs until `shutdown` changes: checks the deadlines four times a second,
/// suspects the leader when one expires and proposes the late entries again.
pub async fn run(
    liveness: Arc<Liveness>,
    proposer: Proposer,
    raft: Raft<TypeConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    if !liveness.voter {
        return;
    }
    let mut seal = SealWatch::default();
    let mut catch_up = CatchUp::new(Instant::now());
    let mut reproposing: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = shutdown.changed() => return,
        }
        liveness.hold_equivocators();
        let now = Instant::now();
        let (Expired { propose, late }, stalled) = {
            // The state before the watched entries ([`Progress`]'s lock order).
            let state = liveness.shared.read();
            let expired = liveness.shared.progress.expired(now, now + liveness.deadline, WITNESSED_AT_ONCE, |bytes| {
                Entry::decode(bytes).map_or(true, |e| visible(&state, &e))
            });
            (expired, seal.stalled(&state, now, liveness.deadline))
        };
        // Witnessed entries nobody put in the log yet: propose them here.
        for entry in propose {
            let p = proposer.clone();
            let deadline = liveness.deadline;
            tokio::spawn(async move { tokio::time::timeout(deadline, p.entry(entry, false)).await });
        }
        let (leader, applied, last_log) = {
            let m = raft.metrics();
            let m = m.borrow();
            (m.current_leader, m.last_applied.map(|l| l.index), m.last_log_index)
        };
        let known = last_log.max(liveness.suspects.leader_commit());
        let behind = catch_up.behind(now, applied, known, liveness.deadline);
        if late.is_empty() && !stalled {
            continue;
        }
        if let Some(gap) = behind {
            // Its own lag, not the leader's doing: wait, and propose nothing
            // again (the late entries may be in what it has still to apply).
            if let Some(l) = leader.filter(|_| catch_up.tell()) {
                tracing::info!(
                    leader = l,
                    late = late.len(),
                    stalled,
                    "{gap} entries behind the leader and applying: entries past the deadline wait until this node \
                     catches up"
                );
            }
            liveness.shared.progress.rearm(now + liveness.deadline);
            continue;
        }
        // One strike per episode: a leader already refused is not struck
        // again while its suspicion runs (its lease lapses meanwhile).
        if let Some(l) = leader.filter(|l| *l != liveness.id && liveness.suspects.admit(*l).is_ok()) {
            let d = liveness.suspects.suspect(l);
            catch_up.reset();
            tracing::warn!(
                leader = l,
                late = late.len(),
                stalled,
                "the leader left entries out of the log past the deadline; refusing its raft messages for {} s",
                d.as_secs()
            );
        }
        liveness.shared.progress.rearm(now + liveness.deadline);
        if late.is_empty() || reproposing.as_ref().is_some_and(|t| !t.is_finished()) {
            continue;
        }
        let p = proposer.clone();
        let deadline = liveness.deadline;
        reproposing = Some(tokio::spawn(async move {
            for chunk in late.chunks(REPROPOSE_AT_ONCE) {
                let mut set = tokio::task::JoinSet::new();
                for entry in chunk {
                    let (p, entry) = (p.clone(), entry.clone());
                    set.spawn(async move { tokio::time::timeout(deadline, p.entry(entry, false)).await });
                }
                while set.join_next().await.is_some() {}
            }
        }));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_node_behind_and_applying_is_excused_for_a_while_and_only_then() {
        let d = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut c = CatchUp::new(t0);
        // Within a pipeline's worth of the leader: keeping up, nothing excused.
        assert_eq!(c.behind(t0, Some(100), Some(100 + CATCH_UP_GAP), d), None);
        // Nothing known beyond what it applied: nothing excused.
        assert_eq!(c.behind(t0, Some(100), None, d), None);
        // Far behind and applying: excused, with the gap.
        assert_eq!(c.behind(t0, Some(100), Some(400), d), Some(300));
        assert!(c.tell() && !c.tell(), "the log says so once a hold");
        // Applying keeps it excused...
        assert_eq!(c.behind(t0 + d, Some(200), Some(400), d), Some(200));
        // ...but not once it has applied nothing for a whole deadline.
        assert_eq!(c.behind(t0 + d * 2, Some(200), Some(400), d), None);
        // Nor past the cap, however it applies: a leader that announces a
        // commit it never sends is suspected, later.
        let mut c = CatchUp::new(t0);
        let cap = CATCH_UP_DEADLINES;
        for i in 0..cap {
            let at = t0 + d * i;
            assert!(c.behind(at, Some(u64::from(i)), Some(10_000), d).is_some(), "deadline {i}");
        }
        assert_eq!(c.behind(t0 + d * cap, Some(u64::from(cap)), Some(10_000), d), None);
        // Caught up, the next hold starts afresh (and is told again).
        assert_eq!(c.behind(t0 + d * cap, Some(10_000), Some(10_000), d), None);
        assert_eq!(c.behind(t0 + d * (cap + 1), Some(10_001), Some(20_000), d), Some(9_999));
        assert!(c.tell());
        // A fresh node that applied nothing yet counts every known entry.
        let mut c = CatchUp::new(t0);
        assert_eq!(c.behind(t0, None, Some(500), d), Some(501));
    }

    #[test]
    fn the_leader_commit_heard_only_grows() {
        let s = Suspects::new(Duration::from_secs(30));
        assert_eq!(s.leader_commit(), None);
        s.heard_commit(None);
        assert_eq!(s.leader_commit(), None);
        s.heard_commit(Some(0));
        assert_eq!(s.leader_commit(), Some(0));
        s.heard_commit(Some(70));
        s.heard_commit(Some(12));
        assert_eq!(s.leader_commit(), Some(70));
    }

    #[test]
    fn suspicion_backs_off_and_is_forgiven() {
        let s = Suspects::new(Duration::from_millis(40));
        assert!(s.admit(2).is_ok());
        let first = s.suspect(2);
        assert!(first <= Duration::from_millis(40) && s.admit(2).is_err());
        assert!(s.admit(3).is_ok(), "only the suspect is refused");
        // A repeat while suspected doubles it.
        assert!(s.suspect(2) > Duration::from_millis(40));
        // Long good conduct forgives the strikes.
        std::thread::sleep(Duration::from_millis(120 + 4 * 40 * 2));
        assert!(s.admit(2).is_ok());
        assert!(s.suspect(2) <= Duration::from_millis(40));
    }

    #[test]
    fn a_deadline_clears_when_the_entry_is_applied_and_otherwise_expires() {
        let p = Progress::default();
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        assert!(p.watch(b"one", now, Origin::Proposed));
        assert!(p.watch(b"two", now, Origin::Proposed));
        assert!(p.watch(b"one", later, Origin::Proposed), "the first deadline stands");
        p.applied(b"one");
        assert_eq!(p.expired(now, later, 8, |_| false).late, vec![b"two".to_vec()]);
        p.rearm(later);
        assert_eq!(p.expired(now, later, 8, |_| false), Expired::default());
        let gone = p.expired(later, later, 8, |_| true);
        assert_eq!(gone, Expired::default(), "already in the state: dropped");
        assert!(p.is_empty());
    }

    /// A witness that arrives after its entry was applied (the gateway and the
    /// client's node tell every node once the log took it) starts no deadline,
    /// so the entry is never proposed again: a ceremony message, which the
    /// state could not show as done before the notary recorded it per boot,
    /// was applied twice that way (a replayed panic, a wrong re-enrolment
    /// phrase counted twice).
    #[test]
    fn an_entry_applied_before_its_witness_is_not_proposed_again() {
        let p = Progress::default();
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        p.applied(b"ceremony message");
        assert!(!p.watch(b"ceremony message", now, Origin::Witnessed));
        assert_eq!(p.expired(later, later, 8, |_| false), Expired::default(), "nothing to propose");
        // The memory is bounded: the oldest applied entries are forgotten.
        for i in 0..RECENTLY_APPLIED {
            p.applied(&i.to_be_bytes());
        }
        assert!(p.watch(b"ceremony message", now, Origin::Witnessed));
        assert!(lock(&p.applied).order.len() <= RECENTLY_APPLIED);
    }

    #[test]
    fn a_witnessed_entry_is_proposed_before_anyone_is_suspected() {
        let p = Progress::default();
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        assert!(p.watch(b"junk", now, Origin::Witnessed));
        let first = p.expired(now, later, 8, |_| false);
        assert_eq!((first.propose, first.late), (vec![b"junk".to_vec()], Vec::<Vec<u8>>::new()));
        // Proposed by this node now: late only if it is still out at the next deadline.
        assert_eq!(p.expired(now, later, 8, |_| false), Expired::default());
        assert_eq!(p.expired(later, later, 8, |_| false).late, vec![b"junk".to_vec()]);
        // At most `at_most` witnessed entries are proposed per check.
        for e in [b"a", b"b", b"c"] {
            p.watch(e, now, Origin::Witnessed);
        }
        assert_eq!(p.expired(now, later, 2, |_| false).propose.len(), 2);
    }
}
