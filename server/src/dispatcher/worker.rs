//! A consumer's worker: lease a batch (with a window, once the queue holds a full one or
//! its first message has waited `max_wait_ms`, holding no lease meanwhile), invoke the
//! plugin's active version, and complete the batch. A fault (trap, deadline, memory, budget) retries the batch's messages with the fault
//! recorded, and dead-letters those that reached the queue's `max_receive_count`. A failure
//! of the server itself (no instance, no compiled version, a failed write) gives the
//! messages back without counting the delivery. A batch is leased within `max_bytes`; if
//! the setting was lowered meanwhile, it is split, and each piece runs only under a lease
//! that outlasts its deadline (the rest of the batch is extended when needed); a pause, a
//! delete or a shutdown stops between pieces and gives the rest back.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use switchyard_client::Message;

use super::Dispatcher;
use super::consumers::ConsumerHandle;
use super::services::{BrokerServices, plugin_message, publish_message};
use crate::broker::{
    BatchOutcome, BatchRule, BatchSummary, BrokerError, MAX_VISIBILITY_MS, now_ms,
};
use crate::runtime::{CompiledPlugin, Fault, Invocation, InvocationContext, Outcome};
use crate::storage::{ConsumerRecord, Op, PluginOp};

/// How long one long poll waits before the worker looks at its settings again.
const POLL_MS: u64 = 2_000;
/// Lease headroom beyond the invocation deadline.
const LEASE_MARGIN_MS: u64 = 10_000;
/// Delay before messages are given back when the server (not the plugin) failed.
const SERVER_RETRY_MS: u64 = 1_000;
/// A message whose invocation faulted waits this long before its second delivery, twice as
/// long before each further one, up to [`MAX_FAULT_BACKOFF_MS`]: a plugin that panics on a
/// message does not spin on it.
const FAULT_BACKOFF_MS: u64 = 200;
/// The longest wait between deliveries of a message that keeps faulting.
const MAX_FAULT_BACKOFF_MS: u64 = 60_000;

/// How long a message waits after its `receive_count`-th delivery faulted.
fn fault_backoff_ms(receive_count: u32) -> u64 {
    let doublings = receive_count.saturating_sub(1).min(20);
    (FAULT_BACKOFF_MS << doublings).min(MAX_FAULT_BACKOFF_MS)
}

impl Dispatcher {
    /// Runs until the consumer is deleted or the server stops. Workers numbered at or
    /// above the consumer's concurrency idle.
    pub(super) async fn run_worker(self: Arc<Self>, consumer: Arc<ConsumerHandle>, index: u32) {
        let services: Arc<BrokerServices> = Arc::new(BrokerServices {
            broker: self.broker.clone(),
        });
        loop {
            let notified = consumer.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if consumer.deleted.load(Ordering::Acquire) || self.is_stopping() {
                return;
            }
            let settings = consumer.settings();
            if settings.paused || index >= settings.concurrency {
                notified.await;
                continue;
            }
            if self.active(&settings.plugin).is_none() {
                let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
                continue;
            }
            // A change of settings (a pause, a delete, another window) ends a batch that
            // is still forming; a lease being written then is given back uncounted.
            let leased = tokio::select! {
                leased = self.lease(&settings) => leased,
                () = notified.as_mut() => continue,
            };
            match leased {
                Ok(leased) if leased.messages.is_empty() => {}
                Ok(leased) => {
                    let _busy = Busy::new(&self);
                    // Settings and the active version may have changed during the long
                    // poll: the batch runs with the ones current now.
                    let settings = consumer.settings();
                    let Some((_version, compiled)) = self.active(&settings.plugin) else {
                        self.give_back(&settings, &leased.messages).await;
                        continue;
                    };
                    self.run_pieces(&consumer, &settings, &compiled, &services, leased)
                        .await;
                }
                Err(error) => {
                    consumer.record_failure(
                        "error",
                        format!("cannot lease from queue {:?}: {error}", settings.queue),
                    );
                    let _ = tokio::time::timeout(Duration::from_secs(5), notified).await;
                }
            }
        }
    }

