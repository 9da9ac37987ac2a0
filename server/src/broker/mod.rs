//! The rules: topics, queues, subscriptions, routing, leases, dead letters. Knows neither
//! HTTP (api), nor redb (storage internals), nor wasm. Every change is decided here, made
//! durable through [`crate::storage`], and only then reported as done.

mod archive;
mod bounded;
mod catalog;
mod consume;
mod dead_letter;
mod delivery;
mod error;
pub(crate) mod filter;
mod history;
#[cfg(test)]
mod model_tests;
mod monitor;
mod publish;
mod queue;
pub(crate) mod receipt;
mod redrive;
mod replay;
mod rollback;
mod topics;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use consume::{BatchOutcome, BatchSummary};
pub(crate) use delivery::BatchRule;
pub use error::BrokerError;
pub use monitor::{SCAN_CHUNK, SCAN_LIMIT};

use crate::config::Config;
use crate::storage::{
    ArchiveId, MessageId, ReplayRecord, Storage, SubscriptionRecord, TopicRecord,
};
use filter::{Filter, FilterIndex};
use queue::QueueHandle;

/// Longest visibility timeout, lease extension or nack delay: 12 hours.
pub const MAX_VISIBILITY_MS: u64 = 12 * 60 * 60 * 1000;
/// Longest queue or message delay: 15 minutes.
pub const MAX_DELAY_MS: u64 = 15 * 60 * 1000;
/// Longest retention: 14 days.
pub const MAX_RETENTION_MS: u64 = 14 * 24 * 60 * 60 * 1000;
/// Longest long-poll wait: 20 seconds.
pub const MAX_WAIT_MS: u64 = 20_000;
/// Most messages one receive hands out.
pub const MAX_RECEIVE: u32 = 1000;

/// The broker: the catalog of topics, queues and subscriptions, each queue's hot state,
/// and the storage that makes it durable.
pub struct Broker {
    /// This broker, for the background tasks it starts (replay jobs).
    me: std::sync::Weak<Broker>,
    storage: Arc<Storage>,
    catalog: RwLock<Catalog>,
    /// Serializes catalog changes (create, patch, delete) across their durable write.
    admin: tokio::sync::Mutex<()>,
    /// Publishes hold it shared from taking their routes until their write is submitted;
    /// a subscription that starts from a past position holds it exclusively while it
    /// joins the routes and takes its cut-over position, so every publish is either before
    /// the cut (replayed) or after it (routed live).
    publish_gate: RwLock<()>,
    next_queue_id: AtomicU64,
    next_archive_id: AtomicU64,
    /// Replay jobs by id, as last committed.
    replays: Mutex<BTreeMap<String, ReplayRecord>>,
    /// Running replay tasks, awaited at shutdown.
    replay_tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    ids: Mutex<ulid::Generator>,
    limits: Limits,
    /// Authenticates the receipts this broker hands out.
    receipt_key: receipt::ReceiptKey,
    /// Per queue, the consumers that lease from it (a queue with consumers is not
    /// deleted); changed under `admin`.
    consumers: Mutex<HashMap<String, std::collections::BTreeSet<String>>>,
    /// Set when the server shuts down: long polls return at once.
    closing: AtomicBool,
    /// Deleted queues whose copies are still on disk (deleted in chunks, also after a
    /// restart cut that short).
    orphans: Mutex<std::collections::BTreeSet<crate::storage::QueueId>>,
    /// The most recent delivery failures, per queue, for the monitor.
    failures: Mutex<monitor::FailureNotes>,
    /// Redrive jobs, running and recent.
    redrives: Mutex<redrive::RedriveJobs>,
    /// The last hour of queue and topic figures.
    history: Mutex<history::Samples>,
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    max_message_bytes: usize,
    max_batch_messages: usize,
    dedup_window_ms: u64,
    status_retention_ms: u64,
    history_interval_ms: u64,
}

#[derive(Default)]
struct Catalog {
    topics: BTreeMap<String, TopicRecord>,
    queues: BTreeMap<String, Arc<QueueHandle>>,
    subscriptions: BTreeMap<String, SubscriptionRecord>,
    /// Per topic, the queues a publish goes to, with their compiled filters.
    routes: HashMap<String, Arc<Routes>>,
}

