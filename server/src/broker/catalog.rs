//! Queues and subscriptions: create, inspect, change, delete. Every change is durable
//! before the catalog in memory shows it. Topics are in [`super::topics`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

use switchyard_client::{
    CreateQueue, CreateSubscription, PatchQueue, Queue, QueueOrdering, QueueStats, Subscription,
};

use super::bounded::CHUNK;
use super::filter::Filter;
use super::queue::QueueHandle;
use super::rollback::put_back;
use super::{
    Broker, BrokerError, MAX_DELAY_MS, MAX_RETENTION_MS, MAX_VISIBILITY_MS, now_ms, validate_name,
};
use crate::storage::{Op, OpOutcome, QueueRecord, SubscriptionRecord};

const DEFAULT_VISIBILITY_MS: u64 = 30_000;
const DEFAULT_RETENTION_MS: u64 = 4 * 24 * 60 * 60 * 1000;
const MIN_RETENTION_MS: u64 = 1000;
const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;
const MAX_MAX_RECEIVE_COUNT: u32 = 1000;

impl Broker {
    /// Creates a queue.
    pub async fn create_queue(&self, request: CreateQueue) -> Result<Queue, BrokerError> {
        validate_name("queue", &request.name)?;
        let patch = PatchQueue {
            visibility_timeout_ms: request.visibility_timeout_ms,
            max_receive_count: request.max_receive_count,
            dead_letter_queue: request.dead_letter_queue.map(Some),
            delay_ms: request.delay_ms,
            retention_ms: request.retention_ms,
            ordering: request.ordering,
            retry: request.retry.map(Some),
            fairness: request.fairness.map(Some),
            monitor_thresholds_ms: request.monitor_thresholds_ms.map(Some),
        };
        let _admin = self.admin.lock().await;
        if self.catalog().queues.contains_key(&request.name) {
            return Err(BrokerError::QueueExists { name: request.name });
        }
        let defaults = QueueRecord {
            id: 0,
            name: request.name.clone(),
            visibility_timeout_ms: DEFAULT_VISIBILITY_MS,
            max_receive_count: None,
            dead_letter_queue: None,
            delay_ms: 0,
            retention_ms: DEFAULT_RETENTION_MS,
            ordering: QueueOrdering::None,
            retry: None,
            fairness: None,
            monitor_thresholds_ms: None,
            created_at_ms: now_ms(),
        };
        let mut record = self.apply_settings(defaults, patch)?;
        record.id = self.next_queue_id.fetch_add(1, Ordering::Relaxed);
        self.storage
            .write(vec![Op::PutQueue(record.clone())])
            .await?;
        let handle = Arc::new(QueueHandle::new(record.clone()));
        self.catalog_mut()
            .queues
            .insert(record.name.clone(), handle);
        Ok(queue_view(&record, Some(QueueStats::default())))
    }

    /// All queues with live stats, by name.
    pub fn list_queues(&self) -> Vec<Queue> {
        let now = now_ms();
        self.queues()
            .iter()
            .map(|q| {
                let state = q.lock();
                queue_view(&state.settings, Some(state.stats(now)))
            })
            .collect()
    }

    /// One queue with live stats.
    pub fn get_queue(&self, name: &str) -> Result<Queue, BrokerError> {
        let queue = self.queue(name)?;
        let state = queue.lock();
        Ok(queue_view(&state.settings, Some(state.stats(now_ms()))))
    }

    /// Changes a queue's settings; they apply to the next receive and publish.
    pub async fn patch_queue(&self, name: &str, patch: PatchQueue) -> Result<Queue, BrokerError> {
        let _admin = self.admin.lock().await;
        let queue = self.queue(name)?;
        let current = queue.lock().settings.clone();
        let record = self.apply_settings(current, patch)?;
        self.storage
            .write(vec![Op::PutQueue(record.clone())])
            .await?;
        queue.delay_ms.store(record.delay_ms, Ordering::Relaxed);
        let now = now_ms();
        let mut state = queue.lock();
        let reorder = state.settings.ordering != record.ordering;
        let regroup = state.settings.fairness != record.fairness;
        state.settings = record.clone();
        if reorder {
            state.rebuild_lanes(now);
        }
        if regroup {
            queue.set_grouping(&record);
            state.rebuild_fairness();
        }
        let stats = state.stats(now);
        drop(state);
        if reorder {
            queue.ready.notify_waiters();
        }
        Ok(queue_view(&record, Some(stats)))
    }

