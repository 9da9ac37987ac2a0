//! A consumer's worker: lease a batch (gathering up to `max_wait_ms` for a fuller one),
//! split it by `max_bytes`, invoke the plugin's active version, and complete the batch.
//! A fault (trap, deadline, memory) retries the batch's messages with the fault recorded,
//! and dead-letters those that reached the queue's `max_receive_count`.

use std::sync::Arc;
use std::time::Duration;

use switchyard_client::{Message, ReceiveRequest};

use super::Dispatcher;
use super::consumers::ConsumerHandle;
use super::services::{BrokerServices, plugin_message, publish_message};
use crate::broker::{BatchOutcome, BatchSummary, BrokerError, MAX_VISIBILITY_MS, MAX_WAIT_MS};
use crate::runtime::{CompiledPlugin, Fault, Invocation, InvocationContext, Outcome};
use crate::storage::{ConsumerRecord, Op, PluginOp};

/// How long one long poll waits before the worker looks at its settings again.
const POLL_MS: u64 = 2_000;
/// Lease headroom beyond the batch window and the invocation deadline.
const LEASE_MARGIN_MS: u64 = 10_000;
/// Delay before messages are retried when the server (not the plugin) failed.
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
            if consumer.deleted.load(std::sync::atomic::Ordering::Acquire) || self.is_stopping() {
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
            match self.lease(&settings).await {
                Ok(messages) if messages.is_empty() => {}
                Ok(messages) => {
                    // Settings and the active version may have changed during the long
                    // poll: the batch runs with the ones current now.
                    let settings = consumer.settings();
                    let Some((_version, compiled)) = self.active(&settings.plugin) else {
                        self.retry_all(&settings, &messages, Some(SERVER_RETRY_MS))
                            .await;
                        continue;
                    };
                    for batch in split_by_bytes(messages, settings.max_bytes) {
                        self.run_batch(&consumer, &settings, &compiled, services.clone(), batch)
                            .await;
                    }
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

    /// Leases up to `max_messages`, waiting for the first, then up to `max_wait_ms` more
    /// for a fuller batch.
    async fn lease(&self, settings: &ConsumerRecord) -> Result<Vec<Message>, BrokerError> {
        let visibility =
            (settings.max_wait_ms + settings.timeout_ms + LEASE_MARGIN_MS).min(MAX_VISIBILITY_MS);
        let request = |max: u32, wait_ms: u64| ReceiveRequest {
            max_messages: Some(max),
            wait_ms: Some(wait_ms),
            visibility_timeout_ms: Some(visibility),
        };
        let max = settings.max_messages;
        let mut messages = self
            .broker
            .receive(&settings.queue, request(max, POLL_MS))
            .await?;
        if messages.is_empty() || settings.max_wait_ms == 0 {
            return Ok(messages);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(settings.max_wait_ms);
        while (messages.len() as u32) < max && !self.is_stopping() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let wait = (left.as_millis() as u64).clamp(1, MAX_WAIT_MS);
            let wanted = max - messages.len() as u32;
            match self
                .broker
                .receive(&settings.queue, request(wanted, wait))
                .await
            {
                Ok(more) => messages.extend(more),
                // What is leased already is handled; the error shows on the next lease.
                Err(_) => break,
            }
        }
        Ok(messages)
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
        let invocation = self.runtime.invoke(compiled, &context, plugin_batch).await;
        consumer.update_stats(|stats| stats.in_flight -= 1);
        let summary = match invocation {
            Ok(invocation) => self.complete(consumer, settings, &batch, invocation).await,
            Err(error) => {
                consumer.record_failure("error", error.to_string());
                self.retry_all(settings, &batch, Some(SERVER_RETRY_MS))
                    .await
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
            Ok(summary) => Some(summary),
            Err(error) => {
                consumer.record_failure("error", format!("completing the batch failed: {error}"));
                self.retry_all(settings, batch, Some(SERVER_RETRY_MS)).await
            }
        }
    }

    /// A faulted invocation: retry every message after a backoff, but dead-letter (with the
    /// fault as the reason) those whose delivery count reached the queue's
    /// `max_receive_count`.
    async fn fail_batch(
        &self,
        settings: &ConsumerRecord,
        batch: &[Message],
        fault: &Fault,
    ) -> Option<BatchSummary> {
        let queue = self.broker.get_queue(&settings.queue).ok()?;
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
                        delay_ms: Some(fault_backoff_ms(message.receive_count)),
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

    async fn retry_all(
        &self,
        settings: &ConsumerRecord,
        batch: &[Message],
        delay_ms: Option<u64>,
    ) -> Option<BatchSummary> {
        let outcomes = receipts(batch)
            .map(|receipt| (receipt, BatchOutcome::Retry { delay_ms }))
            .collect();
        self.broker
            .complete_batch(&settings.queue, outcomes, Vec::new(), Vec::new())
            .await
            .ok()
    }
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
