//! Dead letters: moving messages that reached `max_receive_count` to the queue's
//! dead-letter queue with their history and the reason, and redriving them back. A moved
//! copy's retention counts from the move.

use std::sync::Arc;

use super::bounded::CHUNK;
use super::publish::add_copies;
use super::queue::{Entry, QueueHandle, QueueState, enqueued_at};
use super::rollback::put_back;
use super::{Broker, BrokerError, now_ms};
use crate::storage::{DeadLetterRecord, DeliveryRecord, MessageId, Op, OpOutcome, PendingWrite};

/// Dead-letter moves submitted to storage; [`DeadLetters::finish`] settles memory once
/// their write is durable.
#[must_use = "submitted moves are out of the source queue's memory until finished"]
pub(crate) struct DeadLetters {
    source: Arc<QueueHandle>,
    target: Arc<QueueHandle>,
    planned: Vec<Planned>,
    pending: PendingWrite,
}

struct Planned {
    id: MessageId,
    source: Entry,
    record: DeliveryRecord,
}

impl Broker {
    /// A queue's dead-letter queue, when it has one that exists. Looked up before the
    /// queue's lock is taken for a decision (catalog first, then queue).
    pub(crate) fn dead_letter_target(&self, handle: &QueueHandle) -> Option<Arc<QueueHandle>> {
        let name = handle.lock().settings.dead_letter_queue.clone()?;
        self.catalog().queues.get(&name).cloned()
    }

    /// Under the queue's lock (`state`): makes due copies visible and submits the
    /// dead-letter moves this decides to `target`, in the same lock scope, so the disk sees
    /// them in the order they were decided. Returns how many became ready, and the moves.
    pub(crate) fn promote_locked(
        &self,
        handle: &Arc<QueueHandle>,
        state: &mut QueueState,
        target: Option<&Arc<QueueHandle>>,
        now: u64,
    ) -> (usize, Option<DeadLetters>) {
        let (promoted, moves) = state.promote_due(now, target.is_some());
        let Some(target) = target.filter(|_| !moves.is_empty()) else {
            return (promoted, None);
        };
        let planned: Vec<Planned> = moves
            .into_iter()
            .map(|m| Planned {
                record: dead_letter_record(handle, m.id, &m.entry, m.reason, now),
                id: m.id,
                source: m.entry,
            })
            .collect();
        let ops = planned
            .iter()
            .map(|p| Op::MoveDelivery {
                from: handle.id,
                to: target.id,
                id: p.id,
                record: p.record.clone(),
            })
            .collect();
        let pending = self.storage.submit(ops);
        let moves = DeadLetters {
            source: handle.clone(),
            target: target.clone(),
            planned,
            pending,
        };
        (promoted, Some(moves))
    }