    /// Records that `consumer` leases from `queue`, which must exist: from now on the queue
    /// is not deleted until [`Broker::release_queue`]. Decided under the catalog's change
    /// lock, so a queue being deleted is never claimed.
    pub async fn claim_queue(&self, queue: &str, consumer: &str) -> Result<(), BrokerError> {
        let _admin = self.admin.lock().await;
        self.queue(queue)?;
        self.consumers
            .lock()
            .expect("consumers lock")
            .entry(queue.to_string())
            .or_default()
            .insert(consumer.to_string());
        Ok(())
    }

    /// Forgets that `consumer` leases from `queue`.
    pub fn release_queue(&self, queue: &str, consumer: &str) {
        let mut consumers = self.consumers.lock().expect("consumers lock");
        if let Some(names) = consumers.get_mut(queue) {
            names.remove(consumer);
            if names.is_empty() {
                consumers.remove(queue);
            }
        }
    }

    /// Deletes a queue, its messages and the subscriptions that feed it; refused while
    /// consumers lease from it or another queue dead-letters into it. The messages go in
    /// chunks once the queue is gone (after a restart too, if one cuts that short).
    pub async fn delete_queue(&self, name: &str) -> Result<(), BrokerError> {
        let _admin = self.admin.lock().await;
        let queue = self.queue(name)?;
        if let Some(consumers) = self
            .consumers
            .lock()
            .expect("consumers lock")
            .get(name)
            .filter(|c| !c.is_empty())
        {
            return Err(BrokerError::QueueHasConsumers {
                name: name.into(),
                consumers: consumers.iter().cloned().collect(),
            });
        }
        let (subscriptions, topics) = {
            let catalog = self.catalog();
            for other in catalog.queues.values() {
                let state = other.lock();
                if other.name != name && state.settings.dead_letter_queue.as_deref() == Some(name) {
                    return Err(BrokerError::QueueInUse {
                        name: name.into(),
                        by: other.name.clone(),
                    });
                }
            }
            let feeding: Vec<&SubscriptionRecord> = catalog
                .subscriptions
                .values()
                .filter(|s| s.queue == name)
                .collect();
            let ids: Vec<String> = feeding.iter().map(|s| s.id.clone()).collect();
            let topics: Vec<String> = feeding.iter().map(|s| s.topic.clone()).collect();
            (ids, topics)
        };
        let mut ops = vec![Op::DeleteQueue {
            id: queue.id,
            name: name.into(),
        }];
        ops.extend(
            subscriptions
                .iter()
                .map(|id| Op::DeleteSubscription { id: id.clone() }),
        );
        self.storage.write(ops).await?;
        {
            let mut catalog = self.catalog_mut();
            catalog.queues.remove(name);
            for id in &subscriptions {
                catalog.subscriptions.remove(id);
            }
            for topic in &topics {
                catalog.rebuild_routes(topic);
            }
        }
        queue.lock().clear();
        queue.deleted.store(true, Ordering::Release);
        queue.ready.notify_waiters();
        self.orphans.lock().expect("orphans lock").insert(queue.id);
        let broker = self.me.upgrade().expect("the broker serves from an Arc");
        let id = queue.id;
        // Carried on even when the caller stops waiting; the sweep retries what fails.
        let dropped = tokio::spawn(async move { broker.drop_queue_copies(id).await });
        if let Ok(Err(error)) = dropped.await {
            tracing::warn!(%error, queue = name, "deleting the queue's messages failed; the sweep retries");
        }
        Ok(())
    }

    /// Deletes every message in a queue; returns how many. Memory forgets them at once;
    /// on disk the first chunk goes in this write, the rest in writes of their own (also
    /// when the caller stops waiting), and messages added meanwhile stay.
    pub async fn purge_queue(&self, name: &str) -> Result<u64, BrokerError> {
        let queue = self.queue(name)?;
        let (pending, removed, previous) = {
            let mut state = queue.lock();
            let removed = state.clear();
            let pending = self.storage.submit(vec![Op::PurgeQueue {
                id: queue.id,
                limit: CHUNK,
            }]);
            let previous = state.mark_purged(pending.sequence());
            (pending, removed, previous)
        };
        let sequence = pending.sequence();
        let broker = self.me.upgrade().expect("the broker serves from an Arc");
        let task = tokio::spawn(async move {
            let outcomes = match pending.wait().await {
                Ok(outcomes) => outcomes,
                Err(error) => {
                    put_back(&queue, |state| {
                        state.unmark_purged(sequence, previous);
                        let now = now_ms();
                        for (id, entry) in &removed {
                            state.restore(*id, entry, sequence, now);
                        }
                    });
                    return Err(error.into());
                }
            };
            let Some(&OpOutcome::Chunk { count, more }) = outcomes.first() else {
                return Ok(0);
            };
            if !more {
                return Ok(count);
            }
            let id = queue.id;
            let rest = broker
                .write_in_chunks(|limit| Op::ContinuePurge { id, limit })
                .await?;
            Ok(count + rest)
        });
        task.await.expect("a purge does not panic")
    }

