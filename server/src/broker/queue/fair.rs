//! Weighted fairness. With a `fairness` setting, the ready copies are also indexed by
//! group (a key, or an attribute's value, by hash), and receives take them group by group
//! in a ring: the group in turn gives up to its weight of copies, oldest first, then the
//! next group has its turn. A group with a million ready copies therefore delays one with
//! ten by at most one turn per receive of the others, whatever its backlog. Taking a copy
//! costs a ring step and a set removal: O(log n), like the queue without fairness.

use std::collections::{BTreeSet, HashMap, VecDeque};

use switchyard_client::{Fairness, GroupBy};

use super::{Entry, QueueState, key_hash};
use crate::storage::MessageId;

/// The group of copies that have neither the key nor the attribute grouped by.
const NO_GROUP: u64 = 0;

#[derive(Debug)]
pub(super) struct Fair {
    by_key: bool,
    weights: HashMap<u64, u32>,
    default_weight: u32,
    groups: HashMap<u64, Group>,
    /// Groups with ready copies, in turn order; the front one is in turn. A group that ran
    /// dry stays until its turn comes, and is dropped then.
    ring: VecDeque<u64>,
    /// Copies the group in turn may still give this turn.
    left: u32,
}

#[derive(Debug, Default)]
struct Group {
    ready: BTreeSet<MessageId>,
    in_ring: bool,
}

impl Fair {
    pub(super) fn new(setting: &Fairness) -> Self {
        Fair {
            by_key: setting.group_by() == Some(GroupBy::Key),
            weights: setting
                .weights
                .iter()
                .map(|(group, weight)| (key_hash(Some(group)).unwrap_or(NO_GROUP), *weight))
                .collect(),
            default_weight: setting.default_weight.max(1),
            groups: HashMap::new(),
            ring: VecDeque::new(),
            left: 0,
        }
    }

    fn group_of(&self, entry: &Entry) -> u64 {
        let hash = if self.by_key {
            entry.key_hash
        } else {
            entry.group_hash
        };
        hash.unwrap_or(NO_GROUP)
    }

    fn weight(&self, group: u64) -> u32 {
        self.weights
            .get(&group)
            .copied()
            .unwrap_or(self.default_weight)
    }

    pub(super) fn add(&mut self, id: MessageId, entry: &Entry) {
        let group = self.group_of(entry);
        let slot = self.groups.entry(group).or_default();
        slot.ready.insert(id);
        if !slot.in_ring {
            slot.in_ring = true;
            self.ring.push_back(group);
            if self.ring.len() == 1 {
                self.left = self.weight(group);
            }
        }
    }

    pub(super) fn remove(&mut self, id: MessageId, entry: &Entry) {
        let group = self.group_of(entry);
        if let Some(slot) = self.groups.get_mut(&group) {
            slot.ready.remove(&id);
            if slot.ready.is_empty() && !slot.in_ring {
                self.groups.remove(&group);
            }
        }
    }

    /// The next copy by turn, taken out of the index.
    pub(super) fn take(&mut self) -> Option<MessageId> {
        loop {
            let group = *self.ring.front()?;
            let slot = self.groups.get_mut(&group).expect("a group in the ring");
            let Some(id) = slot.ready.pop_first() else {
                self.groups.remove(&group);
                self.ring.pop_front();
                self.start_turn();
                continue;
            };
            self.left = self.left.saturating_sub(1);
            if slot.ready.is_empty() {
                self.groups.remove(&group);
                self.ring.pop_front();
                self.start_turn();
            } else if self.left == 0 {
                self.ring.rotate_left(1);
                self.start_turn();
            }
            return Some(id);
        }
    }

    fn start_turn(&mut self) {
        self.left = self.ring.front().map_or(0, |group| self.weight(*group));
    }
}

impl QueueState {
    /// Lays the fairness index out again from the ready copies (after a load, or when the
    /// setting changed).
    pub(crate) fn rebuild_fairness(&mut self) {
        self.fair = self.settings.fairness.as_ref().map(Fair::new);
        if let Some(fair) = &mut self.fair {
            for id in &self.ready {
                fair.add(*id, &self.entries[id]);
            }
        }
    }

    /// Takes the next ready copy: by turn with fairness, else the oldest.
    pub(super) fn take_ready(&mut self) -> Option<MessageId> {
        let id = match &mut self.fair {
            None => self.ready.pop_first()?,
            Some(fair) => {
                let id = fair.take()?;
                self.ready.remove(&id);
                id
            }
        };
        self.ready_bytes -= u64::from(self.entries[&id].size);
        Some(id)
    }
}
