//! The writer's bounded deletions: a purge, the copies of a deleted queue, and the sweeps of
//! settlements and dedup entries. Each op deletes at most `limit` rows and says whether
//! more are left ([`OpOutcome::Chunk`]); the caller submits the next one, so a big deletion
//! is many small transactions and other requests' group commits go in between.

use std::collections::HashSet;

use redb::ReadableTable;

use super::{OpOutcome, OpenTables, Undo, WriterState};
use crate::storage::tables;
use crate::storage::{MessageId, QueueId, StorageError};

/// A purge under way: it deletes, in id order from `cursor`, the copies its queue held
/// when it began; `kept` are the copies added since (at or past the cursor).
pub(super) struct Purge {
    pub(super) cursor: MessageId,
    pub(super) kept: HashSet<MessageId>,
}

fn chunk(count: usize, more: bool) -> OpOutcome {
    OpOutcome::Chunk {
        count: count as u64,
        more,
    }
}

impl WriterState {
    /// A copy of `id` was added to `queue`: a purge under way there must keep it.
    pub(super) fn keep_if_purging(&mut self, queue: QueueId, id: MessageId) {
        if self.purges.is_empty() {
            return;
        }
        if let Some(purge) = self.purges.get_mut(&queue)
            && id >= purge.cursor
            && purge.kept.insert(id)
        {
            self.undo.push(Undo::Kept(queue, id));
        }
    }

    pub(super) fn begin_purge(
        &mut self,
        t: &mut OpenTables<'_>,
        queue: QueueId,
        limit: usize,
    ) -> Result<OpOutcome, StorageError> {
        let purge = Purge {
            cursor: 0,
            kept: HashSet::new(),
        };
        let before = self.purges.insert(queue, purge);
        self.undo.push(Undo::Purge(queue, before));
        self.continue_purge(t, queue, limit)
    }

    pub(super) fn continue_purge(
        &mut self,
        t: &mut OpenTables<'_>,
        queue: QueueId,
        limit: usize,
    ) -> Result<OpOutcome, StorageError> {
        let Some(purge) = self.purges.get(&queue) else {
            return Ok(chunk(0, false));
        };
        let from = tables::delivery_key(queue, purge.cursor);
        let (_, high) = tables::queue_range(queue);
        let mut doomed = Vec::new();
        let mut next = None;
        for row in t.deliveries.range::<&[u8; 24]>(&from..=&high)? {
            let id = tables::split_delivery_key(row?.0.value()).1;
            if purge.kept.contains(&id) {
                continue;
            }
            if doomed.len() == limit {
                next = Some(id);
                break;
            }
            doomed.push(id);
        }
        self.delete_copies(t, queue, &doomed)?;
        match next {
            Some(cursor) => {
                let purge = self.purges.get_mut(&queue).expect("looked up above");
                let before = std::mem::replace(&mut purge.cursor, cursor);
                self.undo.push(Undo::PurgeCursor(queue, before));
            }
            None => {
                let done = self.purges.remove(&queue);
                self.undo.push(Undo::Purge(queue, done));
            }
        }
        Ok(chunk(doomed.len(), next.is_some()))
    }

    pub(super) fn drop_queue_copies(
        &mut self,
        t: &mut OpenTables<'_>,
        queue: QueueId,
        limit: usize,
    ) -> Result<OpOutcome, StorageError> {
        if self.live_queues.contains(&queue) {
            return Ok(OpOutcome::Missing);
        }
        let (low, high) = tables::queue_range(queue);
        let mut ids = Vec::new();
        for row in t.deliveries.range::<&[u8; 24]>(&low..=&high)? {
            ids.push(tables::split_delivery_key(row?.0.value()).1);
            if ids.len() > limit {
                break;
            }
        }
        let more = ids.len() > limit;
        ids.truncate(limit);
        self.delete_copies(t, queue, &ids)?;
        Ok(chunk(ids.len(), more))
    }

    fn delete_copies(
        &mut self,
        t: &mut OpenTables<'_>,
        queue: QueueId,
        ids: &[MessageId],
    ) -> Result<(), StorageError> {
        for id in ids {
            t.deliveries.remove(&tables::delivery_key(queue, *id))?;
            self.release(t, *id)?;
        }
        Ok(())
    }

