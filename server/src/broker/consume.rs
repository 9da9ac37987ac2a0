//! Completing a consumer's batch: the outcome of every message (ack, retry, dead-letter),
//! the messages the plugin published and its other writes (key-value), applied in one
//! durable write, so that either all of it happened or none of it did.

use std::sync::Arc;

use switchyard_client::PublishMessage;

use super::dead_letter::dead_letter_record;
use super::publish::add_copies;
use super::queue::{Entry, QueueHandle};
use super::receipt::Receipt;
use super::rollback::{self, Change as Rescheduled, put_back};
use super::{Broker, BrokerError, MAX_VISIBILITY_MS, now_ms};
use crate::storage::{DeliveryRecord, MessageId, Op, OpOutcome, Settled};

/// What a consumer decided for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Delete it.
    Ack,
    /// Deliver it again after the delay (ms).
    Retry {
        /// Delay before it is visible again.
        delay_ms: Option<u64>,
    },
    /// Move it to the dead-letter queue (or drop it when there is none).
    DeadLetter {
        /// Why.
        reason: String,
    },
    /// Give it back without counting this delivery: the server, not the consumer, could
    /// not handle it (e.g. the plugin could not be instantiated), so it must not move the
    /// message towards its dead-letter queue.
    Return {
        /// Delay before it is visible again.
        delay_ms: Option<u64>,
    },
}

/// What completing a batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    /// Messages acked.
    pub acked: u64,
    /// Messages returned for another delivery.
    pub retried: u64,
    /// Messages dead-lettered (or dropped, without a dead-letter queue).
    pub dead_lettered: u64,
    /// Messages whose lease had already ended: their outcome was not applied.
    pub lost_leases: u64,
    /// Messages published.
    pub published: u64,
    /// Whether the batch's publications and other writes were discarded because a lease of
    /// the batch had ended (another consumer may be handling that message now): its other
    /// messages were retried instead of taking their outcomes.
    pub voided: bool,
}

/// A message's change, kept to undo it when the write fails.
enum Change {
    Removed(MessageId, Entry),
    Rescheduled(Rescheduled),
    Moved(MessageId, Entry, DeliveryRecord),
}

impl Broker {
    /// Checks a message a plugin wants to publish, without publishing it.
    pub fn check_publication(
        &self,
        topic: &str,
        message: PublishMessage,
    ) -> Result<(), BrokerError> {
        if !self.catalog().topics.contains_key(topic) {
            return Err(BrokerError::TopicNotFound { name: topic.into() });
        }
        self.prepare_all(vec![message], Some(topic), false)
            .map(drop)
    }

