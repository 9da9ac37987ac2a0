//! Every redb table Switchyard keeps, with its key encoding. Keys are big-endian bytes so
//! that ranges scan in id order.

use redb::TableDefinition;

use super::{MessageId, QueueId};

/// Bump when the on-disk layout changes incompatibly.
pub(crate) const SCHEMA_VERSION: u64 = 1;

/// `schema_version`, `next_queue_id`, `next_archive_id`.
pub(crate) const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
/// Topic name → JSON [`super::TopicRecord`].
pub(crate) const TOPICS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("topics");
/// Queue name → JSON [`super::QueueRecord`].
pub(crate) const QUEUES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("queues");
/// Subscription id → JSON [`super::SubscriptionRecord`].
pub(crate) const SUBSCRIPTIONS: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("subscriptions");
/// Message id → encoded [`super::StoredMessage`]: each payload once, however wide the fan-out.
pub(crate) const MESSAGES: TableDefinition<'_, &[u8; 16], &[u8]> = TableDefinition::new("messages");
/// (queue id, message id) → encoded [`super::DeliveryRecord`]: one row per queue copy.
pub(crate) const DELIVERIES: TableDefinition<'_, &[u8; 24], &[u8]> =
    TableDefinition::new("deliveries");
/// (message id, queue id) → how the copy left the queue: [`super::Settled`] byte, when
/// (ms), receive count. Kept for a while so that message status can say "acked".
pub(crate) const SETTLED: TableDefinition<'_, &[u8; 24], &[u8; 13]> =
    TableDefinition::new("settled");
/// (settled at ms, message id, queue id) → nothing: the settlements the sweep by message id
/// (see [`SETTLED_SWEPT_MS`]) has passed or will not reach, swept by when they were settled.
pub(crate) const SETTLED_LATE: TableDefinition<'_, &[u8; 32], ()> =
    TableDefinition::new("settled_late");
/// `META` key: settlements of messages published before then (ms) have been visited by the
/// sweep in message id order; later settlements of such messages go to [`SETTLED_LATE`].
pub(crate) const SETTLED_SWEPT_MS: &str = "settled_swept_ms";
/// (archive id, position) → (message id, archive time, stored size): see [`super::archive`].
pub(crate) const ARCHIVE: TableDefinition<'_, &[u8; 16], &[u8; 28]> =
    TableDefinition::new("archive");
/// Archive id → (next position, last archive time), so positions never repeat, even after
/// retention emptied an archive.
pub(crate) const ARCHIVE_HEADS: TableDefinition<'_, u64, &[u8; 16]> =
    TableDefinition::new("archive_heads");
/// Replay job id → JSON [`super::ReplayRecord`].
pub(crate) const REPLAYS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("replays");
/// `<scope>\0<dedup id>` → (message id, expires at ms).
pub(crate) const DEDUP: TableDefinition<'_, &str, &[u8; 24]> = TableDefinition::new("dedup");
/// (expires at ms, `<scope>\0<dedup id>`) → nothing: dedup entries in the order they expire.
pub(crate) const DEDUP_EXPIRY: TableDefinition<'_, &[u8], ()> =
    TableDefinition::new("dedup_expiry");
/// `META` key, set once [`DEDUP_EXPIRY`] lists every entry of [`DEDUP`].
pub(crate) const DEDUP_EXPIRY_BUILT: &str = "dedup_expiry_built";

pub(crate) fn message_key(id: MessageId) -> [u8; 16] {
    id.to_be_bytes()
}

pub(crate) fn delivery_key(queue: QueueId, id: MessageId) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&queue.to_be_bytes());
    key[8..].copy_from_slice(&id.to_be_bytes());
    key
}

pub(crate) fn split_delivery_key(key: &[u8; 24]) -> (QueueId, MessageId) {
    let queue = u64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
    let id = u128::from_be_bytes(key[8..].try_into().expect("16 bytes"));
    (queue, id)
}

