//! Topic archives as stored: one row per archived message, keyed by (archive id, position),
//! holding the message id, its archive time and its stored size. The body itself lives once
//! in `messages`, where the archive row counts as one reference, like a queue copy. Also the
//! reads that replay and preview need (blocking, each in one read transaction).

use std::collections::HashMap;

use redb::{ReadOnlyTable, ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::tables::{self, ARCHIVE, ARCHIVE_HEADS, MESSAGES};
use super::{MessageId, Storage, StorageError, StoredMessage, codec};

/// An archive's id: a topic keeps the same one while it exists.
pub type ArchiveId = u64;

/// What an archive holds now; positions count up from 0 and never repeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveHead {
    /// The position the next archived message gets.
    pub next_position: u64,
    /// The oldest position still archived (`next_position` when empty).
    pub first_position: u64,
    /// Messages archived.
    pub messages: u64,
    /// Their stored size in bytes (payload, attributes, key).
    pub bytes: u64,
    /// Archive time of the oldest message (when not empty).
    pub first_time_ms: u64,
    /// Archive time of the newest message ever archived.
    pub last_time_ms: u64,
}

/// One archived message, read back.
#[derive(Debug, Clone)]
pub struct ArchivedMessage {
    /// Its position in the archive.
    pub position: u64,
    /// Its archive time: the publish time, made non-decreasing along positions.
    pub time_ms: u64,
    /// The message id.
    pub id: MessageId,
    /// The body.
    pub message: StoredMessage,
}

/// Archive heads, shared between the writer (which changes them after each commit) and
/// readers.
pub(crate) type SharedHeads = std::sync::Arc<std::sync::RwLock<HashMap<ArchiveId, ArchiveHead>>>;

pub(crate) fn archive_key(archive: ArchiveId, position: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&archive.to_be_bytes());
    key[8..].copy_from_slice(&position.to_be_bytes());
    key
}

pub(crate) fn split_archive_key(key: &[u8; 16]) -> (ArchiveId, u64) {
    let archive = u64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
    let position = u64::from_be_bytes(key[8..].try_into().expect("8 bytes"));
    (archive, position)
}

/// Row value: message id, archive time, stored size.
pub(crate) fn encode_row(id: MessageId, time_ms: u64, bytes: u32) -> [u8; 28] {
    let mut value = [0u8; 28];
    value[..16].copy_from_slice(&id.to_be_bytes());
    value[16..24].copy_from_slice(&time_ms.to_be_bytes());
    value[24..].copy_from_slice(&bytes.to_be_bytes());
    value
}

pub(crate) fn decode_row(value: &[u8; 28]) -> (MessageId, u64, u32) {
    let id = u128::from_be_bytes(value[..16].try_into().expect("16 bytes"));
    let time = u64::from_be_bytes(value[16..24].try_into().expect("8 bytes"));
    let bytes = u32::from_be_bytes(value[24..].try_into().expect("4 bytes"));
    (id, time, bytes)
}

/// Heads row value: next position, last archive time.
pub(crate) fn encode_head(head: &ArchiveHead) -> [u8; 16] {
    let mut value = [0u8; 16];
    value[..8].copy_from_slice(&head.next_position.to_be_bytes());
    value[8..].copy_from_slice(&head.last_time_ms.to_be_bytes());
    value
}

pub(crate) fn decode_head(value: &[u8; 16]) -> (u64, u64) {
    let next = u64::from_be_bytes(value[..8].try_into().expect("8 bytes"));
    let last = u64::from_be_bytes(value[8..].try_into().expect("8 bytes"));
    (next, last)
}

/// Rebuilds every archive's head from its rows and saved counters; each row is one
/// reference to its message body.
pub(crate) fn recover_heads(
    archive: &ReadOnlyTable<&'static [u8; 16], &'static [u8; 28]>,
    heads_table: &ReadOnlyTable<u64, &'static [u8; 16]>,
    mut reference: impl FnMut(MessageId),
) -> Result<HashMap<ArchiveId, ArchiveHead>, StorageError> {
    let mut heads: HashMap<ArchiveId, ArchiveHead> = HashMap::new();
    for row in heads_table.iter()? {
        let (key, value) = row?;
        let (next, last) = decode_head(value.value());
        heads.insert(
            key.value(),
            ArchiveHead {
                next_position: next,
                first_position: next,
                last_time_ms: last,
                ..ArchiveHead::default()
            },
        );
    }
    for row in archive.iter()? {
        let (key, value) = row?;
        let (id, position) = split_archive_key(key.value());
        let (message, time, bytes) = decode_row(value.value());
        let head = heads.entry(id).or_default();
        if head.messages == 0 {
            head.first_position = position;
            head.first_time_ms = time;
        }
        head.messages += 1;
        head.bytes += u64::from(bytes);
        head.next_position = head.next_position.max(position + 1);
        head.last_time_ms = head.last_time_ms.max(time);
        reference(message);
    }
    Ok(heads)
}

