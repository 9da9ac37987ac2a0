//! Consuming a queue: receive with long polling and leases, ack, nack, extend, peek,
//! message status, and the transitions time drives (visibility, dead letters, retention).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::value::RawValue;
use switchyard_client::{
    AckResponse, DeadLetterInfo, Delivery, DeliveryState, Message, MessageStatus, NackResponse,
    ReceiptFailure, ReceiveRequest,
};

use super::consume::settle;
use super::queue::{BatchView, Entry, QueueHandle, ReceiptProblem};
use super::receipt::Receipt;
use super::rollback::{
    Change, give_back, put_back, reschedule, restore_on_failure, revert_on_failure,
};
use super::{
    Broker, BrokerError, MAX_RECEIVE, MAX_VISIBILITY_MS, MAX_WAIT_MS, format_id, now_ms, parse_id,
};
use crate::storage::{DeadLetterRecord, MessageId, Op, OpOutcome, Settled, StoredMessage};

const MAX_RECEIPTS: usize = 1000;

/// When a buffered consumer's batch is formed: as soon as the queue holds `max_messages`
/// ready messages or `max_bytes` of ready payload, or the first ready message (in publish
/// order) has waited `max_wait_ms`; with a window of 0, whenever anything is ready. A batch
/// takes at most `max_messages` messages and `max_bytes` bytes (one message at least).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchRule {
    pub(crate) max_messages: u32,
    pub(crate) max_bytes: u64,
    pub(crate) max_wait_ms: u64,
}

impl BatchRule {
    /// `Ok` when the batch is formed at `now`; else when to look again (if a time is known:
    /// the window's end, or when the next timed message is due).
    fn due(&self, view: &BatchView, now: u64) -> Result<(), Option<u64>> {
        let Some(since) = view.waiting_since_ms else {
            return Err(view.next_due_ms);
        };
        let window_ends = since.saturating_add(self.max_wait_ms);
        if view.ready >= u64::from(self.max_messages)
            || view.ready_bytes >= self.max_bytes
            || now >= window_ends
        {
            return Ok(());
        }
        Err(Some(
            view.next_due_ms
                .map_or(window_ends, |due| due.min(window_ends)),
        ))
    }
}

/// What one lease attempt takes.
struct Take {
    max: usize,
    max_bytes: u64,
    /// The queue's visibility timeout when not set.
    visibility_ms: Option<u64>,
    /// A buffered consumer's rule; none for a plain receive.
    rule: Option<BatchRule>,
}

/// What one lease attempt did.
enum Leasing {
    /// Leased these (empty when all were gone by the time the lease was written).
    Leased(Vec<Message>),
    /// Nothing to lease yet; look again at this time, if one is known.
    Wait { wake_at_ms: Option<u64> },
}

impl Broker {
    /// Leases up to `max_messages` ready messages, waiting up to `wait_ms` for the first.
    /// Each lease (and its receive count) is durable before the messages are handed out.
    pub async fn receive(
        &self,
        queue: &str,
        request: ReceiveRequest,
    ) -> Result<Vec<Message>, BrokerError> {
        let max = request.max_messages.unwrap_or(1);
        if !(1..=MAX_RECEIVE).contains(&max) {
            return Err(setting(
                "max_messages",
                format!("{max} is outside 1..={MAX_RECEIVE}"),
            ));
        }
        let wait = request.wait_ms.unwrap_or(0);
        if wait > MAX_WAIT_MS {
            return Err(setting(
                "wait_ms",
                format!("{wait} is over the maximum of {MAX_WAIT_MS} (20 s)"),
            ));
        }
        if let Some(ms) = request.visibility_timeout_ms
            && ms > MAX_VISIBILITY_MS
        {
            return Err(setting(
                "visibility_timeout_ms",
                format!("{ms} is over the maximum of {MAX_VISIBILITY_MS} (12 h)"),
            ));
        }
        let handle = self.queue(queue)?;
        let take = Take {
            max: max as usize,
            max_bytes: u64::MAX,
            visibility_ms: request.visibility_timeout_ms,
            rule: None,
        };
        self.lease_waiting(&handle, take, wait).await
    }

