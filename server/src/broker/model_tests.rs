//! Model-based test of a queue and the writer: random sends, receives, acks, nacks,
//! restarts after a power cut and injected commit failures, checked against a plain
//! reference model (as redb fuzzes itself against a `BTreeMap`). What the broker
//! acknowledged must be exactly what the model holds, across every restart; a write that
//! failed must change nothing, in memory or on disk.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use redb::{Database, StorageBackend};
use switchyard_client::{CreateQueue, PublishMessage, ReceiveRequest};

use super::{Broker, BrokerError, MAX_VISIBILITY_MS};
use crate::config::Config;
use crate::storage::Storage;

/// A disk that keeps only what was synced (what survives a power cut), and whose next
/// sync fails on request.
#[derive(Debug, Clone, Default)]
struct Disk {
    images: Arc<Mutex<Images>>,
    fail_next_sync: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct Images {
    live: Vec<u8>,
    synced: Vec<u8>,
}

impl Disk {
    /// The disk after a power cut: only the synced image.
    fn after_power_loss(&self) -> Self {
        let synced = self.images.lock().unwrap().synced.clone();
        let images = Images {
            live: synced.clone(),
            synced,
        };
        Self {
            images: Arc::new(Mutex::new(images)),
            fail_next_sync: Arc::default(),
        }
    }
}

impl StorageBackend for Disk {
    fn len(&self) -> Result<u64, std::io::Error> {
        Ok(self.images.lock().unwrap().live.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        let images = self.images.lock().unwrap();
        let start = offset as usize;
        let bytes = images.live.get(start..start + out.len()).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "past the end")
        })?;
        out.copy_from_slice(bytes);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.images.lock().unwrap().live.resize(len as usize, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        if self.fail_next_sync.swap(false, Ordering::SeqCst) {
            return Err(std::io::Error::other("injected: the disk failed"));
        }
        let mut images = self.images.lock().unwrap();
        images.synced = images.live.clone();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        let mut images = self.images.lock().unwrap();
        let start = offset as usize;
        if images.live.len() < start + data.len() {
            images.live.resize(start + data.len(), 0);
        }
        images.live[start..start + data.len()].copy_from_slice(data);
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Step {
    Send(usize),
    Receive(u32),
    Ack(usize),
    Nack(usize),
    Restart,
    FailNextWrite,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1usize..4).prop_map(Step::Send),
        4 => (1u32..4).prop_map(Step::Receive),
        3 => any::<usize>().prop_map(Step::Ack),
        2 => any::<usize>().prop_map(Step::Nack),
        1 => Just(Step::Restart),
        1 => Just(Step::FailNextWrite),
    ]
}

/// The reference: a queue is a set of waiting ids and a map of leased ones.
#[derive(Debug, Default)]
struct Model {
    waiting: BTreeSet<String>,
    /// id → (receipt, deliveries so far).
    leased: BTreeMap<String, (String, u32)>,
    deliveries: BTreeMap<String, u32>,
    /// A commit failed: every write is refused until the restart.
    broken: bool,
}

impl Model {
    fn pick(&self, index: usize) -> Option<(String, String)> {
        if self.leased.is_empty() {
            return None;
        }
        let (id, (receipt, _)) = self.leased.iter().nth(index % self.leased.len())?;
        Some((id.clone(), receipt.clone()))
    }
}

struct Harness {
    disk: Disk,
    broker: Arc<Broker>,
    config: Config,
}

impl Harness {
    fn open(disk: Disk, config: Config) -> Self {
        let db = Database::builder()
            .create_with_backend(disk.clone())
            .expect("the disk opens");
        let (storage, recovered) = Storage::from_database(db, 64).expect("storage opens");
        let broker = Broker::with_storage(storage, recovered, &config).expect("the broker opens");
        Self {
            disk,
            broker,
            config,
        }
    }

    fn restart(self) -> Self {
        let disk = self.disk.after_power_loss();
        let config = self.config.clone();
        drop(self.broker);
        Self::open(disk, config)
    }
}

