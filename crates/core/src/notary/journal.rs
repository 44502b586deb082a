//! Rolling back a run of applied entries at the cost of the rows it touched
//! ([`NotaryState::atomically`]), never a copy of the whole state.
//!
//! The maps that grow with history (flows, transfers, subjects, the
//! retirement queue) are
//! [`Journaled`]: while a run is open, the first write to a key records the
//! value it had, so undoing the run puts back exactly those keys. Everything
//! else in the state is small (registry, assets, sets changed by governance)
//! or shares its nodes on a clone (the commitment trie), so it is copied
//! whole when the run opens, except the retired ids, which only grow: a run
//! is undone by cutting their list back to where it began. The indexes are derived from the maps: after an
//! undo they are recomputed for the keys the run touched.

use super::NotaryState;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::ops::Deref;

/// The values the keys written during a run had before it (`None`: absent).
type Undo<K, V> = BTreeMap<K, Option<V>>;

/// A map whose writes are recorded while a run is open. It reads as a
/// `BTreeMap` (`Deref`); it is written only through its own methods, so no
/// write escapes the record.
#[derive(Debug, Clone)]
pub(super) struct Journaled<K: Ord, V> {
    map: BTreeMap<K, V>,
    undo: Option<Undo<K, V>>,
}

impl<K: Ord, V> Default for Journaled<K, V> {
    fn default() -> Self {
        Self { map: BTreeMap::new(), undo: None }
    }
}

impl<K: Ord, V> Deref for Journaled<K, V> {
    type Target = BTreeMap<K, V>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl<K: Ord, V: PartialEq> PartialEq for Journaled<K, V> {
    /// Two maps are equal when their contents are; an open record is not content.
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl<K: Ord, V: Eq> Eq for Journaled<K, V> {}

impl<K: Ord + Serialize, V: Serialize> Serialize for Journaled<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de, K: Ord + Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Journaled<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self { map: BTreeMap::deserialize(d)?, undo: None })
    }
}

impl<K: Ord + Clone, V: Clone> Journaled<K, V> {
    fn record(&mut self, key: &K) {
        if let Some(undo) = &mut self.undo
            && !undo.contains_key(key)
        {
            undo.insert(key.clone(), self.map.get(key).cloned());
        }
    }

    /// The value at `key`, to change.
    pub(super) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.record(key);
        self.map.get_mut(key)
    }

    /// Sets `key` to `value`.
    pub(super) fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.record(&key);
        self.map.insert(key, value)
    }

    /// The value at `key`, inserting `make()` first if there is none.
    pub(super) fn or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        self.record(&key);
        self.map.entry(key).or_insert_with(make)
    }

    /// Removes `key`.
    pub(super) fn remove(&mut self, key: &K) -> Option<V> {
        self.record(key);
        self.map.remove(key)
    }

    /// Opens a run; returns the enclosing run's record, if any.
    fn begin(&mut self) -> Option<Undo<K, V>> {
        self.undo.replace(BTreeMap::new())
    }

    /// Closes a run, keeping its writes; the enclosing run (if any) now
    /// answers for them too.
    fn keep(&mut self, outer: Option<Undo<K, V>>) {
        let inner = self.undo.take().unwrap_or_default();
        self.undo = outer.map(|mut o| {
            for (k, v) in inner {
                o.entry(k).or_insert(v);
            }
            o
        });
    }

    /// Closes a run, undoing its writes; returns the keys it had touched.
    fn undo(&mut self, outer: Option<Undo<K, V>>) -> Vec<K> {
        let inner = self.undo.take().unwrap_or_default();
        self.undo = outer;
        let mut touched = Vec::with_capacity(inner.len());
        for (k, before) in inner {
            match before {
                Some(v) => self.map.insert(k.clone(), v),
                None => self.map.remove(&k),
            };
            touched.push(k);
        }
        touched
    }
}

impl NotaryState {
    /// Runs `f` on the state; if it fails, the state is put back exactly as
    /// it was before (every row, the root, the indexes), so a caller may
    /// apply a block's entries in place and refuse the block afterwards.
    ///
    /// Costs what `f` does plus a copy of the small parts of the state
    /// (registry, assets, frozen and blocked sets, the trie's root node) and,
    /// on failure, one step per row `f` wrote: never a copy of the history.
    /// Runs nest. A panic inside `f` is not rolled back.
    pub fn atomically<T, E>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, E>) -> Result<T, E> {
        let outer = (self.flows.begin(), self.transfers.begin(), self.subjects.begin(), self.retiring.begin());
        let retired_mark = self.retired.mark();
        let before = self.small_part();
        match f(self) {
            Ok(t) => {
                self.flows.keep(outer.0);
                self.transfers.keep(outer.1);
                self.subjects.keep(outer.2);
                self.retiring.keep(outer.3);
                Ok(t)
            }
            Err(e) => {
                let mut flows = std::mem::take(&mut self.flows);
                let mut transfers = std::mem::take(&mut self.transfers);
                let mut subjects = std::mem::take(&mut self.subjects);
                let mut retiring = std::mem::take(&mut self.retiring);
                let mut retired = std::mem::take(&mut self.retired);
                let index = std::mem::take(&mut self.index);
                *self = before;
                flows.undo(outer.0);
                let transfer_ids = transfers.undo(outer.1);
                let subject_ids = subjects.undo(outer.2);
                let due_ids = retiring.undo(outer.3);
                retired.rewind(retired_mark);
                self.flows = flows;
                self.transfers = transfers;
                self.subjects = subjects;
                self.retiring = retiring;
                self.retired = retired;
                self.index = index;
                subject_ids.iter().for_each(|id| self.index_subject(id));
                transfer_ids.iter().for_each(|id| self.index_transfer(id));
                due_ids.iter().for_each(|id| self.index_due(id));
                Err(e)
            }
        }
    }

    /// A copy of everything but the maps that grow with history and their
    /// indexes (left empty in the copy).
    fn small_part(&mut self) -> Self {
        let flows = std::mem::take(&mut self.flows);
        let transfers = std::mem::take(&mut self.transfers);
        let subjects = std::mem::take(&mut self.subjects);
        let retiring = std::mem::take(&mut self.retiring);
        let retired = std::mem::take(&mut self.retired);
        let index = std::mem::take(&mut self.index);
        let copy = self.clone();
        self.flows = flows;
        self.transfers = transfers;
        self.subjects = subjects;
        self.retiring = retiring;
        self.retired = retired;
        self.index = index;
        copy
    }
}
