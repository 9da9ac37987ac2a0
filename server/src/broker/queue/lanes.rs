//! `per_key` ordering. The copies of one key form a lane; only its active copy (the
//! earliest) may be delivered, and the rest wait behind it until it leaves the queue
//! (acked, dead-lettered, expired or purged), so one key's messages go one at a time, in
//! publish order, while other keys flow past. A key is known by its hash (see
//! [`key_hash`]): two keys that share one only share a lane, never reorder.

use std::collections::{BTreeSet, HashMap};

use super::{Entry, QueueState};
use crate::storage::MessageId;

#[derive(Debug, Default)]
pub(super) struct Lane {
    members: BTreeSet<MessageId>,
    /// The members that may be delivered: the earliest one or, right after ordering was
    /// turned on or the queue was loaded, every member that was leased already.
    active: BTreeSet<MessageId>,
}

/// The hash that stands for a message's key in its copies' records (stable across
/// versions and restarts: FNV-1a, then a finalizer to spread it).
pub(crate) fn key_hash(key: Option<&str>) -> Option<u64> {
    key.map(|key| {
        let fnv = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        mix(fnv)
    })
}

/// SplitMix64's finalizer: every input bit moves about half the output bits.
pub(super) fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl QueueState {
    /// Adds a copy not yet in `entries` to its key's lane; returns whether it may be
    /// delivered (false: it waits behind an earlier copy). A copy that comes in ahead of
    /// every member (a removal undone, a redrive of an older message) takes the place of
    /// active members that were never handed out.
    pub(super) fn join_lane(&mut self, id: MessageId, entry: &Entry) -> bool {
        let (true, Some(hash)) = (self.ordered(), entry.key_hash) else {
            return true;
        };
        let lane = self.lanes.entry(hash).or_default();
        let ahead = lane.members.first().is_none_or(|first| id < *first);
        lane.members.insert(id);
        if lane.active.is_empty() {
            lane.active.insert(id);
            return true;
        }
        let entries = &self.entries;
        let displace = ahead
            && lane
                .active
                .iter()
                .all(|active| entries.get(active).is_some_and(Entry::untouched));
        if !displace {
            return false;
        }
        let displaced = std::mem::replace(&mut lane.active, BTreeSet::from([id]));
        for active in displaced {
            self.hold(active);
        }
        true
    }

    /// Takes a copy out of its key's lane (it left the queue); when it was the lane's
    /// last active copy, the next one may be delivered.
    pub(super) fn leave_lane(&mut self, id: MessageId, entry: &Entry) {
        let Some(hash) = entry.key_hash else { return };
        let Some(lane) = self.lanes.get_mut(&hash) else {
            return;
        };
        if !lane.members.remove(&id) {
            return;
        }
        let was_active = lane.active.remove(&id);
        if lane.members.is_empty() {
            self.lanes.remove(&hash);
            return;
        }
        if was_active && lane.active.is_empty() {
            let next = *lane.members.first().expect("the lane has members");
            lane.active.insert(next);
            self.free(next);
        }
    }

    /// Lays the lanes out again from the copies (after a load, or when ordering is turned
    /// on or off): with ordering, each lane's leased copies stay active, or else its
    /// earliest copy that was delivered before, or else its earliest; without it, every
    /// copy that waited behind its key is free.
    pub(crate) fn rebuild_lanes(&mut self, now_ms: u64) {
        self.last_now_ms = self.last_now_ms.max(now_ms);
        self.lanes.clear();
        let held: Vec<MessageId> = self
            .entries
            .iter()
            .filter(|(_, entry)| entry.behind_key)
            .map(|(id, _)| *id)
            .collect();
        for id in held {
            self.free(id);
        }
        if !self.ordered() {
            return;
        }
        let mut lanes: HashMap<u64, Lane> = HashMap::new();
        for (id, entry) in &self.entries {
            if let Some(hash) = entry.key_hash {
                lanes.entry(hash).or_default().members.insert(*id);
            }
        }
        let mut hold = Vec::new();
        for lane in lanes.values_mut() {
            let entry = |id: &MessageId| &self.entries[id];
            lane.active = lane
                .members
                .iter()
                .filter(|id| entry(id).leased)
                .copied()
                .collect();
            if lane.active.is_empty() {
                let first = lane
                    .members
                    .iter()
                    .find(|id| !entry(id).untouched())
                    .or(lane.members.first())
                    .copied()
                    .expect("a lane has members");
                lane.active.insert(first);
            }
            hold.extend(
                lane.members
                    .iter()
                    .filter(|id| !lane.active.contains(id))
                    .copied(),
            );
        }
        self.lanes = lanes;
        for id in hold {
            self.hold(id);
        }
    }

    /// Makes a copy that is not leased wait behind its key.
    fn hold(&mut self, id: MessageId) {
        let Some(mut entry) = self.entries.remove(&id) else {
            return;
        };
        if !entry.behind_key {
            self.unlink(id, &entry);
            entry.is_ready = false;
            entry.behind_key = true;
            self.behind_key += 1;
        }
        self.entries.insert(id, entry);
    }

    /// Lets a copy that waited behind its key go: ready at once when it was never handed
    /// out and is visible, else timed (a redelivery passes the dead-letter check then).
    fn free(&mut self, id: MessageId) {
        let Some(mut entry) = self.entries.remove(&id) else {
            return;
        };
        if entry.behind_key {
            self.behind_key -= 1;
            entry.is_ready = entry.untouched() && entry.visible_at_ms <= self.last_now_ms;
            if entry.is_ready {
                self.freed += 1;
            }
            self.link(id, &mut entry);
        }
        self.entries.insert(id, entry);
    }
}