    /// Applies a batch's outcomes (by receipt), publishes `publications` and applies
    /// `extra` (e.g. key-value writes) in one durable write. Outcomes whose lease ended
    /// meanwhile are skipped (the message is delivered again anyway). When any lease ended
    /// and the batch has publications or writes, none of those commit and every message
    /// still leased is retried: effects commit only with all of the batch's leases, so two
    /// workers can never both commit effects for the same message.
    pub async fn complete_batch(
        &self,
        queue: &str,
        outcomes: Vec<(String, BatchOutcome)>,
        publications: Vec<(String, PublishMessage)>,
        extra: Vec<Op>,
    ) -> Result<BatchSummary, BrokerError> {
        let handle = self.queue(queue)?;
        for (_, outcome) in &outcomes {
            if let BatchOutcome::Retry {
                delay_ms: Some(delay),
            }
            | BatchOutcome::Return {
                delay_ms: Some(delay),
            } = outcome
                && *delay > MAX_VISIBILITY_MS
            {
                return Err(BrokerError::InvalidSetting {
                    name: "delay_ms",
                    reason: format!("{delay} is over the maximum of {MAX_VISIBILITY_MS} (12 h)"),
                });
            }
        }
        let receipts = outcomes
            .iter()
            .map(|(text, _)| Receipt::decode(text, handle.id, &self.receipt_key))
            .collect::<Result<Vec<_>, _>>()?;
        // Gate, catalog, then the queue: resolve the dead-letter queue and the routes, and
        // submit under the publish gate (see `publish_gate`) as a publish does.
        let dead_letter_queue = handle.lock().settings.dead_letter_queue.clone();
        let gate = self.publish_gate.read().expect("publish gate poisoned");
        let (target, plans) = {
            let catalog = self.catalog();
            let target = dead_letter_queue.and_then(|name| catalog.queues.get(&name).cloned());
            let mut plans = Vec::new();
            for (topic, message) in publications {
                let routes = match (
                    catalog.topics.contains_key(&topic),
                    catalog.routes.get(&topic),
                ) {
                    (false, _) => return Err(BrokerError::TopicNotFound { name: topic }),
                    (true, routes) => routes.cloned().unwrap_or_default(),
                };
                let prepared = self.prepare_all(vec![message], Some(&topic), false)?;
                let plan = self
                    .plan_store(
                        &format!("t:{topic}"),
                        prepared,
                        &routes.routes,
                        Some(&routes.index),
                    )
                    .archived_in(routes.archive);
                plans.push((routes, plan));
            }
            (target, plans)
        };
        let now = now_ms();
        let mut summary = BatchSummary::default();
        let mut changes = Vec::with_capacity(outcomes.len());
        let mut ops = Vec::with_capacity(outcomes.len() + plans.len() + extra.len());
        let (pending, plans) = {
            let mut state = handle.lock();
            let held: Vec<bool> = receipts
                .iter()
                .map(|receipt| state.check_receipt(receipt.id, receipt.lease, now).is_ok())
                .collect();
            let all_leased = held.iter().all(|held| *held);
            let (plans, extra) = if all_leased || (plans.is_empty() && extra.is_empty()) {
                (plans, extra)
            } else {
                summary.voided = true;
                (Vec::new(), Vec::new())
            };
            for ((receipt, (_, outcome)), held) in receipts.iter().zip(outcomes).zip(held) {
                if !held {
                    summary.lost_leases += 1;
                    continue;
                }
                let id = receipt.id;
                let outcome = if summary.voided {
                    BatchOutcome::Retry { delay_ms: None }
                } else {
                    outcome
                };
                match outcome {
                    BatchOutcome::Ack => {
                        let entry = state.remove(id).expect("checked above");
                        ops.push(settle(&handle, id, &entry, Settled::Acked, now));
                        changes.push(Change::Removed(id, entry));
                        summary.acked += 1;
                    }
                    BatchOutcome::Retry { delay_ms } => {
                        let until = match delay_ms {
                            Some(delay) => now.saturating_add(delay),
                            None => state.retry_at(id, now),
                        };
                        let (record, change) = rollback::reschedule(&mut state, id, until, true);
                        ops.push(Op::UpdateDelivery {
                            queue: handle.id,
                            id,
                            record,
                        });
                        changes.push(Change::Rescheduled(change));
                        summary.retried += 1;
                    }
                    BatchOutcome::Return { delay_ms } => {
                        let until = now.saturating_add(delay_ms.unwrap_or(0));
                        let (record, change) = rollback::give_back(&mut state, id, until);
                        ops.push(Op::UpdateDelivery {
                            queue: handle.id,
                            id,
                            record,
                        });
                        changes.push(Change::Rescheduled(change));
                        summary.retried += 1;
                    }
                    BatchOutcome::DeadLetter { reason } => {
                        let entry = state.remove(id).expect("checked above");
                        match &target {
                            Some(target) => {
                                let record = dead_letter_record(&handle, id, &entry, reason, now);
                                ops.push(Op::MoveDelivery {
                                    from: handle.id,
                                    to: target.id,
                                    id,
                                    record: record.clone(),
                                });
                                changes.push(Change::Moved(id, entry, record));
                            }
                            None => {
                                ops.push(settle(&handle, id, &entry, Settled::Discarded, now));
                                changes.push(Change::Removed(id, entry));
                            }
                        }
                        summary.dead_lettered += 1;
                    }
                }
            }
            let mut taken = Vec::with_capacity(plans.len());
            for (routes, plan) in plans {
                let (plan_ops, plan) = plan.take_ops();
                taken.push((routes, plan, plan_ops.len()));
                ops.extend(plan_ops);
            }
            ops.extend(extra);
            (self.storage.submit(ops), taken)
        };
        drop(gate);
        let sequence = pending.sequence();
        let results = match pending.wait().await {
            Ok(results) => results,
            Err(error) => {
                undo(&handle, changes, sequence, now);
                return Err(error.into());
            }
        };
        let (outcome_results, mut rest) = results.split_at(changes.len());
        let mut moved = Vec::new();
        for (change, result) in changes.into_iter().zip(outcome_results) {
            if let Change::Moved(id, entry, record) = change {
                match result {
                    OpOutcome::Done => moved.push((id, record)),
                    // The dead-letter queue went away meanwhile: the message stays.
                    OpOutcome::TargetGone => {
                        put_back(&handle, |state| state.restore(id, &entry, sequence, now))
                    }
                    // Merged into a copy the dead-letter queue holds, or gone already.
                    _ => {}
                }
            }
        }
        if let Some(target) = &target
            && !moved.is_empty()
        {
            add_copies(target, moved, sequence, now);
        }
        for (routes, plan, count) in plans {
            let (mine, after) = rest.split_at(count);
            rest = after;
            let ids = plan.finish(mine, sequence).len() as u64;
            routes
                .published
                .fetch_add(ids, std::sync::atomic::Ordering::Relaxed);
            summary.published += ids;
        }
        handle.ready.notify_waiters();
        Ok(summary)
    }
}