    /// Leases a buffered consumer's batch from `queue` once `rule` says it is formed (see
    /// [`BatchRule`]), waiting up to `wait_ms` for that; nothing is leased while it waits.
    /// Empty when the wait ended first.
    pub(crate) async fn lease_batch(
        &self,
        queue: &str,
        rule: BatchRule,
        visibility_ms: u64,
        wait_ms: u64,
    ) -> Result<Vec<Message>, BrokerError> {
        let handle = self.queue(queue)?;
        let take = Take {
            max: rule.max_messages as usize,
            max_bytes: rule.max_bytes,
            visibility_ms: Some(visibility_ms.min(MAX_VISIBILITY_MS)),
            rule: Some(rule),
        };
        self.lease_waiting(&handle, take, wait_ms).await
    }

    /// Leases what `take` allows, waiting up to `wait_ms` for it: woken when messages
    /// become ready, and when the next timed message or the batch window is due.
    async fn lease_waiting(
        &self,
        handle: &Arc<QueueHandle>,
        take: Take,
        wait_ms: u64,
    ) -> Result<Vec<Message>, BrokerError> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
        loop {
            let notified = handle.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if handle.is_deleted() {
                return Err(BrokerError::QueueNotFound {
                    name: handle.name.clone(),
                });
            }
            let wake_at_ms = match self.lease_now(handle, &take).await? {
                Leasing::Leased(messages) => return Ok(messages),
                Leasing::Wait { wake_at_ms } => wake_at_ms,
            };
            if tokio::time::Instant::now() >= deadline || self.is_closing() {
                return Ok(Vec::new());
            }
            let until = match (take.rule, wake_at_ms) {
                // Plain receives keep waking on publishes only, as they always have.
                (Some(_), Some(at)) => {
                    let left = Duration::from_millis(at.saturating_sub(now_ms()));
                    deadline.min(tokio::time::Instant::now() + left)
                }
                _ => deadline,
            };
            let _ = tokio::time::timeout_at(until, notified).await;
        }
    }

    /// One attempt of [`Broker::lease_waiting`]: promotes what is due, then leases when
    /// something is ready (and the batch rule, if any, says the batch is formed). Each
    /// lease is durable before the messages are handed out.
    async fn lease_now(
        &self,
        handle: &Arc<QueueHandle>,
        take: &Take,
    ) -> Result<Leasing, BrokerError> {
        let target = self.dead_letter_target(handle);
        let now = now_ms();
        let (leased, dead_letters, pending, wake_at_ms) = {
            let mut state = handle.lock();
            let (_, dead_letters) = self.promote_locked(handle, &mut state, target.as_ref(), now);
            let due = match take.rule {
                Some(rule) => rule.due(&state.batch_view(), now),
                None => Ok(()),
            };
            let visibility = take
                .visibility_ms
                .unwrap_or(state.settings.visibility_timeout_ms);
            let leased = match due {
                Ok(()) => state.lease(take.max, take.max_bytes, now, visibility),
                Err(_) => Vec::new(),
            };
            let pending = (!leased.is_empty()).then(|| {
                let ops = leased
                    .iter()
                    .map(|(id, entry, _)| Op::UpdateDelivery {
                        queue: handle.id,
                        id: *id,
                        record: entry.record(),
                    })
                    .collect();
                self.storage.submit(ops)
            });
            (leased, dead_letters, pending, due.err().flatten())
        };
        if let Some(dead_letters) = dead_letters {
            dead_letters.finish_later();
        }
        let Some(pending) = pending else {
            return Ok(Leasing::Wait { wake_at_ms });
        };
        let sequence = pending.sequence();
        // From here until they are handed out, a dropped receive gives them back.
        let mut unclaimed = Unclaimed {
            storage: &self.storage,
            handle,
            leased,
        };
        match pending.wait().await {
            Ok(outcomes) => {
                let messages = self.hand_out(handle, &unclaimed.leased, &outcomes).await;
                if messages.is_ok() {
                    unclaimed.leased.clear();
                }
                messages.map(Leasing::Leased)
            }
            Err(error) => {
                let leased = std::mem::take(&mut unclaimed.leased);
                put_back(handle, |state| {
                    for (id, entry, before) in &leased {
                        state.revert(*id, entry, before, sequence, now);
                    }
                });
                Err(error.into())
            }
        }
    }

    async fn hand_out(
        &self,
        handle: &Arc<QueueHandle>,
        leased: &[Change],
        outcomes: &[OpOutcome],
    ) -> Result<Vec<Message>, BrokerError> {
        let mut kept = Vec::with_capacity(leased.len());
        for ((id, entry, _), outcome) in leased.iter().zip(outcomes) {
            if *outcome == OpOutcome::Missing {
                // Purged or deleted on disk meanwhile: it is gone.
                handle.lock().remove(*id);
            } else {
                kept.push((*id, entry));
            }
        }
        let bodies = self
            .read_bodies(kept.iter().map(|(id, _)| *id).collect())
            .await?;
        Ok(kept
            .into_iter()
            .zip(bodies)
            .filter_map(|((id, entry), body)| {
                let receipt = Receipt {
                    queue: handle.id,
                    id,
                    lease: entry.leases,
                };
                Some(message_view(
                    id,
                    body?,
                    entry,
                    Some(receipt.encode(&self.receipt_key)),
                    false,
                ))
            })
            .collect())
    }

    /// Deletes received messages. Every receipt is checked first: a malformed one refuses
    /// the whole request. When none can be acked, the first failure is the error.
    pub async fn ack(
        &self,
        queue: &str,
        receipts: Vec<String>,
    ) -> Result<AckResponse, BrokerError> {
        let handle = self.queue(queue)?;
        let decoded = decode_receipts(&receipts, handle.id, &self.receipt_key)?;
        let now = now_ms();
        let mut failed = Vec::new();
        let mut removed = Vec::new();
        let (pending, freed) = {
            let mut state = handle.lock();
            for (text, receipt) in receipts.iter().zip(&decoded) {
                match state.check_receipt(receipt.id, receipt.lease, now) {
                    Ok(()) => {
                        let entry = state.remove(receipt.id).expect("checked above");
                        removed.push((receipt.id, entry));
                    }
                    Err(problem) => failed.push(failure(text, problem)),
                }
            }
            if removed.is_empty() {
                return Err(first_failure(&failed));
            }
            let ops = removed
                .iter()
                .map(|(id, entry)| settle(&handle, *id, entry, Settled::Acked, now))
                .collect();
            (self.storage.submit(ops), state.freed_any())
        };
        let acked = removed.len() as u64;
        restore_on_failure(&handle, pending, removed, now).await?;
        if freed {
            // The next message of an acked one's key is ready.
            handle.ready.notify_waiters();
        }
        Ok(AckResponse { acked, failed })
    }

    /// Returns received messages to the queue, visible again after `delay_ms`; without
    /// one, after the step of the queue's retry schedule (at once without a schedule).
    pub async fn nack(
        &self,
        queue: &str,
        receipts: Vec<String>,
        delay_ms: Option<u64>,
    ) -> Result<NackResponse, BrokerError> {
        if let Some(delay) = delay_ms
            && delay > MAX_VISIBILITY_MS
        {
            return Err(setting(
                "delay_ms",
                format!("{delay} is over the maximum of {MAX_VISIBILITY_MS} (12 h)"),
            ));
        }
        let handle = self.queue(queue)?;
        let decoded = decode_receipts(&receipts, handle.id, &self.receipt_key)?;
        let now = now_ms();
        let mut failed = Vec::new();
        let mut ops = Vec::new();
        let mut changes = Vec::new();
        let target = self.dead_letter_target(&handle);
        let (pending, dead_letters) = {
            let mut state = handle.lock();
            for (text, receipt) in receipts.iter().zip(&decoded) {
                match state.check_receipt(receipt.id, receipt.lease, now) {
                    Ok(()) => {
                        let until = match delay_ms {
                            Some(delay) => now + delay,
                            None => state.retry_at(receipt.id, now),
                        };
                        let (record, change) = reschedule(&mut state, receipt.id, until, true);
                        changes.push(change);
                        ops.push(Op::UpdateDelivery {
                            queue: handle.id,
                            id: receipt.id,
                            record,
                        });
                    }
                    Err(problem) => failed.push(failure(text, problem)),
                }
            }
            if ops.is_empty() {
                return Err(first_failure(&failed));
            }
            let pending = self.storage.submit(ops);
            let (_, dead_letters) = self.promote_locked(&handle, &mut state, target.as_ref(), now);
            (pending, dead_letters)
        };
        // The moves are out of memory already: carry them out whatever becomes of the nack.
        if let Some(dead_letters) = dead_letters {
            dead_letters.finish_later();
        }
        let nacked = changes.len() as u64;
        revert_on_failure(&handle, pending, changes, now).await?;
        handle.ready.notify_waiters();
        Ok(NackResponse { nacked, failed })
    }

    /// Sets a received message's lease to end `visibility_ms` from now; returns when.
    pub async fn extend(
        &self,
        queue: &str,
        receipt: &str,
        visibility_ms: u64,
    ) -> Result<u64, BrokerError> {
        if visibility_ms > MAX_VISIBILITY_MS {
            return Err(setting(
                "visibility_timeout_ms",
                format!("{visibility_ms} is over the maximum of {MAX_VISIBILITY_MS} (12 h)"),
            ));
        }
        let handle = self.queue(queue)?;
        let receipt = Receipt::decode(receipt, handle.id, &self.receipt_key)?;
        let now = now_ms();
        let until = now + visibility_ms;
        let (pending, change) = {
            let mut state = handle.lock();
            state
                .check_receipt(receipt.id, receipt.lease, now)
                .map_err(problem_error)?;
            let (record, change) = reschedule(&mut state, receipt.id, until, false);
            let pending = self.storage.submit(vec![Op::UpdateDelivery {
                queue: handle.id,
                id: receipt.id,
                record,
            }]);
            (pending, change)
        };
        revert_on_failure(&handle, pending, vec![change], now).await?;
        Ok(until)
    }

    /// Extends every lease of `receipts` that still holds to `visibility_ms` from now, in
    /// one write; answers, per receipt, whether its lease still held (and now lasts).
    pub async fn extend_all(
        &self,
        queue: &str,
        receipts: &[String],
        visibility_ms: u64,
    ) -> Result<Vec<bool>, BrokerError> {
        if visibility_ms > MAX_VISIBILITY_MS {
            return Err(setting(
                "visibility_timeout_ms",
                format!("{visibility_ms} is over the maximum of {MAX_VISIBILITY_MS} (12 h)"),
            ));
        }
        let handle = self.queue(queue)?;
        let decoded = decode_receipts(receipts, handle.id, &self.receipt_key)?;
        let now = now_ms();
        let until = now + visibility_ms;
        let mut held = Vec::with_capacity(decoded.len());
        let mut ops = Vec::new();
        let mut changes = Vec::new();
        let pending = {
            let mut state = handle.lock();
            for receipt in &decoded {
                let holds = state.check_receipt(receipt.id, receipt.lease, now).is_ok();
                if holds {
                    let (record, change) = reschedule(&mut state, receipt.id, until, false);
                    changes.push(change);
                    ops.push(Op::UpdateDelivery {
                        queue: handle.id,
                        id: receipt.id,
                        record,
                    });
                }
                held.push(holds);
            }
            (!ops.is_empty()).then(|| self.storage.submit(ops))
        };
        if let Some(pending) = pending {
            revert_on_failure(&handle, pending, changes, now).await?;
        }
        Ok(held)
    }

    /// Browses a queue in id order without leasing anything.
    pub async fn peek(
        &self,
        queue: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Message>, BrokerError> {
        if !(1..=MAX_RECEIVE).contains(&limit) {
            return Err(setting(
                "limit",
                format!("{limit} is outside 1..={MAX_RECEIVE}"),
            ));
        }
        let after = match after {
            Some(text) => Some(
                parse_id(text).ok_or_else(|| BrokerError::InvalidMessageId { id: text.into() })?,
            ),
            None => None,
        };
        let handle = self.queue(queue)?;
        let entries = handle.lock().browse(after, limit as usize);
        let bodies = self
            .read_bodies(entries.iter().map(|(id, _)| *id).collect())
            .await?;
        Ok(entries
            .into_iter()
            .zip(bodies)
            .filter_map(|((id, entry), body)| Some(message_view(id, body?, &entry, None, true)))
            .collect())
    }

    /// Every queue that holds a message, and in which state; and the queues where a copy
    /// was acked or expired recently.
    pub async fn message_status(&self, id: &str) -> Result<MessageStatus, BrokerError> {
        let message_id =
            parse_id(id).ok_or_else(|| BrokerError::InvalidMessageId { id: id.into() })?;
        let queues = self.queues();
        let mut deliveries = Vec::new();
        for queue in &queues {
            let state = queue.lock();
            if let Some(entry) = state.get(message_id) {
                deliveries.push(Delivery {
                    queue: queue.name.clone(),
                    state: entry.state(),
                    receive_count: entry.receive_count,
                    visible_at_ms: entry.visible_at_ms,
                    settled_at_ms: None,
                    dead_letter: entry.dead_letter.as_deref().map(dead_letter_view),
                });
            }
        }
        let storage = self.storage.clone();
        let (body, settlements) = tokio::task::spawn_blocking(move || {
            let body = storage.read_messages(&[message_id])?.pop().flatten();
            Ok::<_, crate::storage::StorageError>((body, storage.read_settlements(message_id)?))
        })
        .await
        .expect("reading a message does not panic")?;
        for settled in settlements {
            let Some(queue) = queues.iter().find(|q| q.id == settled.queue) else {
                continue;
            };
            deliveries.push(Delivery {
                queue: queue.name.clone(),
                state: match settled.outcome {
                    Settled::Acked => DeliveryState::Acked,
                    Settled::Expired => DeliveryState::Expired,
                    Settled::Discarded => DeliveryState::Discarded,
                },
                receive_count: settled.receive_count,
                visible_at_ms: settled.at_ms,
                settled_at_ms: Some(settled.at_ms),
                dead_letter: None,
            });
        }
        if deliveries.is_empty() {
            return Err(BrokerError::MessageNotFound { id: id.into() });
        }
        Ok(MessageStatus {
            id: format_id(message_id),
            published_at_ms: body
                .as_ref()
                .map_or(super::id_time_ms(message_id), |b| b.published_at_ms),
            topic: body.and_then(|b| b.topic),
            deliveries,
        })
    }

    /// Makes due messages visible in one queue and dead-letters what is over its limit.
    pub(crate) async fn promote(&self, handle: &Arc<QueueHandle>, now: u64) {
        let target = self.dead_letter_target(handle);
        let (promoted, dead_letters) = {
            let mut state = handle.lock();
            self.promote_locked(handle, &mut state, target.as_ref(), now)
        };
        if promoted > 0 {
            handle.ready.notify_waiters();
        }
        if let Some(dead_letters) = dead_letters {
            dead_letters.finish().await;
        }
    }

    async fn read_bodies(
        &self,
        ids: Vec<MessageId>,
    ) -> Result<Vec<Option<StoredMessage>>, BrokerError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let storage = self.storage.clone();
        let bodies = tokio::task::spawn_blocking(move || storage.read_messages(&ids))
            .await
            .expect("reading messages does not panic")?;
        Ok(bodies)
    }
}