impl Storage {
    /// The head of an archive, if it ever archived anything.
    pub fn archive_head(&self, archive: ArchiveId) -> Option<ArchiveHead> {
        self.archive_heads
            .read()
            .expect("archive heads lock")
            .get(&archive)
            .copied()
    }

    /// Every archive that has a head, with it.
    pub fn archive_heads(&self) -> Vec<(ArchiveId, ArchiveHead)> {
        let heads = self.archive_heads.read().expect("archive heads lock");
        heads.iter().map(|(id, head)| (*id, *head)).collect()
    }

    /// Archived messages at positions `from..to`, oldest first, at most `limit` (blocking).
    /// Positions dropped by retention are skipped.
    pub fn read_archive(
        &self,
        archive: ArchiveId,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<ArchivedMessage>, StorageError> {
        if from >= to {
            return Ok(Vec::new());
        }
        let txn = self.db()?.begin_read()?;
        let rows = txn.open_table(ARCHIVE)?;
        let bodies = txn.open_table(MESSAGES)?;
        let (low, high) = (archive_key(archive, from), archive_key(archive, to));
        let mut out = Vec::new();
        for row in rows.range::<&[u8; 16]>(&low..&high)?.take(limit) {
            let (key, value) = row?;
            out.push(read_one(&bodies, key.value(), value.value())?);
        }
        Ok(out)
    }
    /// Hands the newest `limit` archived messages, newest first, one at a time to `visit`,
    /// stopping early once their payloads add up to `max_bytes` (the message that crosses
    /// it is the last one). Holds one message at a time. Returns whether `max_bytes` stopped
    /// it. Blocking.
    pub fn scan_archive_newest(
        &self,
        archive: ArchiveId,
        limit: usize,
        max_bytes: u64,
        mut visit: impl FnMut(ArchivedMessage),
    ) -> Result<bool, StorageError> {
        let txn = self.db()?.begin_read()?;
        let rows = txn.open_table(ARCHIVE)?;
        let bodies = txn.open_table(MESSAGES)?;
        let (low, high) = (archive_key(archive, 0), archive_key(archive, u64::MAX));
        let mut bytes = 0u64;
        for row in rows.range::<&[u8; 16]>(&low..=&high)?.rev().take(limit) {
            if bytes >= max_bytes {
                return Ok(true);
            }
            let (key, value) = row?;
            let message = read_one(&bodies, key.value(), value.value())?;
            bytes += message.message.payload.len() as u64;
            visit(message);
        }
        Ok(false)
    }

    /// The first position whose archive time is at or after `time_ms` (the next position
    /// when there is none), by binary search over the archive's contiguous positions
    /// (archive times never decrease along positions). Blocking.
    pub fn archive_position_at(
        &self,
        archive: ArchiveId,
        time_ms: u64,
    ) -> Result<u64, StorageError> {
        let txn = self.db()?.begin_read()?;
        let rows = txn.open_table(ARCHIVE)?;
        let next = match txn.open_table(ARCHIVE_HEADS)?.get(archive)? {
            Some(value) => decode_head(value.value()).0,
            None => 0,
        };
        let (low, high) = (archive_key(archive, 0), archive_key(archive, u64::MAX));
        let mut range = rows.range::<&[u8; 16]>(&low..=&high)?;
        let Some(first) = range.next() else {
            return Ok(next);
        };
        let first = split_archive_key(first?.0.value()).1;
        let last = match range.next_back() {
            Some(row) => split_archive_key(row?.0.value()).1,
            None => first,
        };
        // The answer lies in first..=last+1: find the first position with time >= time_ms.
        let (mut lo, mut hi) = (first, last + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let time = match rows.get(&archive_key(archive, mid))? {
                Some(value) => decode_row(value.value()).1,
                None => {
                    return Err(StorageError::Corrupt {
                        what: format!("archive {archive} has no position {mid}"),
                    });
                }
            };
            if time >= time_ms {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(lo)
    }
}

fn read_one(
    bodies: &ReadOnlyTable<&'static [u8; 16], &'static [u8]>,
    key: &[u8; 16],
    value: &[u8; 28],
) -> Result<ArchivedMessage, StorageError> {
    let (_, position) = split_archive_key(key);
    let (id, time_ms, _) = decode_row(value);
    let body = bodies
        .get(&tables::message_key(id))?
        .ok_or_else(|| StorageError::Corrupt {
            what: format!("archived message {id:032x} has no body"),
        })?;
    Ok(ArchivedMessage {
        position,
        time_ms,
        id,
        message: codec::decode_message(body.value())?,
    })
}