    /// Moves up to [`CHUNK`] (and at most `left`) ready messages of a dead-letter queue
    /// after `after` back to the queues they came from (or to `destination`) in one write,
    /// counting them into `done` (moved, skipped); `Ok(true)` when more ready messages may
    /// follow. A moved copy is a new delivery: receive count 0, no dead-letter record,
    /// retention counting from the move.
    pub(super) async fn redrive_chunk(
        &self,
        source: &Arc<QueueHandle>,
        destination: Option<&Arc<QueueHandle>>,
        after: &mut Option<MessageId>,
        left: usize,
        done: &mut (u64, u64),
    ) -> Result<bool, BrokerError> {
        // Targets are looked up before the queue lock is taken (catalog, then queue).
        let queues: Vec<Arc<QueueHandle>> = self.queues();
        let now = now_ms();
        let mut moves: Vec<(MessageId, Entry, Arc<QueueHandle>)> = Vec::new();
        let want = left.min(CHUNK);
        let (pending, more) = {
            let mut state = source.lock();
            let mut more = true;
            while moves.len() < want && more {
                let ready = state.ready_after(*after, want);
                more = ready.len() == want;
                for id in ready {
                    *after = Some(id);
                    let entry = state.get(id).expect("ready ids are live");
                    let target = match (destination, &entry.dead_letter) {
                        (Some(target), _) => Some(target.clone()),
                        (None, Some(record)) => queues
                            .iter()
                            .find(|q| q.name == record.source_queue && q.id != source.id)
                            .cloned(),
                        (None, None) => None,
                    };
                    match target {
                        Some(target) => {
                            let entry = state.remove(id).expect("present");
                            moves.push((id, entry, target));
                            if moves.len() == want {
                                break;
                            }
                        }
                        None => done.1 += 1,
                    }
                }
            }
            if moves.is_empty() {
                return Ok(false);
            }
            let ops = moves
                .iter()
                .map(|(id, entry, target)| Op::MoveDelivery {
                    from: source.id,
                    to: target.id,
                    id: *id,
                    record: fresh_copy(now, *id, entry),
                })
                .collect();
            (self.storage.submit_background(ops), more)
        };
        let sequence = pending.sequence();
        let outcomes = match pending.wait().await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                put_back(source, |state| {
                    for (id, entry, _) in &moves {
                        state.restore(*id, entry, sequence, now);
                    }
                });
                return Err(error.into());
            }
        };
        let mut restored = Vec::new();
        for ((id, entry, target), outcome) in moves.into_iter().zip(outcomes) {
            match outcome {
                OpOutcome::Done => {
                    done.0 += 1;
                    let copy = fresh_copy(now, id, &entry);
                    add_copies(&target, vec![(id, copy)], sequence, now);
                }
                // The destination held the message already: the two copies became one.
                OpOutcome::Merged => done.0 += 1,
                // Purged meanwhile: nothing is left to move.
                OpOutcome::Missing => {}
                _ => {
                    done.1 += 1;
                    restored.push((id, entry));
                }
            }
        }
        if !restored.is_empty() {
            put_back(source, |state| {
                for (id, entry) in &restored {
                    state.restore(*id, entry, sequence, now);
                }
            });
        }
        Ok(more)
    }
}

/// A copy's record in the dead-letter queue it moves to from `source` at `now`: a new
/// delivery that keeps the message's lease count and carries its history and `reason`.
pub(crate) fn dead_letter_record(
    source: &QueueHandle,
    id: MessageId,
    entry: &Entry,
    reason: String,
    now: u64,
) -> DeliveryRecord {
    DeliveryRecord {
        visible_at_ms: now,
        leases: entry.leases,
        dead_letter: Some(Box::new(DeadLetterRecord {
            source_queue: source.name.clone(),
            reason,
            receive_count: entry.receive_count,
            first_received_at_ms: entry.first_received_at_ms,
            dead_lettered_at_ms: now,
        })),
        enqueued_at_ms: enqueued_at(id, now),
        key_hash: entry.key_hash,
        group_hash: entry.group_hash,
        size: entry.size,
        ..DeliveryRecord::default()
    }
}

/// A redriven copy: a new delivery that keeps only the message's lease count.
fn fresh_copy(now: u64, id: MessageId, entry: &Entry) -> DeliveryRecord {
    DeliveryRecord {
        visible_at_ms: now,
        leases: entry.leases,
        enqueued_at_ms: enqueued_at(id, now),
        key_hash: entry.key_hash,
        group_hash: entry.group_hash,
        size: entry.size,
        ..DeliveryRecord::default()
    }
}

