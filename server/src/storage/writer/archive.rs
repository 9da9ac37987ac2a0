//! The writer's archive and replay ops: archiving a publish (next position, one reference
//! to the body), trimming by retention, copying archived messages into queues, and replay
//! job records whose state the writer checks, so a cancelled job writes nothing more.

use redb::ReadableTable;

use super::{EncodedMessage, OpOutcome, OpenTables, Undo, WriterState};
use crate::storage::archive::{self as rows, ArchiveHead, ArchiveId};
use crate::storage::codec::encode_delivery;
use crate::storage::tables;
use crate::storage::{DeliveryRecord, MessageId, QueueId, ReplayRecord, ReplayState, StorageError};

/// What [`WriterState::trim_archive`] drops.
pub(super) struct Trim {
    pub(super) before_time_ms: Option<u64>,
    pub(super) max_bytes: Option<u64>,
    pub(super) all: bool,
    pub(super) limit: usize,
    pub(super) forget: bool,
}

impl WriterState {
    /// The archive's head, remembering how it was before this transaction.
    fn head_mut(&mut self, archive: ArchiveId) -> &mut ArchiveHead {
        if !self.touched.contains_key(&archive) {
            let before = self.archives.get(&archive).copied();
            self.touched.insert(archive, before);
        }
        self.archives.entry(archive).or_default()
    }

    /// Gives `id` the archive's next position. The caller counts the reference.
    pub(super) fn archive_message(
        &mut self,
        t: &mut OpenTables<'_>,
        archive: ArchiveId,
        id: MessageId,
        message: &EncodedMessage,
    ) -> Result<(), StorageError> {
        let published = message.published_at_ms();
        let size = u32::try_from(message.0.len()).unwrap_or(u32::MAX);
        let head = self.head_mut(archive);
        let position = head.next_position;
        let time = published.max(head.last_time_ms);
        if head.messages == 0 {
            head.first_position = position;
            head.first_time_ms = time;
        }
        head.next_position += 1;
        head.messages += 1;
        head.bytes += u64::from(size);
        head.last_time_ms = time;
        t.archive.insert(
            &rows::archive_key(archive, position),
            &rows::encode_row(id, time, size),
        )?;
        Ok(())
    }

    pub(super) fn put_copy(
        &mut self,
        t: &mut OpenTables<'_>,
        queue: QueueId,
        id: MessageId,
        record: &DeliveryRecord,
    ) -> Result<OpOutcome, StorageError> {
        let Some(count) = self.refcounts.get(&id).copied() else {
            return Ok(OpOutcome::Missing);
        };
        let key = tables::delivery_key(queue, id);
        if !self.live_queues.contains(&queue) || t.deliveries.get(&key)?.is_some() {
            return Ok(OpOutcome::Missing);
        }
        t.deliveries
            .insert(&key, encode_delivery(record).as_slice())?;
        self.undo.push(Undo::Refcount(id, Some(count)));
        self.refcounts.insert(id, count + 1);
        self.keep_if_purging(queue, id);
        Ok(OpOutcome::Done)
    }

    pub(super) fn put_replay(
        &mut self,
        t: &mut OpenTables<'_>,
        mut record: ReplayRecord,
        cut: bool,
    ) -> Result<OpOutcome, StorageError> {
        let mut outcome = OpOutcome::Done;
        if cut {
            let head = self
                .archives
                .get(&record.archive)
                .copied()
                .unwrap_or_default();
            record.to_position = head.next_position;
            record.total = head
                .next_position
                .saturating_sub(record.from_position.max(head.first_position));
            record.cursor = record.from_position.max(head.first_position);
            if record.cursor >= record.to_position {
                record.state = ReplayState::Done;
                record.finished_at_ms = Some(record.created_at_ms);
            }
            outcome = OpOutcome::Cut {
                to: record.to_position,
                total: record.total,
                cursor: record.cursor,
            };
        }
        let json = serde_json::to_vec(&record).expect("a replay record serializes");
        t.replays.insert(record.id.as_str(), json.as_slice())?;
        Ok(outcome)
    }

