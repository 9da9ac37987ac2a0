//! Publishing to a topic (fan-out through subscriptions and their filters) and sending
//! straight to a queue. A message id is returned only after the message and all its
//! queue copies are committed; the payload is stored once, whatever the fan-out.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use switchyard_client::PublishMessage;

use super::filter::{Envelope, FilterIndex};
use super::queue::QueueHandle;
use super::{Broker, BrokerError, MAX_DELAY_MS, Route, format_id, now_ms};
use crate::storage::{
    ArchiveId, DedupEntry, DeliveryRecord, EncodedMessage, MessageId, Op, OpOutcome, PendingWrite,
    StoredMessage,
};

const MAX_ATTRIBUTES: usize = 64;
const MAX_ATTRIBUTE_NAME: usize = 256;
const MAX_ATTRIBUTE_VALUE: usize = 4096;
const MAX_KEY: usize = 256;
const MAX_DEDUP_ID: usize = 128;
/// Publishes and sends of more messages than this are prepared on a blocking thread.
const OFFLOAD_MESSAGES: usize = 32;

pub(super) struct Prepared {
    stored: StoredMessage,
    dedup_id: Option<String>,
    /// The message's own delay, which replaces its queues' (as in SQS); none: theirs.
    delay_ms: Option<u64>,
}

