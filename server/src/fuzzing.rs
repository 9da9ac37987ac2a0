//! Entry points of the fuzz targets in `fuzz/` (hidden, not an API): each takes arbitrary
//! input to one parser of outside input and panics only where that parser breaks its
//! contract (it panics itself, a round trip changes a value, a check disagrees with
//! another). Holds no rule of its own; it reaches the internals it drives and nothing else.

mod service;

use std::collections::BTreeMap;
use std::fmt::Debug;

use axum::http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::broker::filter::{Envelope, Filter, FilterIndex};
use crate::broker::receipt::{Receipt, ReceiptKey};
use crate::storage::{
    AuditRecord, ConsumerRecord, PluginRecord, QueueRecord, ReplayRecord, SubscriptionRecord,
    TokenRecord, TopicRecord, codec, tables,
};
use service::{ROUTES, Service};

/// Splits one fuzz input in two at its first `0xFF` byte, which no JSON or UTF-8 text
/// holds (the second part is empty when there is none).
pub fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0xFF) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// Drives `Filter::compile` (the subscription pattern language) with `pattern` read as
/// JSON and, when it compiles, `Filter::matches` with `event` read as an envelope
/// `{"payload": .., "attributes": {..}, "key": ".."}` (anything else: an event without
/// payload, attributes or key). A compiled filter must compile again to the same tree,
/// its stored (re-serialized) form must compile and match alike, a filter that does not
/// read the payload must not depend on it, and the filter index must offer it for every
/// event it matches.
pub fn filter(pattern: &[u8], event: &[u8]) {
    let Ok(pattern) = serde_json::from_slice::<Value>(pattern) else {
        return;
    };
    let Ok(filter) = Filter::compile(&pattern) else {
        return;
    };
    let event = Event::read(event);
    let envelope = event.envelope();
    let matched = filter.matches(&envelope);
    let again = Filter::compile(&pattern).expect("a pattern that compiled compiles again");
    assert_eq!(format!("{again:?}"), format!("{filter:?}"), "{pattern}");
    let stored: Value = serde_json::from_str(&pattern.to_string()).expect("a pattern reads back");
    let reread = Filter::compile(&stored).expect("a stored pattern compiles");
    assert_eq!(
        reread.matches(&envelope),
        matched,
        "stored form of {pattern}"
    );
    if !filter.reads_payload() {
        let unparsed = Envelope {
            payload: None,
            ..envelope
        };
        assert_eq!(
            filter.matches(&unparsed),
            matched,
            "{pattern} reads the payload"
        );
    }
    let index = FilterIndex::build([Some(&filter)]);
    let mut candidates = Vec::new();
    index.candidates(&event.attributes, event.key.as_deref(), &mut candidates);
    assert!(
        !matched || candidates == [0],
        "the index skips {pattern}, which matches"
    );
}

/// An event as a filter sees it.
#[derive(Default)]
struct Event {
    payload: Option<Value>,
    attributes: BTreeMap<String, String>,
    key: Option<String>,
}