    fn running_replay(t: &OpenTables<'_>, id: &str) -> Result<Option<ReplayRecord>, StorageError> {
        let Some(value) = t.replays.get(id)? else {
            return Ok(None);
        };
        let record: ReplayRecord =
            serde_json::from_slice(value.value()).map_err(|e| StorageError::Corrupt {
                what: format!("replay {id:?}: {e}"),
            })?;
        Ok((record.state == ReplayState::Running).then_some(record))
    }

    pub(super) fn replay_progress(
        &mut self,
        t: &mut OpenTables<'_>,
        record: &ReplayRecord,
    ) -> Result<OpOutcome, StorageError> {
        if Self::running_replay(t, &record.id)?.is_none() {
            return Ok(OpOutcome::Missing);
        }
        let json = serde_json::to_vec(record).expect("a replay record serializes");
        t.replays.insert(record.id.as_str(), json.as_slice())?;
        Ok(OpOutcome::Done)
    }

    pub(super) fn end_replay(
        &mut self,
        t: &mut OpenTables<'_>,
        id: &str,
        state: ReplayState,
        error: Option<String>,
        at_ms: u64,
    ) -> Result<OpOutcome, StorageError> {
        let Some(mut record) = Self::running_replay(t, id)? else {
            return Ok(OpOutcome::Missing);
        };
        record.state = state;
        record.error = error;
        record.finished_at_ms = Some(at_ms);
        let json = serde_json::to_vec(&record).expect("a replay record serializes");
        t.replays.insert(id, json.as_slice())?;
        Ok(OpOutcome::Done)
    }

    pub(super) fn trim_archive(
        &mut self,
        t: &mut OpenTables<'_>,
        archive: ArchiveId,
        trim: &Trim,
    ) -> Result<OpOutcome, StorageError> {
        let Some(mut head) = self.archives.get(&archive).copied() else {
            return Ok(OpOutcome::Count(0));
        };
        let (low, high) = (
            rows::archive_key(archive, head.first_position),
            rows::archive_key(archive, u64::MAX),
        );
        let mut dropped = Vec::new();
        for row in t.archive.range::<&[u8; 16]>(&low..=&high)? {
            let (key, value) = row?;
            let (_, position) = rows::split_archive_key(key.value());
            let (id, time, size) = rows::decode_row(value.value());
            let old = trim.before_time_ms.is_some_and(|before| time < before);
            let over = trim.max_bytes.is_some_and(|max| head.bytes > max);
            if !(trim.all || old || over) || dropped.len() >= trim.limit {
                head.first_time_ms = time;
                break;
            }
            head.messages -= 1;
            head.bytes -= u64::from(size);
            head.first_position = position + 1;
            dropped.push((position, id));
        }
        if head.messages == 0 {
            head.first_position = head.next_position;
        }
        for (position, id) in &dropped {
            t.archive.remove(&rows::archive_key(archive, *position))?;
            self.release(t, *id)?;
        }
        let forget = trim.forget && head.messages == 0;
        if !dropped.is_empty() || forget {
            *self.head_mut(archive) = head;
            if forget {
                self.archives.remove(&archive);
            }
        }
        Ok(OpOutcome::Count(dropped.len() as u64))
    }

    /// Writes the counters of the archives this transaction changed.
    pub(super) fn save_heads(&mut self, t: &mut OpenTables<'_>) -> Result<(), StorageError> {
        for archive in self.touched.keys() {
            match self.archives.get(archive) {
                Some(head) => {
                    t.archive_heads.insert(*archive, &rows::encode_head(head))?;
                }
                None => {
                    t.archive_heads.remove(*archive)?;
                }
            }
        }
        Ok(())
    }

    /// After a commit: readers see the new heads.
    pub(super) fn publish_heads(&mut self) {
        if self.touched.is_empty() {
            return;
        }
        let mut shared = self.shared_heads.write().expect("archive heads lock");
        for (archive, _) in self.touched.drain() {
            match self.archives.get(&archive) {
                Some(head) => shared.insert(archive, *head),
                None => shared.remove(&archive),
            };
        }
    }
}