impl Broker {
    /// Publishes messages to a topic; returns their ids, in order, once durable. A message
    /// whose dedup id was seen within the dedup window gets the first message's id. When
    /// the topic keeps an archive, each message is archived in the same write.
    /// A batch of more than [`OFFLOAD_MESSAGES`] is validated and routed through the
    /// filters on a blocking thread, not on the async threads.
    pub async fn publish(
        self: &Arc<Self>,
        topic: &str,
        messages: Vec<PublishMessage>,
        batch: bool,
    ) -> Result<Vec<String>, BrokerError> {
        let (plan, pending, published) = if messages.len() > OFFLOAD_MESSAGES {
            let (broker, topic) = (self.clone(), topic.to_string());
            tokio::task::spawn_blocking(move || broker.submit_publish(&topic, messages, batch))
                .await
                .expect("routing a publish does not panic")?
        } else {
            self.submit_publish(topic, messages, batch)?
        };
        let sequence = pending.sequence();
        let ids = pending
            .then(move |result| Ok::<_, BrokerError>(plan.finish(&result?, sequence)))
            .await?;
        published.fetch_add(ids.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(ids)
    }

    /// Validates and routes a publish and submits its write (blocking work for a big batch).
    fn submit_publish(
        &self,
        topic: &str,
        messages: Vec<PublishMessage>,
        batch: bool,
    ) -> Result<(StorePlan, PendingWrite, Arc<AtomicU64>), BrokerError> {
        if !self.catalog().topics.contains_key(topic) {
            return Err(BrokerError::TopicNotFound { name: topic.into() });
        }
        let prepared = self.prepare_all(messages, Some(topic), batch)?;
        let scope = format!("t:{topic}");
        // Routes are taken and the write submitted under the gate (see `publish_gate`).
        let _gate = self.publish_gate.read().expect("publish gate poisoned");
        let routes = self.catalog().routes.get(topic).cloned();
        let Some(routes) = routes else {
            return Err(BrokerError::TopicNotFound { name: topic.into() });
        };
        let plan = self.plan_store(&scope, prepared, &routes.routes, Some(&routes.index));
        let (ops, plan) = plan.archived_in(routes.archive).take_ops();
        Ok((plan, self.storage.submit(ops), routes.published.clone()))
    }

    /// Sends messages straight to a queue; returns their ids, in order, once durable. A
    /// batch of more than [`OFFLOAD_MESSAGES`] is validated on a blocking thread.
    pub async fn send(
        self: &Arc<Self>,
        queue: &str,
        messages: Vec<PublishMessage>,
        batch: bool,
    ) -> Result<Vec<String>, BrokerError> {
        let (plan, pending) = if messages.len() > OFFLOAD_MESSAGES {
            let (broker, queue) = (self.clone(), queue.to_string());
            tokio::task::spawn_blocking(move || broker.submit_send(&queue, messages, batch))
                .await
                .expect("validating a send does not panic")?
        } else {
            self.submit_send(queue, messages, batch)?
        };
        let sequence = pending.sequence();
        pending
            .then(move |result| Ok(plan.finish(&result?, sequence)))
            .await
    }

    fn submit_send(
        &self,
        queue: &str,
        messages: Vec<PublishMessage>,
        batch: bool,
    ) -> Result<(StorePlan, PendingWrite), BrokerError> {
        let handle = self.queue(queue)?;
        let prepared = self.prepare_all(messages, None, batch)?;
        let routes = [Route {
            queue: handle,
            filter: None,
        }];
        let plan = self.plan_store(&format!("q:{queue}"), prepared, &routes, None);
        let (ops, plan) = plan.take_ops();
        Ok((plan, self.storage.submit(ops)))
    }

    pub(super) fn prepare_all(
        &self,
        messages: Vec<PublishMessage>,
        topic: Option<&str>,
        batch: bool,
    ) -> Result<Vec<Prepared>, BrokerError> {
        if batch {
            if messages.is_empty() {
                return Err(BrokerError::EmptyBatch);
            }
            if messages.len() > self.limits.max_batch_messages {
                return Err(BrokerError::BatchTooLarge {
                    count: messages.len(),
                    max: self.limits.max_batch_messages,
                });
            }
        }
        let now = now_ms();
        messages
            .into_iter()
            .enumerate()
            .map(|(index, message)| {
                let location = if batch {
                    format!("messages[{index}]: ")
                } else {
                    String::new()
                };
                self.prepare(message, topic, now, location)
            })
            .collect()
    }

    fn prepare(
        &self,
        message: PublishMessage,
        topic: Option<&str>,
        now: u64,
        location: String,
    ) -> Result<Prepared, BrokerError> {
        let invalid = |reason: String| BrokerError::InvalidPayload {
            location: location.clone(),
            reason,
        };
        let (payload, is_json) = match (message.payload, message.payload_base64) {
            (Some(json), None) => (json.get().as_bytes().to_vec(), true),
            (None, Some(b64)) => match BASE64.decode(b64.as_bytes()) {
                Ok(bytes) => (bytes, false),
                Err(e) => return Err(invalid(format!("payload_base64 is not valid base64: {e}"))),
            },
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "give either payload or payload_base64, not both".into(),
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "give a payload (any JSON) or payload_base64 (bytes)".into(),
                ));
            }
        };
        if payload.len() > self.limits.max_message_bytes {
            return Err(BrokerError::PayloadTooLarge {
                location,
                size: payload.len(),
                max: self.limits.max_message_bytes,
            });
        }
        if message.attributes.len() > MAX_ATTRIBUTES {
            return Err(invalid(format!(
                "{} attributes; the limit is {MAX_ATTRIBUTES}",
                message.attributes.len()
            )));
        }
        for (name, value) in &message.attributes {
            if name.is_empty() || name.len() > MAX_ATTRIBUTE_NAME {
                return Err(invalid(format!(
                    "attribute name {name:?} must be 1 to {MAX_ATTRIBUTE_NAME} bytes"
                )));
            }
            if value.len() > MAX_ATTRIBUTE_VALUE {
                return Err(invalid(format!(
                    "attribute {name:?} is {} bytes; the limit is {MAX_ATTRIBUTE_VALUE}",
                    value.len()
                )));
            }
        }
        if let Some(key) = &message.key
            && (key.is_empty() || key.len() > MAX_KEY)
        {
            return Err(invalid(format!("key must be 1 to {MAX_KEY} bytes")));
        }
        if let Some(dedup_id) = &message.dedup_id
            && (dedup_id.is_empty() || dedup_id.len() > MAX_DEDUP_ID)
        {
            return Err(invalid(format!(
                "dedup_id must be 1 to {MAX_DEDUP_ID} bytes"
            )));
        }
        let delay_ms = message.delay_ms;
        if let Some(delay_ms) = delay_ms
            && delay_ms > MAX_DELAY_MS
        {
            return Err(BrokerError::InvalidSetting {
                name: "delay_ms",
                reason: format!(
                    "{location}{delay_ms} is over the maximum of {MAX_DELAY_MS} (15 min)"
                ),
            });
        }
        Ok(Prepared {
            stored: StoredMessage {
                topic: topic.map(str::to_string),
                key: message.key,
                attributes: message.attributes,
                published_at_ms: now,
                is_json,
                payload,
            },
            dedup_id: message.dedup_id,
            delay_ms,
        })
    }

    /// Routes each message and turns it into a storage op; [`StorePlan::finish`] makes the
    /// copies visible once the ops are durable.
    pub(super) fn plan_store(
        &self,
        scope: &str,
        prepared: Vec<Prepared>,
        routes: &[Route],
        index: Option<&FilterIndex>,
    ) -> StorePlan {
        let now = now_ms();
        let ids = self.next_ids(prepared.len());
        let mut ops = Vec::with_capacity(prepared.len());
        let mut copies: Vec<Vec<(usize, DeliveryRecord)>> = Vec::with_capacity(prepared.len());
        let mut candidates = Vec::with_capacity(routes.len());
        for (message, id) in prepared.iter().zip(&ids) {
            let stored = &message.stored;
            match index {
                Some(index) => {
                    index.candidates(&stored.attributes, stored.key.as_deref(), &mut candidates)
                }
                None => {
                    candidates.clear();
                    candidates.extend(0..routes.len());
                }
            }
            let parse_payload = candidates.iter().any(|i| {
                routes[*i]
                    .filter
                    .as_ref()
                    .is_some_and(|f| f.reads_payload())
            });
            let parsed = if parse_payload && stored.is_json {
                serde_json::from_slice::<serde_json::Value>(&stored.payload).ok()
            } else {
                None
            };
            let envelope = Envelope {
                payload: parsed.as_ref(),
                attributes: &stored.attributes,
                key: stored.key.as_deref(),
            };
            let mut targets: Vec<(usize, DeliveryRecord)> = Vec::new();
            for &index in &candidates {
                let route = &routes[index];
                // Two subscriptions of a topic to one queue give it one copy.
                let queued = |(other, _): &(usize, DeliveryRecord)| {
                    Arc::ptr_eq(&routes[*other].queue, &route.queue)
                };
                if targets.iter().any(queued) {
                    continue;
                }
                if route.filter.as_ref().is_none_or(|f| f.matches(&envelope)) {
                    let delay = message.delay_ms.unwrap_or_else(|| {
                        route
                            .queue
                            .delay_ms
                            .load(std::sync::atomic::Ordering::Relaxed)
                    });
                    let copy = DeliveryRecord {
                        group_hash: route.queue.group_hash(&stored.attributes),
                        ..fresh_delivery(now + delay, stored)
                    };
                    targets.push((index, copy));
                }
            }
            ops.push(Op::PutMessage {
                id: *id,
                message: EncodedMessage::new(&message.stored),
                deliveries: targets
                    .iter()
                    .map(|(index, record)| (routes[*index].queue.id, record.clone()))
                    .collect(),
                dedup: message.dedup_id.as_ref().map(|dedup_id| DedupEntry {
                    scope: scope.to_string(),
                    dedup_id: dedup_id.clone(),
                    now_ms: now,
                    expires_at_ms: now + self.limits.dedup_window_ms,
                }),
                archive: None,
            });
            copies.push(targets);
        }
        // The queues copies go to, by route index: the plan may finish without `routes`.
        let mut queues: HashMap<usize, Arc<QueueHandle>> = HashMap::new();
        for (index, _) in copies.iter().flatten() {
            queues
                .entry(*index)
                .or_insert_with(|| routes[*index].queue.clone());
        }
        StorePlan {
            now,
            ids,
            copies,
            queues,
            ops,
        }
    }
}