/// Leases a receive wrote and has not handed out yet. Dropped with some left (the receive's
/// future was dropped: a long poll whose client went away, a timeout), it gives those back
/// without counting the delivery, visible at once, so they are not hidden for the lease's
/// length from everyone.
struct Unclaimed<'a> {
    storage: &'a crate::storage::Storage,
    handle: &'a Arc<QueueHandle>,
    leased: Vec<Change>,
}

impl Drop for Unclaimed<'_> {
    fn drop(&mut self) {
        if self.leased.is_empty() {
            return;
        }
        let now = now_ms();
        let pending = {
            let mut state = self.handle.lock();
            let unclaimed: Vec<MessageId> = self
                .leased
                .iter()
                .filter(|(id, leased, _)| state.is_unchanged(*id, leased))
                .map(|(id, _, _)| *id)
                .collect();
            let ops: Vec<Op> = unclaimed
                .into_iter()
                .map(|id| Op::UpdateDelivery {
                    queue: self.handle.id,
                    id,
                    record: give_back(&mut state, id, now).0,
                })
                .collect();
            // Submitted under the lock, after the lease's write: the disk ends as memory.
            (!ops.is_empty()).then(|| self.storage.submit_background(ops))
        };
        let Some(pending) = pending else { return };
        self.handle.ready.notify_waiters();
        tracing::debug!(queue = %self.handle.name, count = self.leased.len(), "a dropped receive gave its leases back");
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let queue = self.handle.name.clone();
            runtime.spawn(async move {
                if let Err(error) = pending.wait().await {
                    tracing::warn!(%error, %queue, "giving back a dropped receive's leases failed");
                }
            });
        }
    }
}