/// A topic's subscriptions, ready for routing.
#[derive(Default)]
struct Routes {
    routes: Vec<Route>,
    /// Narrows which routes' filters a publish must evaluate.
    index: FilterIndex,
    /// The topic's archive, when it is on: every publish is archived there too.
    archive: Option<ArchiveId>,
    /// Messages published to the topic since the server started (kept across rebuilds).
    published: Arc<AtomicU64>,
}

struct Route {
    queue: Arc<QueueHandle>,
    filter: Option<Arc<Filter>>,
}

impl Catalog {
    /// Messages published to `topic` since the server started.
    /// A topic's subscription count and publishes since the server started.
    fn counts(&self, topic: &str) -> (usize, u64) {
        self.routes.get(topic).map_or((0, 0), |r| {
            (r.routes.len(), r.published.load(Ordering::Relaxed))
        })
    }

    fn rebuild_routes(&mut self, topic: &str) {
        let routes: Vec<Route> = self
            .subscriptions
            .values()
            .filter(|s| s.topic == topic)
            .filter_map(|s| {
                let queue = self.queues.get(&s.queue)?.clone();
                let filter = match s.filter.as_ref().map(Filter::compile) {
                    None => None,
                    Some(Ok(filter)) => Some(Arc::new(filter)),
                    Some(Err(error)) => {
                        // Stored under older, looser rules: delivering everything would be
                        // as wrong as guessing, so it delivers nothing until it is changed.
                        tracing::error!(
                            subscription = %s.id,
                            %error,
                            "a stored filter is no longer valid; the subscription delivers nothing until its filter is changed"
                        );
                        return None;
                    }
                };
                Some(Route { queue, filter })
            })
            .collect();
        let index = FilterIndex::build(routes.iter().map(|r| r.filter.as_deref()));
        let archive = self
            .topics
            .get(topic)
            .and_then(|t| t.archive.and(t.archive_id));
        let published = self
            .routes
            .get(topic)
            .map(|r| r.published.clone())
            .unwrap_or_default();
        let routes = Routes {
            routes,
            index,
            archive,
            published,
        };
        self.routes.insert(topic.to_string(), Arc::new(routes));
    }
}

impl Broker {
    /// Opens storage under `config.data_dir` and rebuilds every queue's state (blocking).
    /// Replay jobs that were running wait for [`Broker::resume_replays`].
    pub fn open(config: &Config) -> Result<Arc<Self>, BrokerError> {
        let (storage, recovered) = Storage::open(&config.data_dir, config.max_group_commit)?;
        Self::with_storage(storage, recovered, config)
    }

    /// A broker over storage already opened (on another backend, in tests), with what it
    /// recovered.
    pub(crate) fn with_storage(
        storage: Storage,
        recovered: crate::storage::Recovered,
        config: &Config,
    ) -> Result<Arc<Self>, BrokerError> {
        let receipt_key = receipt::ReceiptKey::new(&storage.receipt_key()?);
        let now = now_ms();
        let mut catalog = Catalog::default();
        let mut by_id = HashMap::new();
        for topic in recovered.topics {
            catalog.topics.insert(topic.name.clone(), topic);
        }
        for settings in recovered.queues {
            let handle = Arc::new(QueueHandle::new(settings));
            by_id.insert(handle.id, handle.clone());
            catalog.queues.insert(handle.name.clone(), handle);
        }
        let mut restored = 0usize;
        let mut orphans = std::collections::BTreeSet::new();
        for (queue_id, deliveries) in recovered.deliveries {
            let Some(handle) = by_id.get(&queue_id) else {
                orphans.insert(queue_id);
                continue;
            };
            restored += deliveries.len();
            handle.lock().load(deliveries, now);
        }
        for subscription in recovered.subscriptions {
            catalog
                .subscriptions
                .insert(subscription.id.clone(), subscription);
        }
        let topics: Vec<String> = catalog.topics.keys().cloned().collect();
        for topic in topics {
            catalog.rebuild_routes(&topic);
        }
        tracing::info!(
            topics = catalog.topics.len(),
            queues = catalog.queues.len(),
            messages = restored,
            "recovered state"
        );
        let replays = recovered
            .replays
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        Ok(Arc::new_cyclic(|me| Self {
            me: me.clone(),
            storage: Arc::new(storage),
            catalog: RwLock::new(catalog),
            admin: tokio::sync::Mutex::new(()),
            publish_gate: RwLock::new(()),
            next_queue_id: AtomicU64::new(recovered.next_queue_id.max(1)),
            next_archive_id: AtomicU64::new(recovered.next_archive_id.max(1)),
            replays: Mutex::new(replays),
            replay_tasks: Mutex::new(Vec::new()),
            ids: Mutex::new(ulid::Generator::new()),
            limits: Limits {
                max_message_bytes: config.max_message_bytes,
                max_batch_messages: config.max_batch_messages,
                dedup_window_ms: config.dedup_window_ms,
                status_retention_ms: config.status_retention_ms,
                history_interval_ms: config.history_interval_ms,
            },
            receipt_key,
            consumers: Mutex::default(),
            closing: AtomicBool::new(false),
            orphans: Mutex::new(orphans),
            failures: Mutex::default(),
            redrives: Mutex::default(),
            history: Mutex::default(),
        }))
    }