    /// Forgets settlements made before `before_ms`. Most were made soon after their
    /// message was published, so the sweep walks the table in id (publish) order from where
    /// it stopped last, up to ids published before `before_ms`; a settlement it passes that
    /// is younger, and one made later of a message it has passed, is listed by settlement
    /// time in `SETTLED_LATE` and forgotten from there.
    pub(super) fn sweep_settled(
        &mut self,
        t: &mut OpenTables<'_>,
        before_ms: u64,
        limit: usize,
    ) -> Result<OpOutcome, StorageError> {
        let end = tables::settled_late_key(before_ms, 0, 0);
        let mut late = Vec::new();
        for row in t.settled_late.range::<&[u8; 32]>(..&end)? {
            late.push(*row?.0.value());
            if late.len() > limit {
                break;
            }
        }
        if late.len() > limit {
            late.truncate(limit);
            return Ok(chunk(Self::forget_late(t, &late)?, true));
        }
        let mut forgotten = Self::forget_late(t, &late)?;
        let budget = limit - late.len();
        let cutoff = u128::from(before_ms) << 80;
        if self.settled_cursor >= cutoff {
            return Ok(chunk(forgotten, false));
        }
        let (from, to) = (
            tables::settled_key(self.settled_cursor, 0),
            tables::settled_key(cutoff, 0),
        );
        let mut rows = Vec::new();
        let mut next = None;
        for row in t.settled.range::<&[u8; 24]>(&from..&to)? {
            let (key, value) = row?;
            let key = *key.value();
            if rows.len() == budget {
                next = Some(u128::from_be_bytes(key[..16].try_into().expect("16 bytes")));
                break;
            }
            rows.push((key, tables::decode_settled(value.value()).1));
        }
        for (key, at) in rows {
            if at < before_ms {
                t.settled.remove(&key)?;
                forgotten += 1;
            } else {
                let id = u128::from_be_bytes(key[..16].try_into().expect("16 bytes"));
                let queue = u64::from_be_bytes(key[16..].try_into().expect("8 bytes"));
                t.settled_late
                    .insert(&tables::settled_late_key(at, id, queue), ())?;
            }
        }
        self.set_settled_cursor(t, next.unwrap_or(cutoff))?;
        Ok(chunk(forgotten, next.is_some()))
    }

    /// Forgets the late settlements listed under `keys` (a settlement made again since is
    /// listed again, under its new time).
    fn forget_late(t: &mut OpenTables<'_>, keys: &[[u8; 32]]) -> Result<usize, StorageError> {
        let mut forgotten = 0;
        for key in keys {
            t.settled_late.remove(key)?;
            let (at, id, queue) = tables::split_settled_late_key(key);
            let settled = tables::settled_key(id, queue);
            let made_at = t
                .settled
                .get(&settled)?
                .map(|v| tables::decode_settled(v.value()).1);
            if made_at == Some(at) {
                t.settled.remove(&settled)?;
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    fn set_settled_cursor(
        &mut self,
        t: &mut OpenTables<'_>,
        cursor: MessageId,
    ) -> Result<(), StorageError> {
        let before = std::mem::replace(&mut self.settled_cursor, cursor);
        self.undo.push(Undo::SettledCursor(before));
        // Stored to the millisecond: after a restart the sweep visits at most one
        // millisecond of ids again.
        t.meta
            .insert(tables::SETTLED_SWEPT_MS, (cursor >> 80) as u64)?;
        Ok(())
    }

    /// Forgets dedup entries expired by `now_ms`, in the order they expire.
    pub(super) fn sweep_dedup(
        &mut self,
        t: &mut OpenTables<'_>,
        now_ms: u64,
        limit: usize,
    ) -> Result<OpOutcome, StorageError> {
        let end = tables::dedup_expiry_key(now_ms.saturating_add(1), "");
        let mut rows = Vec::new();
        for row in t.dedup_expiry.range::<&[u8]>(..end.as_slice())? {
            rows.push(row?.0.value().to_vec());
            if rows.len() > limit {
                break;
            }
        }
        let more = rows.len() > limit;
        rows.truncate(limit);
        let mut forgotten = 0;
        for row in &rows {
            t.dedup_expiry.remove(row.as_slice())?;
            let Some((_, key)) = tables::split_dedup_expiry_key(row) else {
                continue;
            };
            // Replaced by a later publish with the same dedup id, the entry holds on.
            let expires = t.dedup.get(key)?.map(|v| tables::decode_dedup(v.value()).1);
            if expires.is_some_and(|at| at <= now_ms) {
                t.dedup.remove(key)?;
                forgotten += 1;
            }
        }
        Ok(chunk(forgotten, more))
    }
}