    /// Runs a leased batch split by `max_bytes`, piece after piece. Before a piece, leases
    /// that would end before its deadline (plus a margin) are extended; messages whose lease
    /// was lost meanwhile are left to whoever holds them now. A pause, a delete or a
    /// shutdown gives the pieces not yet run back.
    async fn run_pieces(
        &self,
        consumer: &ConsumerHandle,
        settings: &ConsumerRecord,
        compiled: &CompiledPlugin,
        services: &Arc<BrokerServices>,
        leased: Leased,
    ) {
        let Leased {
            messages,
            mut until_ms,
        } = leased;
        let mut pieces = split_by_bytes(messages, settings.max_bytes).into_iter();
        while let Some(mut piece) = pieces.next() {
            if self.should_stop(consumer) {
                let rest: Vec<Message> = std::iter::once(piece).chain(pieces).flatten().collect();
                self.give_back(settings, &rest).await;
                return;
            }
            let needed = now_ms() + settings.timeout_ms + LEASE_MARGIN_MS / 2;
            if needed > until_ms {
                let rest: Vec<Message> = std::iter::once(piece)
                    .chain(pieces.by_ref())
                    .flatten()
                    .collect();
                let visibility = (settings.timeout_ms + LEASE_MARGIN_MS).min(MAX_VISIBILITY_MS);
                let started = now_ms();
                let receipts: Vec<String> = receipts(&rest).collect();
                let held = match self
                    .broker
                    .extend_all(&settings.queue, &receipts, visibility)
                    .await
                {
                    Ok(held) => held,
                    Err(error) => {
                        consumer.record_failure(
                            "error",
                            format!("extending the batch's leases failed: {error}"),
                        );
                        return;
                    }
                };
                until_ms = started + visibility;
                let kept: Vec<Message> = rest
                    .into_iter()
                    .zip(held)
                    .filter_map(|(message, held)| held.then_some(message))
                    .collect();
                let mut regrouped = split_by_bytes(kept, settings.max_bytes).into_iter();
                let Some(first) = regrouped.next() else {
                    return;
                };
                piece = first;
                pieces = regrouped.collect::<Vec<_>>().into_iter();
            }
            self.run_batch(consumer, settings, compiled, services.clone(), piece)
                .await;
        }
    }

    /// Whether the worker should stop before its next piece: its consumer was paused or
    /// deleted, or the server is stopping.
    fn should_stop(&self, consumer: &ConsumerHandle) -> bool {
        self.is_stopping() || consumer.deleted.load(Ordering::Acquire) || consumer.settings().paused
    }

    /// Leases the next batch: at once what is ready without a window; with one, once the
    /// queue holds `max_messages` or `max_bytes` for it or its first ready message has
    /// waited `max_wait_ms`. Nothing is leased while a batch forms, so a restart during a
    /// window redelivers nothing. Empty after a poll with no batch (the caller looks at
    /// its settings again).
    async fn lease(&self, settings: &ConsumerRecord) -> Result<Leased, BrokerError> {
        let visibility = (settings.timeout_ms + LEASE_MARGIN_MS).min(MAX_VISIBILITY_MS);
        let until_ms = now_ms() + visibility;
        let rule = BatchRule {
            max_messages: settings.max_messages,
            max_bytes: settings.max_bytes,
            max_wait_ms: settings.max_wait_ms,
        };
        let messages = self
            .broker
            .lease_batch(&settings.queue, rule, visibility, POLL_MS)
            .await?;
        Ok(Leased { messages, until_ms })
    }