fn decode_receipts(
    receipts: &[String],
    queue: crate::storage::QueueId,
    key: &super::receipt::ReceiptKey,
) -> Result<Vec<Receipt>, BrokerError> {
    if receipts.is_empty() {
        return Err(BrokerError::InvalidReceipt {
            reason: "no receipts given".into(),
        });
    }
    if receipts.len() > MAX_RECEIPTS {
        return Err(BrokerError::InvalidReceipt {
            reason: format!("{} receipts; the limit is {MAX_RECEIPTS}", receipts.len()),
        });
    }
    receipts
        .iter()
        .map(|r| Receipt::decode(r, queue, key))
        .collect()
}

fn failure(receipt: &str, problem: ReceiptProblem) -> ReceiptFailure {
    let error = problem_error(problem);
    ReceiptFailure {
        receipt: receipt.into(),
        code: error.code().into(),
        message: error.to_string(),
    }
}

fn problem_error(problem: ReceiptProblem) -> BrokerError {
    match problem {
        ReceiptProblem::Expired => BrokerError::ReceiptExpired,
        ReceiptProblem::Gone => BrokerError::ReceiptMessageGone,
    }
}

fn first_failure(failed: &[ReceiptFailure]) -> BrokerError {
    match failed.first().map(|f| f.code.as_str()) {
        Some("receipt_expired") => BrokerError::ReceiptExpired,
        _ => BrokerError::ReceiptMessageGone,
    }
}

