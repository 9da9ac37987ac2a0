//! Compact binary encodings of the two hot records: messages and deliveries. Configuration
//! records (topics, queues, subscriptions) are JSON; these are written on every publish and
//! every lease, so they are laid out by hand.

use super::{DeadLetterRecord, DeliveryRecord, StorageError, StoredMessage};

const MESSAGE_FORMAT: u8 = 1;
const FLAG_JSON: u8 = 1;
const FLAG_TOPIC: u8 = 2;
const FLAG_KEY: u8 = 4;
const FLAG_LEASED: u8 = 1;
const FLAG_DEAD_LETTER: u8 = 2;
/// Set when the lease count differs from the receive count (records written before lease
/// counts existed have neither flag nor field, and their lease count is their receive count).
const FLAG_LEASES: u8 = 4;
/// Set when the copy entered its queue later than the message was published (records
/// without it were enqueued at publish).
const FLAG_ENQUEUED: u8 = 8;
/// Set when the copy carries its message's key hash.
const FLAG_KEY_HASH: u8 = 16;
/// Set when the copy carries a fairness group hash.
const FLAG_GROUP_HASH: u8 = 32;
/// Set when the copy carries its message's payload size (not when it is 0).
const FLAG_SIZE: u8 = 64;

pub(crate) fn encode_message(message: &StoredMessage) -> Vec<u8> {
    let attrs_len: usize = message
        .attributes
        .iter()
        .map(|(k, v)| 6 + k.len() + v.len())
        .sum();
    let mut out = Vec::with_capacity(
        16 + message.topic.as_ref().map_or(0, String::len)
            + message.key.as_ref().map_or(0, String::len)
            + attrs_len
            + message.payload.len(),
    );
    let mut flags = 0;
    if message.is_json {
        flags |= FLAG_JSON;
    }
    if message.topic.is_some() {
        flags |= FLAG_TOPIC;
    }
    if message.key.is_some() {
        flags |= FLAG_KEY;
    }
    out.push(MESSAGE_FORMAT);
    out.push(flags);
    out.extend_from_slice(&message.published_at_ms.to_be_bytes());
    for text in [&message.topic, &message.key].into_iter().flatten() {
        put_short(&mut out, text);
    }
    out.extend_from_slice(&(message.attributes.len() as u16).to_be_bytes());
    for (name, value) in &message.attributes {
        put_short(&mut out, name);
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(&message.payload);
    out
}

/// The publish time of an encoded message (0 if the encoding is short).
pub(crate) fn published_at_ms(bytes: &[u8]) -> u64 {
    bytes
        .get(2..10)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

pub(crate) fn decode_message(bytes: &[u8]) -> Result<StoredMessage, StorageError> {
    let mut reader = Reader { bytes, at: 0 };
    let format = reader.u8()?;
    if format != MESSAGE_FORMAT {
        return Err(corrupt(format!("unknown message format {format}")));
    }
    let flags = reader.u8()?;
    let published_at_ms = reader.u64()?;
    let topic = if flags & FLAG_TOPIC != 0 {
        Some(reader.short_string()?)
    } else {
        None
    };
    let key = if flags & FLAG_KEY != 0 {
        Some(reader.short_string()?)
    } else {
        None
    };
    let count = reader.u16()? as usize;
    let mut attributes = std::collections::BTreeMap::new();
    for _ in 0..count {
        let name = reader.short_string()?;
        let len = reader.u32()? as usize;
        let value = reader.string(len)?;
        attributes.insert(name, value);
    }
    Ok(StoredMessage {
        topic,
        key,
        attributes,
        published_at_ms,
        is_json: flags & FLAG_JSON != 0,
        payload: bytes[reader.at..].to_vec(),
    })
}

pub(crate) fn encode_delivery(record: &DeliveryRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(21);
    let mut flags = 0;
    if record.leased {
        flags |= FLAG_LEASED;
    }
    if record.dead_letter.is_some() {
        flags |= FLAG_DEAD_LETTER;
    }
    if record.leases != record.receive_count {
        flags |= FLAG_LEASES;
    }
    if record.enqueued_at_ms.is_some() {
        flags |= FLAG_ENQUEUED;
    }
    if record.key_hash.is_some() {
        flags |= FLAG_KEY_HASH;
    }
    if record.group_hash.is_some() {
        flags |= FLAG_GROUP_HASH;
    }
    if record.size != 0 {
        flags |= FLAG_SIZE;
    }
    out.push(flags);
    out.extend_from_slice(&record.visible_at_ms.to_be_bytes());
    out.extend_from_slice(&record.receive_count.to_be_bytes());
    out.extend_from_slice(&record.first_received_at_ms.unwrap_or(0).to_be_bytes());
    if flags & FLAG_LEASES != 0 {
        out.extend_from_slice(&record.leases.to_be_bytes());
    }
    if let Some(at) = record.enqueued_at_ms {
        out.extend_from_slice(&at.to_be_bytes());
    }
    if let Some(hash) = record.key_hash {
        out.extend_from_slice(&hash.to_be_bytes());
    }
    if let Some(hash) = record.group_hash {
        out.extend_from_slice(&hash.to_be_bytes());
    }
    if record.size != 0 {
        out.extend_from_slice(&record.size.to_be_bytes());
    }
    if let Some(dead_letter) = &record.dead_letter {
        out.extend_from_slice(
            &serde_json::to_vec(dead_letter).expect("a dead-letter record serializes"),
        );
    }
    out
}

pub(crate) fn decode_delivery(bytes: &[u8]) -> Result<DeliveryRecord, StorageError> {
    let mut reader = Reader { bytes, at: 0 };
    let flags = reader.u8()?;
    let visible_at_ms = reader.u64()?;
    let receive_count = reader.u32()?;
    let first = reader.u64()?;
    let leases = if flags & FLAG_LEASES != 0 {
        reader.u32()?
    } else {
        receive_count
    };
    let enqueued_at_ms = if flags & FLAG_ENQUEUED != 0 {
        Some(reader.u64()?)
    } else {
        None
    };
    let key_hash = if flags & FLAG_KEY_HASH != 0 {
        Some(reader.u64()?)
    } else {
        None
    };
    let group_hash = if flags & FLAG_GROUP_HASH != 0 {
        Some(reader.u64()?)
    } else {
        None
    };
    let size = if flags & FLAG_SIZE != 0 {
        reader.u32()?
    } else {
        0
    };
    let dead_letter = if flags & FLAG_DEAD_LETTER != 0 {
        let record: DeadLetterRecord = serde_json::from_slice(&bytes[reader.at..])
            .map_err(|e| corrupt(format!("dead-letter record: {e}")))?;
        Some(Box::new(record))
    } else {
        None
    };
    Ok(DeliveryRecord {
        visible_at_ms,
        receive_count,
        leases,
        leased: flags & FLAG_LEASED != 0,
        first_received_at_ms: (first != 0).then_some(first),
        dead_letter,
        enqueued_at_ms,
        key_hash,
        group_hash,
        size,
    })
}

fn put_short(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u16).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn corrupt(what: String) -> StorageError {
    StorageError::Corrupt { what }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], StorageError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| corrupt("record is truncated".into()))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn u8(&mut self) -> Result<u8, StorageError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, StorageError> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32, StorageError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, StorageError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn string(&mut self, len: usize) -> Result<String, StorageError> {
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| corrupt("text is not UTF-8".into()))
    }
    fn short_string(&mut self) -> Result<String, StorageError> {
        let len = self.u16()? as usize;
        self.string(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trips() {
        let message = StoredMessage {
            topic: Some("signups".into()),
            key: Some("tenant-1".into()),
            attributes: [("kind".to_string(), "signup".to_string())].into(),
            published_at_ms: 1_700_000_000_000,
            is_json: true,
            payload: br#"{"email":"a@example.com"}"#.to_vec(),
        };
        assert_eq!(decode_message(&encode_message(&message)).unwrap(), message);
        let bare = StoredMessage {
            topic: None,
            key: None,
            attributes: Default::default(),
            published_at_ms: 1,
            is_json: false,
            payload: vec![0, 1, 2],
        };
        assert_eq!(decode_message(&encode_message(&bare)).unwrap(), bare);
    }

    #[test]
    fn delivery_round_trips_with_and_without_dead_letter() {
        let mut record = DeliveryRecord {
            visible_at_ms: 5,
            receive_count: 3,
            leases: 3,
            leased: true,
            first_received_at_ms: Some(4),
            dead_letter: None,
            enqueued_at_ms: None,
            key_hash: None,
            group_hash: None,
            size: 0,
        };
        assert_eq!(decode_delivery(&encode_delivery(&record)).unwrap(), record);
        record.leases = 7;
        assert_eq!(decode_delivery(&encode_delivery(&record)).unwrap(), record);
        record.enqueued_at_ms = Some(1_700_000_000_000);
        assert_eq!(decode_delivery(&encode_delivery(&record)).unwrap(), record);
        record.key_hash = Some(u64::MAX - 3);
        assert_eq!(decode_delivery(&encode_delivery(&record)).unwrap(), record);
        record.group_hash = Some(7);
        assert_eq!(decode_delivery(&encode_delivery(&record)).unwrap(), record);
        record.size = 64 << 20;
        assert_eq!(decode_delivery(&encode_delivery(&record)).unwrap(), record);
        record.dead_letter = Some(Box::new(DeadLetterRecord {
            source_queue: "mail".into(),
            reason: "max_receive_count (3) reached".into(),
            receive_count: 3,
            first_received_at_ms: Some(4),
            dead_lettered_at_ms: 9,
        }));
        assert_eq!(decode_delivery(&encode_delivery(&record)).unwrap(), record);
    }

    #[test]
    fn a_record_written_before_enqueue_times_reads_as_enqueued_at_publish() {
        // flags (leased), visible at 5, receive count 3, first received at 4: the layout
        // every earlier version wrote.
        let mut old = vec![FLAG_LEASED];
        old.extend_from_slice(&5u64.to_be_bytes());
        old.extend_from_slice(&3u32.to_be_bytes());
        old.extend_from_slice(&4u64.to_be_bytes());
        let record = decode_delivery(&old).unwrap();
        assert_eq!(record.enqueued_at_ms, None);
        assert_eq!((record.visible_at_ms, record.leases), (5, 3));
        let fresh = DeliveryRecord::default();
        assert_eq!(
            encode_delivery(&fresh).len(),
            21,
            "a copy enqueued at publish costs no byte more"
        );
    }

    #[test]
    fn truncated_records_are_corrupt_not_panics() {
        assert!(decode_delivery(&[1, 2, 3]).is_err());
        assert!(
            decode_message(&[MESSAGE_FORMAT, FLAG_TOPIC, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]).is_err()
        );
    }
}
