//! What the runtime asks of the server during an invocation (key-value reads, publish
//! checks), and conversions between the runtime's and the broker's message shapes.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::value::RawValue;
use switchyard_client::{Message, PublishMessage};

use crate::broker::Broker;
use crate::runtime::{HostError, HostServices, PluginMessage, Publication};

/// Answers host calls from the broker and storage.
pub(super) struct BrokerServices {
    pub(super) broker: Arc<Broker>,
}

impl HostServices for BrokerServices {
    fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.broker
            .storage()
            .read_kv(plugin, key)
            .map_err(|error| HostError::new("storage_failed", error.to_string()))
    }

    fn check_publication(&self, publication: &Publication) -> Result<(), HostError> {
        self.broker
            .check_publication(&publication.topic, publish_message(publication))
            .map_err(|error| HostError::new(error.code(), error.to_string()))
    }
}

/// A plugin's publication as a publish request: JSON payloads stay JSON.
pub(super) fn publish_message(publication: &Publication) -> PublishMessage {
    let json = std::str::from_utf8(&publication.payload)
        .ok()
        .and_then(|text| RawValue::from_string(text.to_string()).ok());
    let (payload, payload_base64) = match json {
        Some(raw) => (Some(raw), None),
        None => (None, Some(BASE64.encode(&publication.payload))),
    };
    PublishMessage {
        payload,
        payload_base64,
        attributes: publication.attributes.iter().cloned().collect(),
        key: publication.key.clone(),
        dedup_id: None,
        delay_ms: None,
    }
}

/// A received message as the plugin sees it.
pub(super) fn plugin_message(queue: &str, message: &Message) -> PluginMessage {
    let payload = match &message.payload {
        Some(json) => json.get().as_bytes().to_vec(),
        None => message.payload_bytes().unwrap_or_default(),
    };
    PluginMessage {
        id: message.id.clone(),
        topic: message.topic.clone(),
        queue: queue.to_string(),
        key: message.key.clone(),
        attributes: message
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        payload,
        published_at_ms: message.published_at_ms,
        attempt: message.receive_count,
    }
}