/// Publishes routed and turned into ops, waiting for their write.
pub(super) struct StorePlan {
    now: u64,
    ids: Vec<MessageId>,
    copies: Vec<Vec<(usize, DeliveryRecord)>>,
    queues: HashMap<usize, Arc<QueueHandle>>,
    ops: Vec<Op>,
}

impl StorePlan {
    /// The same plan, each message also archived in `archive` (when the topic keeps one).
    pub(super) fn archived_in(mut self, archive: Option<ArchiveId>) -> Self {
        if let Some(archive) = archive {
            for op in &mut self.ops {
                if let Op::PutMessage { archive: slot, .. } = op {
                    *slot = Some(archive);
                }
            }
        }
        self
    }

    /// The storage ops to write (one per message), and the plan without them.
    pub(super) fn take_ops(mut self) -> (Vec<Op>, Self) {
        (std::mem::take(&mut self.ops), self)
    }

    /// Makes the copies committed by the write numbered `sequence` visible (`outcomes`
    /// are the ops' outcomes, in order); returns the message ids, a duplicate's being the
    /// first message's.
    pub(super) fn finish(self, outcomes: &[OpOutcome], sequence: u64) -> Vec<String> {
        let mut answer = Vec::with_capacity(self.ids.len());
        let mut per_queue: HashMap<usize, Vec<(MessageId, DeliveryRecord)>> = HashMap::new();
        for ((id, outcome), targets) in self.ids.iter().zip(outcomes).zip(self.copies) {
            match outcome {
                OpOutcome::Duplicate(first) => answer.push(format_id(*first)),
                _ => {
                    answer.push(format_id(*id));
                    for (index, record) in targets {
                        per_queue.entry(index).or_default().push((*id, record));
                    }
                }
            }
        }
        for (index, deliveries) in per_queue {
            add_copies(&self.queues[&index], deliveries, sequence, self.now);
        }
        answer
    }
}

/// A new copy of `message`, visible from `visible_at_ms`, enqueued at publish.
pub(crate) fn fresh_delivery(visible_at_ms: u64, message: &StoredMessage) -> DeliveryRecord {
    DeliveryRecord {
        visible_at_ms,
        key_hash: super::queue::key_hash(message.key.as_deref()),
        size: u32::try_from(message.payload.len()).unwrap_or(u32::MAX),
        ..DeliveryRecord::default()
    }
}

/// Makes copies committed by the write numbered `sequence` visible in a queue's memory
/// and wakes its long polls; not when the queue was deleted, or purged after that write
/// (the purge deleted them on disk).
pub(crate) fn add_copies(
    queue: &Arc<QueueHandle>,
    deliveries: Vec<(MessageId, DeliveryRecord)>,
    sequence: u64,
    now: u64,
) {
    if queue.is_deleted() || deliveries.is_empty() {
        return;
    }
    {
        let mut state = queue.lock();
        if state.purged_after(sequence) {
            return;
        }
        let dead_letters = deliveries
            .iter()
            .filter(|(_, record)| record.dead_letter.is_some())
            .count();
        queue
            .dead_letters_in
            .fetch_add(dead_letters as u64, std::sync::atomic::Ordering::Relaxed);
        for (id, record) in deliveries {
            state.insert(id, record, now);
        }
    }
    queue.ready.notify_waiters();
}