    /// Checks a filter pattern without storing anything (the console validates as you type).
    pub fn validate_filter(&self, pattern: &serde_json::Value) -> Result<(), BrokerError> {
        Filter::compile(pattern).map(|_| ())
    }

    /// Subscribes a queue to a topic. With `start`, the subscription also gets the topic's
    /// archived history from that point (see [`Broker::subscribe_from`]).
    pub async fn create_subscription(
        &self,
        request: CreateSubscription,
    ) -> Result<Subscription, BrokerError> {
        if let Some(pattern) = &request.filter {
            Filter::compile(pattern)?;
        }
        let _admin = self.admin.lock().await;
        {
            let catalog = self.catalog();
            if !catalog.topics.contains_key(&request.topic) {
                return Err(BrokerError::TopicNotFound {
                    name: request.topic,
                });
            }
            if !catalog.queues.contains_key(&request.queue) {
                return Err(BrokerError::QueueNotFound {
                    name: request.queue,
                });
            }
            if let Some(existing) = catalog
                .subscriptions
                .values()
                .find(|s| s.topic == request.topic && s.queue == request.queue)
            {
                return Err(BrokerError::SubscriptionExists {
                    topic: request.topic,
                    queue: request.queue,
                    id: existing.id.clone(),
                });
            }
        }
        let record = SubscriptionRecord {
            id: ulid::Ulid::new().to_string(),
            topic: request.topic,
            queue: request.queue,
            filter: request.filter,
            created_at_ms: now_ms(),
        };
        if let Some(start) = request.start {
            return self.subscribe_from(record, start).await;
        }
        self.storage
            .write(vec![Op::PutSubscription(record.clone())])
            .await?;
        let mut catalog = self.catalog_mut();
        catalog
            .subscriptions
            .insert(record.id.clone(), record.clone());
        catalog.rebuild_routes(&record.topic);
        Ok(subscription_view(&record))
    }

    /// All subscriptions, or those of one topic.
    pub fn list_subscriptions(
        &self,
        topic: Option<&str>,
    ) -> Result<Vec<Subscription>, BrokerError> {
        let catalog = self.catalog();
        if let Some(topic) = topic
            && !catalog.topics.contains_key(topic)
        {
            return Err(BrokerError::TopicNotFound { name: topic.into() });
        }
        Ok(catalog
            .subscriptions
            .values()
            .filter(|s| topic.is_none_or(|t| s.topic == t))
            .map(subscription_view)
            .collect())
    }

    /// One subscription.
    pub fn get_subscription(&self, id: &str) -> Result<Subscription, BrokerError> {
        self.catalog()
            .subscriptions
            .get(id)
            .map(subscription_view)
            .ok_or_else(|| BrokerError::SubscriptionNotFound { id: id.into() })
    }

    /// Replaces a subscription's filter; the next publish uses it.
    pub async fn patch_subscription(
        &self,
        id: &str,
        filter: Option<serde_json::Value>,
    ) -> Result<Subscription, BrokerError> {
        if let Some(pattern) = &filter {
            Filter::compile(pattern)?;
        }
        let _admin = self.admin.lock().await;
        let mut record = self.get_subscription_record(id)?;
        record.filter = filter;
        self.storage
            .write(vec![Op::PutSubscription(record.clone())])
            .await?;
        let mut catalog = self.catalog_mut();
        catalog
            .subscriptions
            .insert(record.id.clone(), record.clone());
        catalog.rebuild_routes(&record.topic);
        Ok(subscription_view(&record))
    }

    /// Deletes a subscription.
    pub async fn delete_subscription(&self, id: &str) -> Result<(), BrokerError> {
        let _admin = self.admin.lock().await;
        let record = self.get_subscription_record(id)?;
        self.storage
            .write(vec![Op::DeleteSubscription { id: id.into() }])
            .await?;
        let mut catalog = self.catalog_mut();
        catalog.subscriptions.remove(id);
        catalog.rebuild_routes(&record.topic);
        Ok(())
    }

    fn get_subscription_record(&self, id: &str) -> Result<SubscriptionRecord, BrokerError> {
        self.catalog()
            .subscriptions
            .get(id)
            .cloned()
            .ok_or_else(|| BrokerError::SubscriptionNotFound { id: id.into() })
    }