/// A write refused because the disk failed (or had failed before).
fn is_disk_failure(error: &BrokerError) -> bool {
    matches!(error, BrokerError::Storage(_))
}

async fn check(harness: &Harness, model: &Model) {
    let stats = harness.broker.get_queue("q").unwrap().stats.unwrap();
    assert_eq!(
        (stats.ready + stats.delayed, stats.in_flight),
        (model.waiting.len() as u64, model.leased.len() as u64),
        "{model:?}"
    );
    let held: BTreeSet<String> = harness
        .broker
        .peek("q", None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    let expected: BTreeSet<String> = model
        .waiting
        .iter()
        .chain(model.leased.keys())
        .cloned()
        .collect();
    assert_eq!(held, expected);
}

async fn run(steps: Vec<Step>) {
    let config = Config::for_data_dir(std::env::temp_dir().join("switchyard-model-unused"));
    let mut harness = Harness::open(Disk::default(), config);
    let queue = CreateQueue {
        name: "q".into(),
        ..Default::default()
    };
    harness.broker.create_queue(queue).await.unwrap();
    let mut model = Model::default();
    for step in steps {
        match step {
            Step::Send(count) => {
                let messages = (0..count)
                    .map(|n| PublishMessage::json(&n).unwrap())
                    .collect();
                match harness.broker.send("q", messages, true).await {
                    Ok(ids) => {
                        assert!(!model.broken, "a write was acknowledged after a failure");
                        model.waiting.extend(ids);
                    }
                    Err(error) => assert!(model.broken && is_disk_failure(&error), "{error}"),
                }
            }
            Step::Receive(max) => {
                let request = ReceiveRequest {
                    max_messages: Some(max),
                    wait_ms: Some(0),
                    visibility_timeout_ms: Some(MAX_VISIBILITY_MS),
                };
                match harness.broker.receive("q", request).await {
                    Ok(messages) => {
                        let expected: Vec<String> =
                            model.waiting.iter().take(max as usize).cloned().collect();
                        let got: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
                        if model.broken {
                            // Nothing to lease means nothing to write.
                            assert!(got.is_empty() && expected.is_empty(), "{got:?}");
                        }
                        assert_eq!(got, expected, "the oldest waiting messages, in order");
                        for message in messages {
                            model.waiting.remove(&message.id);
                            let count = model.deliveries.entry(message.id.clone()).or_default();
                            *count += 1;
                            assert_eq!(message.receive_count, *count);
                            let receipt = message.receipt.expect("a receipt");
                            model.leased.insert(message.id, (receipt, *count));
                        }
                    }
                    Err(error) => assert!(model.broken && is_disk_failure(&error), "{error}"),
                }
            }
            Step::Ack(index) => {
                let Some((id, receipt)) = model.pick(index) else {
                    continue;
                };
                match harness.broker.ack("q", vec![receipt]).await {
                    Ok(answer) => {
                        assert!(!model.broken);
                        assert_eq!(answer.acked, 1, "{answer:?}");
                        model.leased.remove(&id);
                    }
                    Err(error) => assert!(model.broken && is_disk_failure(&error), "{error}"),
                }
            }
            Step::Nack(index) => {
                let Some((id, receipt)) = model.pick(index) else {
                    continue;
                };
                match harness.broker.nack("q", vec![receipt], None).await {
                    Ok(_) => {
                        assert!(!model.broken);
                        model.leased.remove(&id);
                        model.waiting.insert(id);
                    }
                    Err(error) => assert!(model.broken && is_disk_failure(&error), "{error}"),
                }
            }
            Step::Restart => {
                harness = harness.restart();
                model.broken = false;
            }
            Step::FailNextWrite => {
                if !model.broken {
                    harness.disk.fail_next_sync.store(true, Ordering::SeqCst);
                    // The next write fails; the model learns it from the answer.
                    model.broken = true;
                }
            }
        }
        check(&harness, &model).await;
    }
    let harness = harness.restart();
    model.broken = false;
    check(&harness, &model).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_queue_holds_exactly_what_was_acknowledged(
        steps in proptest::collection::vec(step(), 1..60)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(steps));
    }
}