/// First and last possible delivery keys of one queue.
pub(crate) fn queue_range(queue: QueueId) -> ([u8; 24], [u8; 24]) {
    (delivery_key(queue, 0), delivery_key(queue, u128::MAX))
}

pub(crate) fn settled_key(id: MessageId, queue: QueueId) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(&id.to_be_bytes());
    key[16..].copy_from_slice(&queue.to_be_bytes());
    key
}

pub(crate) fn settled_late_key(at_ms: u64, id: MessageId, queue: QueueId) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&at_ms.to_be_bytes());
    key[8..].copy_from_slice(&settled_key(id, queue));
    key
}

/// (settled at, message id, queue id).
pub(crate) fn split_settled_late_key(key: &[u8; 32]) -> (u64, MessageId, QueueId) {
    let at = u64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
    let id = u128::from_be_bytes(key[8..24].try_into().expect("16 bytes"));
    let queue = u64::from_be_bytes(key[24..].try_into().expect("8 bytes"));
    (at, id, queue)
}

pub(crate) fn encode_settled(outcome: u8, at_ms: u64, receive_count: u32) -> [u8; 13] {
    let mut value = [0u8; 13];
    value[0] = outcome;
    value[1..9].copy_from_slice(&at_ms.to_be_bytes());
    value[9..].copy_from_slice(&receive_count.to_be_bytes());
    value
}

pub(crate) fn decode_settled(value: &[u8; 13]) -> (u8, u64, u32) {
    let at = u64::from_be_bytes(value[1..9].try_into().expect("8 bytes"));
    let count = u32::from_be_bytes(value[9..].try_into().expect("4 bytes"));
    (value[0], at, count)
}

pub(crate) fn dedup_key(scope: &str, dedup_id: &str) -> String {
    format!("{scope}\0{dedup_id}")
}

pub(crate) fn dedup_expiry_key(expires_at_ms: u64, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len());
    out.extend_from_slice(&expires_at_ms.to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    out
}

/// (expires at, dedup key); `None` when the row is malformed.
pub(crate) fn split_dedup_expiry_key(row: &[u8]) -> Option<(u64, &str)> {
    let (at, key) = row.split_at_checked(8)?;
    let at = u64::from_be_bytes(at.try_into().ok()?);
    Some((at, std::str::from_utf8(key).ok()?))
}

pub(crate) fn encode_dedup(id: MessageId, expires_at_ms: u64) -> [u8; 24] {
    let mut value = [0u8; 24];
    value[..16].copy_from_slice(&id.to_be_bytes());
    value[16..].copy_from_slice(&expires_at_ms.to_be_bytes());
    value
}

pub(crate) fn decode_dedup(value: &[u8; 24]) -> (MessageId, u64) {
    let id = u128::from_be_bytes(value[..16].try_into().expect("16 bytes"));
    let expires = u64::from_be_bytes(value[16..].try_into().expect("8 bytes"));
    (id, expires)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_keys_sort_by_queue_then_id() {
        let a = delivery_key(1, u128::MAX);
        let b = delivery_key(2, 0);
        assert!(a < b);
        assert_eq!(split_delivery_key(&delivery_key(7, 42)), (7, 42));
        let (lo, hi) = queue_range(3);
        assert!(lo <= delivery_key(3, 5) && delivery_key(3, 5) <= hi);
    }

    #[test]
    fn time_ordered_keys_sort_by_time_and_split_back() {
        assert!(settled_late_key(1, u128::MAX, 9) < settled_late_key(2, 0, 0));
        assert_eq!(
            split_settled_late_key(&settled_late_key(5, 7, 3)),
            (5, 7, 3)
        );
        assert!(dedup_expiry_key(1, "zz") < dedup_expiry_key(2, "a"));
        assert_eq!(
            split_dedup_expiry_key(&dedup_expiry_key(4, "t:x\0d")),
            Some((4, "t:x\0d"))
        );
    }
}