    /// Overlays `patch` on `record` and checks the result.
    fn apply_settings(
        &self,
        mut record: QueueRecord,
        patch: PatchQueue,
    ) -> Result<QueueRecord, BrokerError> {
        let invalid = |name, reason: String| BrokerError::InvalidSetting { name, reason };
        if let Some(ms) = patch.visibility_timeout_ms {
            if ms > MAX_VISIBILITY_MS {
                return Err(invalid(
                    "visibility_timeout_ms",
                    format!("{ms} is over the maximum of {MAX_VISIBILITY_MS} (12 h)"),
                ));
            }
            record.visibility_timeout_ms = ms;
        }
        if let Some(ms) = patch.delay_ms {
            if ms > MAX_DELAY_MS {
                return Err(invalid(
                    "delay_ms",
                    format!("{ms} is over the maximum of {MAX_DELAY_MS} (15 min)"),
                ));
            }
            record.delay_ms = ms;
        }
        if let Some(ms) = patch.retention_ms {
            if !(MIN_RETENTION_MS..=MAX_RETENTION_MS).contains(&ms) {
                return Err(invalid(
                    "retention_ms",
                    format!(
                        "{ms} is outside {MIN_RETENTION_MS}..={MAX_RETENTION_MS} (1 s to 14 days)"
                    ),
                ));
            }
            record.retention_ms = ms;
        }
        if let Some(ordering) = patch.ordering {
            record.ordering = ordering;
        }
        if let Some(retry) = patch.retry {
            if let Some(schedule) = &retry {
                schedule
                    .validate()
                    .map_err(|(name, reason)| invalid(name, reason))?;
            }
            record.retry = retry;
        }
        if let Some(fairness) = patch.fairness {
            if let Some(fairness) = &fairness {
                fairness
                    .validate()
                    .map_err(|(name, reason)| invalid(name, reason))?;
            }
            record.fairness = fairness;
        }
        if let Some(thresholds) = patch.monitor_thresholds_ms {
            if let Some(thresholds) = &thresholds {
                super::monitor::validate_thresholds(thresholds)?;
            }
            record.monitor_thresholds_ms = thresholds;
        }
        if let Some(dead_letter_queue) = patch.dead_letter_queue {
            if let Some(dlq) = &dead_letter_queue {
                validate_name("queue", dlq)?;
                if *dlq == record.name {
                    return Err(invalid(
                        "dead_letter_queue",
                        "a queue cannot be its own dead-letter queue".into(),
                    ));
                }
                if !self.catalog().queues.contains_key(dlq) {
                    return Err(BrokerError::DeadLetterQueueNotFound { name: dlq.clone() });
                }
            } else if patch.max_receive_count.is_none() {
                record.max_receive_count = None;
            }
            record.dead_letter_queue = dead_letter_queue;
        }
        if let Some(max) = patch.max_receive_count {
            if !(1..=MAX_MAX_RECEIVE_COUNT).contains(&max) {
                return Err(invalid(
                    "max_receive_count",
                    format!("{max} is outside 1..={MAX_MAX_RECEIVE_COUNT}"),
                ));
            }
            record.max_receive_count = Some(max);
        }
        match (&record.dead_letter_queue, record.max_receive_count) {
            (Some(_), None) => record.max_receive_count = Some(DEFAULT_MAX_RECEIVE_COUNT),
            (None, Some(_)) => {
                return Err(invalid(
                    "max_receive_count",
                    "needs a dead_letter_queue to move messages to".into(),
                ));
            }
            _ => {}
        }
        Ok(record)
    }
}

pub(crate) fn queue_view(record: &QueueRecord, stats: Option<QueueStats>) -> Queue {
    Queue {
        name: record.name.clone(),
        visibility_timeout_ms: record.visibility_timeout_ms,
        max_receive_count: record.max_receive_count,
        dead_letter_queue: record.dead_letter_queue.clone(),
        delay_ms: record.delay_ms,
        retention_ms: record.retention_ms,
        ordering: record.ordering,
        retry: record.retry.clone(),
        fairness: record.fairness.clone(),
        monitor_thresholds_ms: super::monitor::thresholds(record),
        created_at_ms: record.created_at_ms,
        stats,
    }
}

pub(crate) fn subscription_view(record: &SubscriptionRecord) -> Subscription {
    Subscription {
        id: record.id.clone(),
        topic: record.topic.clone(),
        queue: record.queue.clone(),
        filter: record.filter.clone(),
        created_at_ms: record.created_at_ms,
        replay: None,
    }
}