    async fn run_batch(
        &self,
        consumer: &ConsumerHandle,
        settings: &ConsumerRecord,
        compiled: &CompiledPlugin,
        services: Arc<BrokerServices>,
        batch: Vec<Message>,
    ) {
        let context = InvocationContext {
            plugin: settings.plugin.as_str().into(),
            consumer: settings.name.as_str().into(),
            config: Arc::new(plugin_config(settings)),
            allowed_hosts: Arc::new(settings.allowed_hosts.clone()),
            timeout: Duration::from_millis(settings.timeout_ms),
            memory_bytes: settings.memory_bytes,
            fuel: settings.fuel,
            services,
        };
        let plugin_batch = batch
            .iter()
            .map(|message| plugin_message(&settings.queue, message))
            .collect();
        consumer.update_stats(|stats| {
            stats.in_flight += 1;
            stats.peak_in_flight = stats.peak_in_flight.max(stats.in_flight);
            stats.invocations += 1;
            stats.messages += batch.len() as u64;
        });
        let running = consumer.running.start(batch.len());
        let invocation = self.runtime.invoke(compiled, &context, plugin_batch).await;
        drop(running);
        consumer.update_stats(|stats| stats.in_flight -= 1);
        let summary = match invocation {
            Ok(invocation) => self.complete(consumer, settings, &batch, invocation).await,
            Err(error) => {
                consumer.record_failure("error", error.to_string());
                self.give_back(settings, &batch).await
            }
        };
        if let Some(summary) = summary {
            consumer.update_stats(|stats| {
                stats.acked += summary.acked;
                stats.retried += summary.retried;
                stats.dead_lettered += summary.dead_lettered;
                stats.published += summary.published;
            });
        }
    }

    async fn complete(
        &self,
        consumer: &ConsumerHandle,
        settings: &ConsumerRecord,
        batch: &[Message],
        invocation: Invocation,
    ) -> Option<BatchSummary> {
        consumer.append_logs(invocation.logs);
        let outcomes = match invocation.result {
            Ok(outcomes) => outcomes,
            Err(fault) => {
                tracing::warn!(consumer = %settings.name, kind = fault.kind.as_str(), "plugin invocation faulted");
                consumer.record_fault(fault.kind, &fault.message);
                return self.fail_batch(settings, batch, &fault).await;
            }
        };
        let outcomes = receipts(batch)
            .zip(outcomes)
            .map(|(receipt, outcome)| (receipt, batch_outcome(outcome)))
            .collect();
        let publications = invocation
            .publications
            .iter()
            .map(|p| (p.topic.clone(), publish_message(p)))
            .collect();
        let writes = invocation
            .kv_writes
            .into_iter()
            .map(|(key, value)| {
                Op::Plugin(PluginOp::PutKv {
                    plugin: settings.plugin.clone(),
                    key,
                    value,
                })
            })
            .collect();
        match self
            .broker
            .complete_batch(&settings.queue, outcomes, publications, writes)
            .await
        {
            Ok(summary) => {
                if summary.voided {
                    consumer.record_failure(
                        "warn",
                        format!(
                            "{} of the batch's {} leases ended before it completed: its \
                             publications and key-value writes were discarded and its other \
                             messages retried",
                            summary.lost_leases,
                            batch.len()
                        ),
                    );
                }
                Some(summary)
            }
            Err(error) => {
                consumer.record_failure("error", format!("completing the batch failed: {error}"));
                self.give_back(settings, batch).await
            }
        }
    }

    /// A faulted invocation: retry every message after a backoff (the queue's retry
    /// schedule when it has one), but dead-letter (with the fault as the reason) those whose delivery count reached the queue's
    /// `max_receive_count`.
    async fn fail_batch(
        &self,
        settings: &ConsumerRecord,
        batch: &[Message],
        fault: &Fault,
    ) -> Option<BatchSummary> {
        let queue = self.broker.get_queue(&settings.queue).ok()?;
        self.broker.note_failures(
            &settings.queue,
            batch.iter().map(|message| message.id.as_str()),
            &format!(
                "plugin {} fault in consumer {}: {}",
                fault.kind.as_str(),
                settings.name,
                fault.message
            ),
        );
        let exhausted = |message: &Message| {
            queue.dead_letter_queue.is_some()
                && queue
                    .max_receive_count
                    .is_some_and(|max| message.receive_count >= max)
        };
        let outcomes = receipts(batch)
            .zip(batch)
            .map(|(receipt, message)| {
                let outcome = if exhausted(message) {
                    BatchOutcome::DeadLetter {
                        reason: format!(
                            "plugin {} fault on delivery {}: {}",
                            fault.kind.as_str(),
                            message.receive_count,
                            fault.message
                        ),
                    }
                } else {
                    BatchOutcome::Retry {
                        delay_ms: queue
                            .retry
                            .is_none()
                            .then(|| fault_backoff_ms(message.receive_count)),
                    }
                };
                (receipt, outcome)
            })
            .collect();
        self.broker
            .complete_batch(&settings.queue, outcomes, Vec::new(), Vec::new())
            .await
            .ok()
    }