/// The op that deletes a copy and remembers how it left (for message status).
pub(super) fn settle(
    handle: &QueueHandle,
    id: MessageId,
    entry: &Entry,
    outcome: Settled,
    now: u64,
) -> Op {
    Op::SettleDelivery {
        queue: handle.id,
        id,
        outcome,
        receive_count: entry.receive_count,
        at_ms: now,
    }
}

fn undo(handle: &Arc<QueueHandle>, changes: Vec<Change>, sequence: u64, now: u64) {
    put_back(handle, |state| {
        for change in changes {
            match change {
                Change::Removed(id, entry) | Change::Moved(id, entry, _) => {
                    state.restore(id, &entry, sequence, now)
                }
                Change::Rescheduled((id, changed, before)) => {
                    state.revert(id, &changed, &before, sequence, now)
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use switchyard_client::{CreateQueue, Message, PublishMessage, ReceiveRequest};

    use super::*;
    use crate::config::Config;

    /// A broker with a queue `q` (dead letters to `dlq` after `max_receive_count`
    /// deliveries), a topic `effects` → queue `sink`, and `count` messages sent to `q`.
    async fn broker(dir: &std::path::Path, count: usize, max_receive_count: u32) -> Arc<Broker> {
        let broker = Broker::open(&Config::for_data_dir(dir)).unwrap();
        for (name, dlq) in [("dlq", None), ("q", Some("dlq")), ("sink", None)] {
            let queue = CreateQueue {
                name: name.into(),
                max_receive_count: dlq.map(|_| max_receive_count),
                dead_letter_queue: dlq.map(str::to_string),
                ..Default::default()
            };
            broker.create_queue(queue).await.unwrap();
        }
        broker.create_topic("effects", None).await.unwrap();
        let subscription = switchyard_client::CreateSubscription {
            topic: "effects".into(),
            queue: "sink".into(),
            filter: None,
            start: None,
        };
        broker.create_subscription(subscription).await.unwrap();
        let messages = (0..count)
            .map(|n| PublishMessage::json(&n).unwrap())
            .collect();
        broker.send("q", messages, false).await.unwrap();
        broker
    }

    async fn lease(broker: &Broker, visibility_ms: u64) -> Vec<Message> {
        let request = ReceiveRequest {
            max_messages: Some(10),
            wait_ms: Some(1_000),
            visibility_timeout_ms: Some(visibility_ms),
        };
        broker.receive("q", request).await.unwrap()
    }

    fn stats(broker: &Broker, queue: &str) -> switchyard_client::QueueStats {
        broker.get_queue(queue).unwrap().stats.unwrap()
    }

    #[tokio::test]
    async fn a_returned_delivery_does_not_count_towards_the_dead_letter_queue() {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker(dir.path(), 1, 2).await;
        for _ in 0..5 {
            let leased = lease(&broker, 30_000).await;
            assert_eq!(leased.len(), 1, "the message is back each time");
            assert_eq!(leased[0].receive_count, 1, "no delivery was counted before");
            let receipt = leased[0].receipt.clone().unwrap();
            let outcome = BatchOutcome::Return { delay_ms: None };
            let summary = broker
                .complete_batch("q", vec![(receipt, outcome)], Vec::new(), Vec::new())
                .await
                .unwrap();
            assert_eq!(summary.retried, 1);
        }
        assert_eq!(stats(&broker, "dlq").ready, 0);
    }

    #[tokio::test]
    async fn effects_commit_only_with_every_lease_of_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker(dir.path(), 2, 10).await;
        let first = lease(&broker, 1).await;
        assert_eq!(first.len(), 2);
        // The leases end; another consumer leases both messages again.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let second = lease(&broker, 30_000).await;
        assert_eq!(second.len(), 2, "the first leases have ended");
        let publish = || vec![("effects".to_string(), PublishMessage::json(&"e").unwrap())];
        let acks = |batch: &[Message]| {
            batch
                .iter()
                .map(|m| (m.receipt.clone().unwrap(), BatchOutcome::Ack))
                .collect::<Vec<_>>()
        };
        // The late first worker completes one message of its batch: nothing of it lands.
        let late = broker
            .complete_batch("q", acks(&first[..1]), publish(), Vec::new())
            .await
            .unwrap();
        assert!(late.voided, "{late:?}");
        assert_eq!((late.acked, late.lost_leases, late.published), (0, 1, 0));
        // A batch mixing a held lease and a lost one: none of its effects, and the held
        // message is retried rather than acked.
        let mixed = vec![
            (second[0].receipt.clone().unwrap(), BatchOutcome::Ack),
            (first[1].receipt.clone().unwrap(), BatchOutcome::Ack),
        ];
        let summary = broker
            .complete_batch("q", mixed, publish(), Vec::new())
            .await
            .unwrap();
        assert!(summary.voided, "{summary:?}");
        assert_eq!((summary.acked, summary.retried), (0, 1), "{summary:?}");
        assert_eq!(stats(&broker, "sink").ready, 0, "no effect committed");
        // The holder of the current lease commits its effects.
        let held = lease(&broker, 30_000).await;
        assert_eq!(held.len(), 1, "the retried message");
        let mut batch = acks(&held);
        batch.extend(acks(&second[1..]));
        let summary = broker
            .complete_batch("q", batch, publish(), Vec::new())
            .await
            .unwrap();
        assert!(!summary.voided, "{summary:?}");
        assert_eq!((summary.acked, summary.published), (2, 1), "{summary:?}");
        assert_eq!(stats(&broker, "sink").ready, 1);
    }

    #[tokio::test]
    async fn extending_a_batch_reports_which_leases_still_held() {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker(dir.path(), 2, 10).await;
        let first = lease(&broker, 30_000).await;
        let receipt = first[0].receipt.clone().unwrap();
        broker
            .complete_batch(
                "q",
                vec![(receipt, BatchOutcome::Ack)],
                Vec::new(),
                Vec::new(),
            )
            .await
            .unwrap();
        let receipts: Vec<String> = first.iter().map(|m| m.receipt.clone().unwrap()).collect();
        let held = broker.extend_all("q", &receipts, 60_000).await.unwrap();
        assert_eq!(held, [false, true]);
        assert_eq!(stats(&broker, "q").in_flight, 1);
    }
}