fn setting(name: &'static str, reason: String) -> BrokerError {
    BrokerError::InvalidSetting { name, reason }
}

fn dead_letter_view(record: &DeadLetterRecord) -> DeadLetterInfo {
    DeadLetterInfo {
        source_queue: record.source_queue.clone(),
        reason: record.reason.clone(),
        receive_count: record.receive_count,
        first_received_at_ms: record.first_received_at_ms,
        dead_lettered_at_ms: record.dead_lettered_at_ms,
    }
}

fn message_view(
    id: MessageId,
    body: StoredMessage,
    entry: &Entry,
    receipt: Option<String>,
    with_state: bool,
) -> Message {
    let (payload, payload_base64) = payload_fields(body.is_json, body.payload);
    Message {
        id: format_id(id),
        receipt,
        payload,
        payload_base64,
        attributes: body.attributes,
        key: body.key,
        topic: body.topic,
        published_at_ms: body.published_at_ms,
        receive_count: entry.receive_count,
        first_received_at_ms: entry.first_received_at_ms,
        state: with_state.then(|| entry.state()),
        dead_letter: entry.dead_letter.as_deref().map(dead_letter_view),
    }
}

/// A stored payload as the wire shows it: JSON verbatim, or bytes as base64.
pub(crate) fn payload_fields(
    is_json: bool,
    payload: Vec<u8>,
) -> (Option<Box<RawValue>>, Option<String>) {
    if is_json {
        let text = String::from_utf8(payload).unwrap_or_default();
        (RawValue::from_string(text).ok(), None)
    } else {
        (None, Some(BASE64.encode(&payload)))
    }
}