    /// Ends every long poll now and makes new ones return at once.
    pub fn begin_shutdown(&self) {
        self.closing.store(true, Ordering::Release);
        for queue in self.queues() {
            queue.ready.notify_waiters();
        }
    }

    /// The storage underneath (for the dispatcher's plugin records and key-value reads).
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// Counters of the storage write path (commits, requests, ops, commit time).
    pub fn write_counters(&self) -> &crate::storage::WriteCounters {
        self.storage.counters()
    }

    /// How many message bodies storage holds (blocking: a read transaction).
    pub fn stored_messages(&self) -> Result<u64, BrokerError> {
        Ok(self.storage.message_count()?)
    }

    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Stops the storage writer once everything submitted is applied (blocking).
    pub fn close(&self) {
        self.storage.close();
    }

    fn catalog(&self) -> std::sync::RwLockReadGuard<'_, Catalog> {
        self.catalog.read().expect("catalog lock poisoned")
    }

    fn catalog_mut(&self) -> std::sync::RwLockWriteGuard<'_, Catalog> {
        self.catalog.write().expect("catalog lock poisoned")
    }

    fn queue(&self, name: &str) -> Result<Arc<QueueHandle>, BrokerError> {
        self.catalog()
            .queues
            .get(name)
            .cloned()
            .ok_or_else(|| BrokerError::QueueNotFound { name: name.into() })
    }

    fn queues(&self) -> Vec<Arc<QueueHandle>> {
        self.catalog().queues.values().cloned().collect()
    }

    fn next_ids(&self, count: usize) -> Vec<MessageId> {
        let mut generator = self.ids.lock().expect("id generator lock");
        (0..count)
            .map(|_| {
                loop {
                    // The generator fails only when 2^80 ids were made in one millisecond.
                    if let Ok(id) = generator.generate() {
                        break u128::from(id);
                    }
                    std::thread::yield_now();
                }
            })
            .collect()
    }
}