impl DeadLetters {
    /// Waits for the moves' write, then settles memory: moved copies join the target; a
    /// copy the target already held is simply gone from the source, as is one purged
    /// meanwhile; a copy whose target was deleted (or whose write failed) goes back.
    pub(crate) async fn finish(self) {
        let DeadLetters {
            source,
            target,
            planned,
            pending,
        } = self;
        let sequence = pending.sequence();
        let result = pending.wait().await;
        let now = now_ms();
        let outcomes = match result {
            Ok(outcomes) => outcomes,
            Err(error) => {
                tracing::error!(%error, queue = %source.name, "dead-lettering failed; messages stay");
                put_back(&source, |state| {
                    for planned in planned {
                        state.restore(planned.id, &planned.source, sequence, now);
                    }
                });
                return;
            }
        };
        let mut moved = Vec::new();
        put_back(&source, |state| {
            for (planned, outcome) in planned.into_iter().zip(outcomes) {
                match outcome {
                    OpOutcome::Done => moved.push((planned.id, planned.record)),
                    OpOutcome::Merged | OpOutcome::Missing => {}
                    _ => state.restore(planned.id, &planned.source, sequence, now),
                }
            }
        });
        tracing::info!(queue = %source.name, dead_letter_queue = %target.name, count = moved.len(), "dead-lettered");
        add_copies(&target, moved, sequence, now);
    }

    /// Finishes in the background: for request paths that must neither wait for the
    /// moves nor lose them when the request itself fails.
    pub(crate) fn finish_later(self) {
        tokio::spawn(self.finish());
    }
}

#[cfg(test)]
mod tests {
    use switchyard_client::{CreateQueue, PublishMessage, ReceiveRequest};

    use super::*;
    use crate::config::Config;

    /// A broker whose queue `src` (dead letters to `dlq`) holds one message leased on its
    /// only allowed delivery; returns it with the message id and a time the lease is over.
    async fn broker_with_a_last_lease(dir: &std::path::Path) -> (Arc<Broker>, MessageId, u64) {
        let broker = Broker::open(&Config::for_data_dir(dir)).unwrap();
        for (name, dlq) in [("dlq", None), ("src", Some("dlq"))] {
            let queue = CreateQueue {
                name: name.into(),
                max_receive_count: dlq.map(|_| 1),
                dead_letter_queue: dlq.map(str::to_string),
                ..Default::default()
            };
            broker.create_queue(queue).await.unwrap();
        }
        let message = PublishMessage::json(&"m").unwrap();
        let id = broker.send("src", vec![message], false).await.unwrap();
        broker
            .receive("src", ReceiveRequest::default())
            .await
            .unwrap();
        let id = super::super::parse_id(&id[0]).unwrap();
        (broker, id, now_ms() + super::super::MAX_VISIBILITY_MS + 1)
    }

    fn total(broker: &Broker, queue: &str) -> u64 {
        let stats = broker.get_queue(queue).unwrap().stats.unwrap();
        stats.ready + stats.in_flight + stats.delayed
    }

    #[tokio::test]
    async fn a_dead_letter_purged_from_its_target_before_the_move_lands_leaves_no_ghost() {
        let dir = tempfile::tempdir().unwrap();
        let (broker, _, later) = broker_with_a_last_lease(dir.path()).await;
        let source = broker.queue("src").unwrap();
        let target = broker.dead_letter_target(&source);
        let (_, moves) = {
            let mut state = source.lock();
            broker.promote_locked(&source, &mut state, target.as_ref(), later)
        };
        // The purge is submitted after the move, so it deletes the moved copy on disk.
        broker.purge_queue("dlq").await.unwrap();
        moves
            .expect("the lease was the last allowed")
            .finish()
            .await;
        assert_eq!(
            total(&broker, "dlq"),
            0,
            "no copy in memory that disk lacks"
        );
        assert_eq!(broker.storage.message_count().unwrap(), 0);
    }

    #[tokio::test]
    async fn a_dead_letter_whose_source_copy_is_gone_is_dropped_not_restored() {
        let dir = tempfile::tempdir().unwrap();
        let (broker, id, later) = broker_with_a_last_lease(dir.path()).await;
        let source = broker.queue("src").unwrap();
        let gone = Op::DeleteDelivery {
            queue: source.id,
            id,
        };
        broker.storage.write(vec![gone]).await.unwrap();
        broker.promote(&source, later).await;
        assert_eq!(total(&broker, "src"), 0, "the ghost would loop every tick");
        assert_eq!(total(&broker, "dlq"), 0);
    }
}