    /// Gives the messages back without counting their delivery: the server, not the plugin,
    /// failed (or the worker is stopping), so they must not move towards a dead letter.
    async fn give_back(
        &self,
        settings: &ConsumerRecord,
        batch: &[Message],
    ) -> Option<BatchSummary> {
        let delay_ms = (!self.is_stopping()).then_some(SERVER_RETRY_MS);
        let outcomes = receipts(batch)
            .map(|receipt| (receipt, BatchOutcome::Return { delay_ms }))
            .collect();
        self.broker
            .complete_batch(&settings.queue, outcomes, Vec::new(), Vec::new())
            .await
            .ok()
    }
}

/// Counts a worker as holding a batch while it lives (see [`Dispatcher::drain`]).
struct Busy<'a>(&'a Dispatcher);

impl<'a> Busy<'a> {
    fn new(dispatcher: &'a Dispatcher) -> Self {
        dispatcher.busy.fetch_add(1, Ordering::AcqRel);
        Self(dispatcher)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A leased batch and when its leases end at the earliest (Unix ms).
struct Leased {
    messages: Vec<Message>,
    until_ms: u64,
}

fn receipts(batch: &[Message]) -> impl Iterator<Item = String> + '_ {
    batch
        .iter()
        .map(|message| message.receipt.clone().unwrap_or_default())
}

fn batch_outcome(outcome: Outcome) -> BatchOutcome {
    match outcome {
        Outcome::Ack => BatchOutcome::Ack,
        Outcome::Retry(delay) => BatchOutcome::Retry {
            delay_ms: delay.map(|d| d.min(MAX_VISIBILITY_MS)),
        },
        Outcome::DeadLetter(reason) => BatchOutcome::DeadLetter { reason },
    }
}

/// Splits a leased batch into invocations of at most `max_bytes` of payload each (a
/// larger single message goes alone).
fn split_by_bytes(messages: Vec<Message>, max_bytes: u64) -> Vec<Vec<Message>> {
    let mut batches = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0u64;
    for message in messages {
        let size = payload_size(&message);
        if !current.is_empty() && bytes + size > max_bytes {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(message);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

fn payload_size(message: &Message) -> u64 {
    match (&message.payload, &message.payload_base64) {
        (Some(json), _) => json.get().len() as u64,
        (None, Some(b64)) => (b64.len() / 4 * 3) as u64,
        (None, None) => 0,
    }
}

/// What the plugin reads with `config(name)`: its config values and its secrets (a name is
/// one or the other).
fn plugin_config(
    settings: &crate::storage::ConsumerRecord,
) -> std::collections::BTreeMap<String, String> {
    let mut values = settings.config.clone();
    values.extend(settings.secrets.clone());
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_backoff_doubles_from_200_ms_up_to_a_minute() {
        let waits: Vec<u64> = (1..=5).map(fault_backoff_ms).collect();
        assert_eq!(waits, [200, 400, 800, 1_600, 3_200]);
        assert_eq!(fault_backoff_ms(0), 200);
        assert_eq!(fault_backoff_ms(10), 60_000);
        assert_eq!(fault_backoff_ms(u32::MAX), 60_000);
    }
}