/// [`housekeeping`] on a thread of its own, with a runtime of its own, so none of its work
/// ever holds up the threads that serve requests. Stops when told or dropped.
pub struct Housekeeper {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Housekeeper {
    /// Starts upkeep of `broker`.
    pub fn start(broker: Arc<Broker>) -> std::io::Result<Self> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("housekeeping".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        () = housekeeping(broker) => {}
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops upkeep and waits for its thread to end (it blocks: call it where blocking is
    /// allowed).
    pub fn stop(mut self) {
        self.signal();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn signal(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Housekeeper {
    fn drop(&mut self) {
        self.signal();
    }
}

/// Background upkeep: every 20 ms makes delayed and expired-lease messages visible and
/// dead-letters what reached `max_receive_count`; beside that, in bounded chunks, drops
/// messages past retention and forgets old statuses and dedup ids (see [`bounded`]); and
/// every `history_interval_ms` samples the figures `GET /v1/history` serves.
pub async fn housekeeping(broker: Arc<Broker>) {
    let upkeep = async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let every = Duration::from_millis(broker.limits.history_interval_ms);
        let mut next_sample = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            let now = now_ms();
            for queue in broker.queues() {
                broker.promote(&queue, now).await;
            }
            if tokio::time::Instant::now() >= next_sample {
                broker.record_history();
                next_sample = tokio::time::Instant::now() + every;
            }
        }
    };
    tokio::join!(upkeep, bounded::sweep(&broker));
}

/// Unix time in ms.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The publish time a message id carries (its top 48 bits).
pub(crate) fn id_time_ms(id: MessageId) -> u64 {
    (id >> 80) as u64
}

fn format_id(id: MessageId) -> String {
    ulid::Ulid(id).to_string()
}

fn parse_id(text: &str) -> Option<MessageId> {
    ulid::Ulid::from_string(text).ok().map(u128::from)
}

/// Topic and queue names: `[A-Za-z0-9._-]{1,128}`.
pub(crate) fn validate_name(kind: &'static str, name: &str) -> Result<(), BrokerError> {
    let reason = if name.is_empty() {
        Some("must not be empty".to_string())
    } else if name.len() > 128 {
        Some(format!(
            "is {} characters long; the limit is 128",
            name.len()
        ))
    } else {
        name.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            .map(|c| format!("contains {c:?}; use only letters, digits, '.', '_' and '-'"))
    };
    match reason {
        Some(reason) => Err(BrokerError::InvalidName {
            kind,
            name: name.chars().take(200).collect(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_alphabet() {
        assert!(validate_name("queue", "mail-dlq_1.v2").is_ok());
        assert!(validate_name("queue", "").is_err());
        assert!(validate_name("queue", "has space").is_err());
        assert!(validate_name("queue", &"a".repeat(129)).is_err());
        assert!(validate_name("queue", &"a".repeat(128)).is_ok());
    }

    fn message(text: &str) -> switchyard_client::PublishMessage {
        switchyard_client::PublishMessage::json(&text).unwrap()
    }

    #[tokio::test]
    async fn a_fanned_out_payload_is_stored_once_and_deleted_with_its_last_copy() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(&Config::for_data_dir(dir.path())).unwrap();
        broker.create_topic("t", None).await.unwrap();
        for name in ["a", "b", "c"] {
            let queue = switchyard_client::CreateQueue {
                name: name.into(),
                ..Default::default()
            };
            broker.create_queue(queue).await.unwrap();
            let subscription = switchyard_client::CreateSubscription {
                topic: "t".into(),
                queue: name.into(),
                filter: None,
                start: None,
            };
            broker.create_subscription(subscription).await.unwrap();
        }
        let ids = broker
            .publish("t", vec![message("hello")], false)
            .await
            .unwrap();
        assert_eq!(
            broker.storage.message_count().unwrap(),
            1,
            "one body for three copies"
        );
        for (index, name) in ["a", "b", "c"].into_iter().enumerate() {
            let request = switchyard_client::ReceiveRequest::default();
            let received = broker.receive(name, request).await.unwrap();
            assert_eq!(received[0].id, ids[0]);
            let receipt = received[0].receipt.clone().unwrap();
            broker.ack(name, vec![receipt]).await.unwrap();
            let left = if index < 2 { 1 } else { 0 };
            assert_eq!(
                broker.storage.message_count().unwrap(),
                left,
                "after acking in {name}"
            );
        }
        broker.close();
    }

    #[tokio::test]
    async fn reopening_rebuilds_queues_from_storage() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::for_data_dir(dir.path());
        let broker = Broker::open(&config).unwrap();
        let queue = switchyard_client::CreateQueue {
            name: "q".into(),
            delay_ms: Some(60_000),
            ..Default::default()
        };
        broker.create_queue(queue).await.unwrap();
        broker
            .send("q", vec![message("later"), message("later too")], true)
            .await
            .unwrap();
        broker.close();
        drop(broker);
        let broker = Broker::open(&config).unwrap();
        let stats = broker.get_queue("q").unwrap().stats.unwrap();
        assert_eq!((stats.ready, stats.delayed), (0, 2));
        broker.close();
    }

    #[test]
    fn ids_carry_their_time() {
        let id = u128::from(ulid::Ulid::from_parts(1_700_000_000_123, 42));
        assert_eq!(id_time_ms(id), 1_700_000_000_123);
        assert_eq!(parse_id(&format_id(id)), Some(id));
    }
}
