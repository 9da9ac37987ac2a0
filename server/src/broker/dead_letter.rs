//! Dead letters: moving messages that reached `max_receive_count` to the queue's
//! dead-letter queue with their history and the reason, and redriving them back.

use std::sync::Arc;

use switchyard_client::{RedriveRequest, RedriveResponse};

use super::publish::add_copies;
use super::queue::{DeadLetterMove, Entry, QueueHandle};
use super::{Broker, BrokerError, now_ms};
use crate::storage::{DeadLetterRecord, DeliveryRecord, MessageId, Op, OpOutcome};

impl Broker {
    pub(crate) fn dead_letter_later(&self, handle: &Arc<QueueHandle>, moves: Vec<DeadLetterMove>) {
        if moves.is_empty() {
            return;
        }
        // The moves are out of the source queue's memory; the next housekeeping pass would
        // not see them again, so they are carried out here, off the request's path.
        let handle = handle.clone();
        let storage_moves = self.plan_dead_letters(&handle, moves);
        if let Some((target, planned, pending)) = storage_moves {
            tokio::spawn(async move {
                finish_dead_letters(&handle, target, planned, pending.wait().await);
            });
        }
    }

    pub(crate) async fn dead_letter(&self, handle: &Arc<QueueHandle>, moves: Vec<DeadLetterMove>) {
        if let Some((target, planned, pending)) = self.plan_dead_letters(handle, moves) {
            finish_dead_letters(handle, target, planned, pending.wait().await);
        }
    }

    /// Submits the moves of `moves` to the source queue's dead-letter queue.
    fn plan_dead_letters(
        &self,
        handle: &Arc<QueueHandle>,
        moves: Vec<DeadLetterMove>,
    ) -> Option<(Arc<QueueHandle>, Vec<Planned>, crate::storage::PendingWrite)> {
        let now = now_ms();
        let target = {
            let dlq = handle.lock().settings.dead_letter_queue.clone();
            dlq.and_then(|name| self.catalog().queues.get(&name).cloned())
        };
        let Some(target) = target else {
            let mut state = handle.lock();
            for planned in moves {
                state.restore(planned.id, &planned.entry, now);
            }
            return None;
        };
        let planned: Vec<Planned> = moves
            .into_iter()
            .map(|m| {
                let record = DeliveryRecord {
                    visible_at_ms: now,
                    receive_count: 0,
                    leased: false,
                    first_received_at_ms: None,
                    dead_letter: Some(Box::new(DeadLetterRecord {
                        source_queue: handle.name.clone(),
                        reason: m.reason,
                        receive_count: m.entry.receive_count,
                        first_received_at_ms: m.entry.first_received_at_ms,
                        dead_lettered_at_ms: now,
                    })),
                };
                Planned {
                    id: m.id,
                    source: m.entry,
                    record,
                }
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
        Some((target, planned, pending))
    }

    /// Moves ready messages of a dead-letter queue back to the queues they came from (or
    /// all to `destination`), as new deliveries: receive count 0, no dead-letter record.
    /// Messages in flight or delayed stay; so do messages with nowhere to go.
    pub async fn redrive(
        &self,
        queue: &str,
        request: RedriveRequest,
    ) -> Result<RedriveResponse, BrokerError> {
        let source = self.queue(queue)?;
        let destination = match &request.destination {
            Some(name) if name == queue => {
                return Err(BrokerError::InvalidSetting {
                    name: "destination",
                    reason: "a queue cannot be redriven into itself".into(),
                });
            }
            Some(name) => Some(self.queue(name)?),
            None => None,
        };
        let limit = request.max_messages.unwrap_or(u32::MAX) as usize;
        // Targets are looked up before the queue lock is taken (catalog, then queue).
        let queues: Vec<Arc<QueueHandle>> = self.queues();
        let now = now_ms();
        let mut skipped = 0u64;
        let mut moves: Vec<(MessageId, Entry, Arc<QueueHandle>)> = Vec::new();
        let pending = {
            let mut state = source.lock();
            for id in state.ready_ids(usize::MAX) {
                if moves.len() >= limit {
                    break;
                }
                let entry = state.get(id).expect("ready ids are live");
                let target = match (&destination, &entry.dead_letter) {
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
                    }
                    None => skipped += 1,
                }
            }
            if moves.is_empty() {
                return Ok(RedriveResponse { moved: 0, skipped });
            }
            let ops = moves
                .iter()
                .map(|(id, _, target)| Op::MoveDelivery {
                    from: source.id,
                    to: target.id,
                    id: *id,
                    record: fresh_copy(now),
                })
                .collect();
            self.storage.submit(ops)
        };
        let outcomes = match pending.wait().await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                let mut state = source.lock();
                for (id, entry, _) in &moves {
                    state.restore(*id, entry, now);
                }
                return Err(error.into());
            }
        };
        let mut moved = 0u64;
        for ((id, entry, target), outcome) in moves.into_iter().zip(outcomes) {
            if outcome == OpOutcome::Done {
                moved += 1;
                add_copies(&target, vec![(id, fresh_copy(now))], now);
            } else {
                skipped += 1;
                source.lock().restore(id, &entry, now);
            }
        }
        tracing::info!(queue = %source.name, moved, skipped, "redrove dead letters");
        Ok(RedriveResponse { moved, skipped })
    }
}

fn fresh_copy(now: u64) -> DeliveryRecord {
    DeliveryRecord {
        visible_at_ms: now,
        receive_count: 0,
        leased: false,
        first_received_at_ms: None,
        dead_letter: None,
    }
}

struct Planned {
    id: MessageId,
    source: Entry,
    record: DeliveryRecord,
}

fn finish_dead_letters(
    source: &Arc<QueueHandle>,
    target: Arc<QueueHandle>,
    planned: Vec<Planned>,
    result: Result<Vec<OpOutcome>, crate::storage::StorageError>,
) {
    let now = now_ms();
    match result {
        Ok(outcomes) => {
            let mut moved = Vec::new();
            let mut state = source.lock();
            for (planned, outcome) in planned.into_iter().zip(outcomes) {
                if outcome == OpOutcome::Done {
                    moved.push((planned.id, planned.record));
                } else {
                    state.restore(planned.id, &planned.source, now);
                }
            }
            drop(state);
            tracing::info!(queue = %source.name, dead_letter_queue = %target.name, count = moved.len(), "dead-lettered");
            add_copies(&target, moved, now);
        }
        Err(error) => {
            tracing::error!(%error, queue = %source.name, "dead-lettering failed; messages stay");
            let mut state = source.lock();
            for planned in planned {
                state.restore(planned.id, &planned.source, now);
            }
        }
    }
}