impl Event {
    fn read(bytes: &[u8]) -> Self {
        let Ok(Value::Object(mut fields)) = serde_json::from_slice(bytes) else {
            return Self::default();
        };
        let attributes = match fields.remove("attributes") {
            Some(Value::Object(attributes)) => attributes
                .into_iter()
                .filter_map(|(name, value)| Some((name, value.as_str()?.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        };
        let key = fields
            .remove("key")
            .and_then(|key| key.as_str().map(str::to_string));
        Self {
            payload: fields.remove("payload"),
            attributes,
            key,
        }
    }

    fn envelope(&self) -> Envelope<'_> {
        Envelope {
            payload: self.payload.as_ref(),
            attributes: &self.attributes,
            key: self.key.as_deref(),
        }
    }
}

/// The queue [`receipt`] decodes receipts for.
const RECEIPT_QUEUE: u64 = 3;

/// The key [`receipt`] checks receipts with (its seeds are receipts under it).
pub const RECEIPT_KEY: [u8; 32] = [7; 32];

/// Drives `Receipt::decode` (receipts sent to ack, nack and extend) with `text`: a
/// receipt that decodes belongs to the queue asked for and encodes back to `text`. Also
/// hands out the receipt the text's bytes name and checks that it decodes for its own
/// queue only.
pub fn receipt(text: &str) {
    let key = ReceiptKey::new(&RECEIPT_KEY);
    if let Ok(receipt) = Receipt::decode(text, RECEIPT_QUEUE, &key) {
        assert_eq!(receipt.queue, RECEIPT_QUEUE);
        assert_eq!(
            receipt.encode(&key),
            text,
            "a receipt reads back as its text"
        );
    }
    let mut body = [0u8; 28];
    for (to, from) in body.iter_mut().zip(text.bytes()) {
        *to = from;
    }
    let named = Receipt {
        queue: u64::from_be_bytes(body[..8].try_into().expect("8 bytes")),
        id: u128::from_be_bytes(body[8..24].try_into().expect("16 bytes")),
        lease: u32::from_be_bytes(body[24..].try_into().expect("4 bytes")),
    };
    let handed_out = named.encode(&key);
    let decoded = Receipt::decode(&handed_out, named.queue, &key);
    assert_eq!(decoded.expect("a handed-out receipt decodes"), named);
    assert!(Receipt::decode(&handed_out, named.queue ^ 1, &key).is_err());
}

/// Drives `codec::decode_message` (the stored message body: topic, key, attributes,
/// payload) with `bytes`: a message that decodes encodes to bytes that decode to it, and
/// `codec::published_at_ms` reads the same publish time.
pub fn message_record(bytes: &[u8]) {
    let Ok(message) = codec::decode_message(bytes) else {
        return;
    };
    assert_eq!(codec::published_at_ms(bytes), message.published_at_ms);
    let encoded = codec::encode_message(&message);
    let decoded = codec::decode_message(&encoded).expect("an encoded message decodes");
    assert_eq!(decoded, message);
}

/// Drives `codec::decode_delivery` (one queue's copy of a message: lease state, counts,
/// dead-letter record) with `bytes`: a record that decodes encodes to bytes that decode
/// to it.
pub fn delivery_record(bytes: &[u8]) {
    let Ok(record) = codec::decode_delivery(bytes) else {
        return;
    };
    let encoded = codec::encode_delivery(&record);
    let decoded = codec::decode_delivery(&encoded).expect("an encoded delivery decodes");
    assert_eq!(decoded, record);
}

/// Drives `tables::split_dedup_expiry_key` (rows of the dedup expiry table, read at
/// start and by the sweep) with `bytes`: a row that splits is the key of its parts.
pub fn dedup_expiry_row(bytes: &[u8]) {
    if let Some((expires_at_ms, key)) = tables::split_dedup_expiry_key(bytes) {
        assert_eq!(tables::dedup_expiry_key(expires_at_ms, key), bytes);
    }
}

/// Drives the JSON decoding of every record stored as JSON (topics, queues,
/// subscriptions, replay jobs, tokens, audit entries, plugins, consumers) with `bytes`, as
/// storage reads them back: a record that decodes is stored and read back unchanged.
pub fn json_records(bytes: &[u8]) {
    reads_back::<TopicRecord>(bytes);
    reads_back::<QueueRecord>(bytes);
    reads_back::<SubscriptionRecord>(bytes);
    reads_back::<ReplayRecord>(bytes);
    reads_back::<TokenRecord>(bytes);
    reads_back::<AuditRecord>(bytes);
    reads_back::<PluginRecord>(bytes);
    reads_back::<ConsumerRecord>(bytes);
}

fn reads_back<T: Serialize + DeserializeOwned + PartialEq + Debug>(bytes: &[u8]) {
    let Ok(record) = serde_json::from_slice::<T>(bytes) else {
        return;
    };
    let stored = serde_json::to_vec(&record).expect("a record serializes");
    let read: T = serde_json::from_slice(&stored).expect("a stored record reads back");
    assert_eq!(read, record);
}

/// Drives the whole HTTP application (`api::app`: authentication, the JSON body
/// extractor, the handlers and the broker's and dispatcher's checks of each request type)
/// with the body after `data`'s first byte, sent to the route that byte picks from a
/// fixed list. The application runs once per process on a temporary database, with topic
/// `t` (archived) subscribed by queue `q`, queue `dlq`, plugin `p` (no version) and its
/// consumer `c`; what a request changes is undone after it, and long polls return at
/// once. No body may make it answer a 5xx, and every refusal carries the
/// `{"error": {"code", "message"}}` shape. Returns the status (none for an empty input).
pub fn request(data: &[u8]) -> Option<StatusCode> {
    let (&pick, body) = data.split_first()?;
    let route = &ROUTES[usize::from(pick) % ROUTES.len()];
    let service = Service::get();
    let path = service.path(route.path);
    let (status, answer) = service.call(route.method.clone(), &path, body.to_vec());
    assert!(
        !status.is_server_error(),
        "{} {path} answered {status}: {}",
        route.method,
        String::from_utf8_lossy(&answer)
    );
    if !status.is_success() {
        let error: Value = serde_json::from_slice(&answer).expect("a refusal is JSON");
        assert!(error["error"]["code"].is_string(), "{error}");
        assert!(error["error"]["message"].is_string(), "{error}");
        return Some(status);
    }
    service.undo(route, &path, &answer);
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_cuts_at_the_first_byte_no_text_holds() {
        assert_eq!(split(b"{}\xff{\"a\":1}"), (&b"{}"[..], &b"{\"a\":1}"[..]));
        assert_eq!(split(b"{}"), (&b"{}"[..], &b""[..]));
    }

    #[test]
    fn filter_takes_patterns_that_compile_and_ones_that_do_not() {
        let event =
            br#"{"payload":{"plan":"pro","n":[1,2]},"attributes":{"kind":"signup"},"key":"k"}"#;
        for pattern in [
            &br#"{"attributes":{"kind":["signup"]},"payload":{"plan":[{"prefix":"p"}]}}"#[..],
            br#"{"$or":[{"key":["k"]},{"payload":{"n":[{"numeric":[">",1]}]}}]}"#,
            br#"{"payload":{"plan":[{"anything-but":{"suffix":"o"}}]}}"#,
            br#"{"payload":[]}"#,
            b"not json",
        ] {
            filter(pattern, event);
            filter(pattern, b"\x00");
        }
    }

    #[test]
    fn receipt_takes_real_receipts_and_nonsense() {
        let key = ReceiptKey::new(&RECEIPT_KEY);
        let real = Receipt {
            queue: RECEIPT_QUEUE,
            id: 42,
            lease: 1,
        };
        receipt(&real.encode(&key));
        for text in ["", "nonsense", "AAAA", "é=="] {
            receipt(text);
        }
    }

    #[test]
    fn stored_record_decoders_take_truncated_and_whole_records() {
        let mut message = vec![1, 6];
        message.extend_from_slice(&5u64.to_be_bytes());
        message.extend_from_slice(&[0, 1, b't', 0, 1, b'k', 0, 1, 0, 1, b'a', 0, 0, 0, 1]);
        message.extend_from_slice(b"v{}");
        message_record(&message);
        let mut delivery = vec![2];
        delivery.extend_from_slice(&[0; 20]);
        delivery.extend_from_slice(br#"{"source_queue":"q","reason":"r","receive_count":1,"first_received_at_ms":null,"dead_lettered_at_ms":3}"#);
        delivery_record(&delivery);
        for cut in 0..message.len() {
            message_record(&message[..cut]);
        }
        for cut in 0..delivery.len() {
            delivery_record(&delivery[..cut]);
        }
        dedup_expiry_row(b"\0\0\0\0\0\0\0\x09t:x\0d");
        dedup_expiry_row(b"\0\x01");
        json_records(br#"{"name":"t","created_at_ms":1}"#);
        json_records(
            br#"{"id":"s","topic":"t","queue":"q","filter":{"a":[1.5]},"created_at_ms":1}"#,
        );
        json_records(b"[");
    }
}
