//! In-memory implementations of the executor's boundaries, for tests of
//! the executor without processes, disks or networks. Each passes the same
//! conformance suite as the real one ([`super::conformance`]). Clones share
//! their state (a clone of a [`MemoryStore`] is the store "reopened").

mod ethereum;

pub use ethereum::MemoryEthereum;

use super::{ExecutionStore, LinkError, NotaryLink};
use crate::store::{Execution, StoreError};
use box_core::B256;
use box_core::crypto::SecretKey;
use box_core::ids::Timestamp;
use box_core::notary::{Entry, Event, NotaryState, Subject, SubjectStatus};
use box_core::quorum::accept_vote;
use box_core::typed::{NodeVote, Signed, SignerReport};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a test panicked while holding it; the data is still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An [`ExecutionStore`] in memory: "durable" for the life of the process
/// (and of every clone), exactly once by subject and by nonce.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<StoreInner>>,
}

#[derive(Debug, Default)]
struct StoreInner {
    executions: BTreeMap<B256, Execution>,
    nonces: BTreeMap<u64, B256>,
}

impl ExecutionStore for MemoryStore {
    async fn executions(&self) -> Result<Vec<(B256, Execution)>, StoreError> {
        Ok(lock(&self.inner).executions.iter().map(|(k, v)| (*k, v.clone())).collect())
    }

    async fn insert(&self, subject: B256, execution: Execution) -> Result<bool, StoreError> {
        let mut s = lock(&self.inner);
        if s.executions.contains_key(&subject) || execution.nonce.is_some_and(|n| s.nonces.contains_key(&n)) {
            return Ok(false);
        }
        if let Some(n) = execution.nonce {
            s.nonces.insert(n, subject);
        }
        s.executions.insert(subject, execution);
        Ok(true)
    }

    async fn update(&self, subject: B256, execution: Execution) -> Result<(), StoreError> {
        lock(&self.inner).executions.insert(subject, execution);
        Ok(())
    }
}

/// A [`NotaryLink`] to an in-memory chain: a [`NotaryState`] whose nodes
/// (the given keys) each vote their companion's verdict on every subject
/// submitted, at once. Also the chain the executor's tests read.
#[derive(Debug, Clone)]
pub struct MemoryLink {
    inner: Arc<Mutex<LinkInner>>,
}

#[derive(Debug)]
struct LinkInner {
    state: NotaryState,
    nodes: Vec<SecretKey>,
    time: Timestamp,
}

impl MemoryLink {
    /// A chain at `state` whose node accounts are `nodes`, at log time `time`.
    pub fn new(state: NotaryState, nodes: Vec<SecretKey>, time: Timestamp) -> Self {
        Self { inner: Arc::new(Mutex::new(LinkInner { state, nodes, time })) }
    }

    /// The chain's state now.
    pub fn state(&self) -> NotaryState {
        lock(&self.inner).state.clone()
    }

    /// Moves the chain's clock.
    pub fn set_time(&self, time: Timestamp) {
        lock(&self.inner).time = time;
    }

    /// Submits `subject` and has every node vote its verdict; the events.
    pub fn decide(&self, subject: Subject) -> Vec<Event> {
        lock(&self.inner).decide(subject)
    }

    /// Submits `subject` and has every node accept it, whatever the rules
    /// say (a dishonest majority); the events.
    pub fn notarize_anyway(&self, subject: Subject) -> Vec<Event> {
        let mut c = lock(&self.inner);
        let domain = c.state.domain();
        let Ok(id) = subject.id(&domain) else { return Vec::new() };
        let content = subject.content();
        let at = c.time;
        let mut events = c.state.apply(&Entry::Submit(subject), at);
        for k in c.nodes.clone() {
            events.extend(c.state.apply(&Entry::Vote(Signed::new(&domain, &k, accept_vote(id, content))), at));
        }
        events
    }
}

impl LinkInner {
    fn decide(&mut self, subject: Subject) -> Vec<Event> {
        let domain = self.state.domain();
        let Ok(id) = subject.id(&domain) else { return Vec::new() };
        let at = self.time;
        let mut events = self.state.apply(&Entry::Submit(subject), at);
        for k in self.nodes.clone() {
            let Some(rec) = self.state.subject(&id) else { break };
            if rec.status != SubjectStatus::Pending {
                break;
            }
            let content = rec.content;
            let vote = match self.state.verdict(&id, at) {
                Ok(c) => accept_vote(id, c),
                Err(r) => NodeVote { subject: id.0, contentHash: content.0, accept: false, reason: r.to_string() },
            };
            events.extend(self.state.apply(&Entry::Vote(Signed::new(&domain, &k, vote)), at));
        }
        events
    }
}

impl NotaryLink for MemoryLink {
    async fn submit_report(&self, report: Signed<SignerReport>) -> Result<(), LinkError> {
        let events = lock(&self.inner).decide(Subject::SignerReport(report));
        match events.first() {
            Some(Event::Refused { reason }) => Err(LinkError::Refused(reason.clone())),
            Some(_) => Ok(()),
            None => Err(LinkError::Refused("the report has no subject id".into())),
        }
    }
}
