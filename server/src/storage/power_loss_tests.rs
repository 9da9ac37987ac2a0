//! Durability under simulated power loss: a redb backend that keeps only what was synced.
//! Every write the writer acknowledges must be in the synced image at the moment of the
//! acknowledgement, and a database reopened from that image must hold exactly it.

use std::sync::{Arc, Condvar, Mutex};

use redb::{Database, StorageBackend};

use super::*;

/// The live image (what the process sees) and the synced image (what survives a crash).
#[derive(Debug, Default)]
struct Disk {
    live: Vec<u8>,
    synced: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
struct PowerLossBackend(Arc<Mutex<Disk>>, Arc<Gate>);

/// Holds `sync_data` while closed, so a test can line requests up behind a commit.
#[derive(Debug, Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    closed: bool,
    held: bool,
}

impl Gate {
    fn close(&self) {
        self.state.lock().unwrap().closed = true;
    }

    fn open(&self) {
        self.state.lock().unwrap().closed = false;
        self.changed.notify_all();
    }

    /// Waits until a sync is held at the gate.
    fn wait_until_held(&self) {
        let mut state = self.state.lock().unwrap();
        while !state.held {
            state = self.changed.wait(state).unwrap();
        }
    }

    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        while state.closed {
            state.held = true;
            self.changed.notify_all();
            state = self.changed.wait(state).unwrap();
        }
        state.held = false;
    }
}

impl PowerLossBackend {
    /// A fresh disk holding only what `self` had synced: the state after a power cut.
    fn after_power_loss(&self) -> Self {
        let synced = self.0.lock().unwrap().synced.clone();
        let disk = Disk {
            live: synced.clone(),
            synced,
        };
        Self(Arc::new(Mutex::new(disk)), Arc::default())
    }
}

impl StorageBackend for PowerLossBackend {
    fn len(&self) -> Result<u64, std::io::Error> {
        Ok(self.0.lock().unwrap().live.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        let disk = self.0.lock().unwrap();
        let start = offset as usize;
        let end = start + out.len();
        if end > disk.live.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "read past the end",
            ));
        }
        out.copy_from_slice(&disk.live[start..end]);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.0.lock().unwrap().live.resize(len as usize, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.1.pass();
        let mut disk = self.0.lock().unwrap();
        disk.synced = disk.live.clone();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        let mut disk = self.0.lock().unwrap();
        let start = offset as usize;
        if disk.live.len() < start + data.len() {
            disk.live.resize(start + data.len(), 0);
        }
        disk.live[start..start + data.len()].copy_from_slice(data);
        Ok(())
    }
}

fn open(backend: &PowerLossBackend) -> (Storage, Recovered) {
    let db = Database::builder()
        .create_with_backend(backend.clone())
        .expect("the image opens");
    Storage::from_database(db, 64).expect("storage recovers")
}

pub(super) fn queue(id: QueueId) -> QueueRecord {
    QueueRecord {
        id,
        name: format!("q{id}"),
        visibility_timeout_ms: 30_000,
        max_receive_count: None,
        dead_letter_queue: None,
        delay_ms: 0,
        retention_ms: 1 << 40,
        ordering: Default::default(),
        retry: None,
        fairness: None,
        monitor_thresholds_ms: None,
        created_at_ms: 0,
    }
}

pub(super) fn publish(id: MessageId, queues: &[QueueId]) -> Op {
    let body = StoredMessage {
        topic: Some("t".into()),
        key: None,
        attributes: Default::default(),
        published_at_ms: 1,
        is_json: false,
        payload: id.to_be_bytes().to_vec(),
    };
    Op::PutMessage {
        id,
        message: EncodedMessage::new(&body),
        deliveries: queues
            .iter()
            .map(|q| {
                let record = DeliveryRecord {
                    visible_at_ms: 0,
                    receive_count: 0,
                    leases: 0,
                    leased: false,
                    first_received_at_ms: None,
                    dead_letter: None,
                    enqueued_at_ms: None,
                    key_hash: None,
                    group_hash: None,
                    size: 0,
                };
                (*q, record)
            })
            .collect(),
        dedup: None,
        archive: None,
    }
}

/// The ids `queue`'s copies were recovered with, in order.
pub(super) fn ids_in(recovered: &Recovered, queue: QueueId) -> Vec<MessageId> {
    let mut ids: Vec<MessageId> = recovered
        .deliveries
        .get(&queue)
        .map(|d| d.iter().map(|(id, _)| *id).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn every_acknowledged_write_survives_a_power_cut_at_the_moment_it_is_acknowledged() {
    let disk = PowerLossBackend::default();
    let (storage, _) = open(&disk);
    storage
        .write(vec![Op::PutQueue(queue(1)), Op::PutQueue(queue(2))])
        .await
        .unwrap();
    let mut acknowledged = Vec::new();
    for id in 1..=20u128 {
        storage.write(vec![publish(id, &[1, 2])]).await.unwrap();
        acknowledged.push(id);
        if id % 2 == 0 {
            let acked = id - 1;
            storage
                .write(vec![Op::DeleteDelivery {
                    queue: 1,
                    id: acked,
                }])
                .await
                .unwrap();
            acknowledged.retain(|x| *x != acked);
        }
        // Cut the power right after the acknowledgement: the synced image must hold it.
        let (after, recovered) = open(&disk.after_power_loss());
        assert_eq!(
            ids_in(&recovered, 1),
            acknowledged,
            "queue 1 after message {id}"
        );
        assert_eq!(
            ids_in(&recovered, 2),
            (1..=id).collect::<Vec<_>>(),
            "queue 2 after {id}"
        );
        after.close();
    }
    storage.close();
}

#[tokio::test]
async fn a_body_is_kept_while_any_copy_remains_and_dropped_with_the_last() {
    let disk = PowerLossBackend::default();
    let (storage, _) = open(&disk);
    storage
        .write(vec![Op::PutQueue(queue(1)), Op::PutQueue(queue(2))])
        .await
        .unwrap();
    storage.write(vec![publish(7, &[1, 2])]).await.unwrap();
    assert_eq!(storage.message_count().unwrap(), 1);
    storage
        .write(vec![Op::DeleteDelivery { queue: 1, id: 7 }])
        .await
        .unwrap();
    assert_eq!(
        storage.read_messages(&[7]).unwrap()[0]
            .as_ref()
            .unwrap()
            .payload,
        7u128.to_be_bytes()
    );
    storage.close();

    // Reopened, the writer rebuilds its reference counts from the deliveries.
    let (storage, recovered) = open(&disk.after_power_loss());
    assert_eq!(ids_in(&recovered, 2), vec![7]);
    storage
        .write(vec![Op::DeleteDelivery { queue: 2, id: 7 }])
        .await
        .unwrap();
    assert_eq!(storage.message_count().unwrap(), 0);
    storage.close();
}

#[tokio::test]
async fn requests_waiting_behind_a_commit_share_the_next_one_and_all_survive() {
    let disk = PowerLossBackend::default();
    let (storage, _) = open(&disk);
    storage.write(vec![Op::PutQueue(queue(1))]).await.unwrap();
    let commits_before = storage
        .counters()
        .commits
        .load(std::sync::atomic::Ordering::Relaxed);

    // Hold the first publish's commit at its fsync, line 199 more up behind it, let go.
    disk.1.close();
    let first = storage.submit(vec![publish(1, &[1])]);
    let gate = disk.1.clone();
    tokio::task::spawn_blocking(move || gate.wait_until_held())
        .await
        .unwrap();
    let waiting: Vec<_> = (2..=200u128)
        .map(|id| storage.submit(vec![publish(id, &[1])]))
        .collect();
    disk.1.open();
    first.wait().await.unwrap();
    for pending in waiting {
        pending.wait().await.unwrap();
    }

    // One commit for the first, then groups of at most 64 (the bound `open` sets).
    let commits = storage
        .counters()
        .commits
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(commits - commits_before, 1 + 199usize.div_ceil(64) as u64);
    let (after, recovered) = open(&disk.after_power_loss());
    assert_eq!(ids_in(&recovered, 1), (1..=200).collect::<Vec<_>>());
    after.close();
    storage.close();
}

#[tokio::test]
async fn settlements_are_remembered_durably_and_swept_by_when_they_were_made() {
    let disk = PowerLossBackend::default();
    let (storage, _) = open(&disk);
    storage.write(vec![Op::PutQueue(queue(1))]).await.unwrap();
    // Published at 5 and 9 ms; settled at 6 and at 50 ms.
    let (prompt, late) = (5u128 << 80, 9u128 << 80);
    storage
        .write(vec![publish(prompt, &[1]), publish(late, &[1])])
        .await
        .unwrap();
    let settle = |id, at_ms| Op::SettleDelivery {
        queue: 1,
        id,
        outcome: Settled::Acked,
        receive_count: 2,
        at_ms,
    };
    storage
        .write(vec![settle(prompt, 6), settle(late, 50)])
        .await
        .unwrap();
    assert_eq!(
        storage.write(vec![settle(late, 51)]).await.unwrap(),
        [OpOutcome::Missing]
    );

    let (after, recovered) = open(&disk.after_power_loss());
    assert!(ids_in(&recovered, 1).is_empty(), "both copies are gone");
    let settled_at = |at_ms| Settlement {
        queue: 1,
        outcome: Settled::Acked,
        at_ms,
        receive_count: 2,
    };
    assert_eq!(after.read_settlements(prompt).unwrap(), [settled_at(6)]);
    after.close();

    let sweep = |before_ms| Op::SweepSettled {
        before_ms,
        limit: 100,
    };
    storage.write(vec![sweep(20)]).await.unwrap();
    assert!(
        storage.read_settlements(prompt).unwrap().is_empty(),
        "settled before the cutoff"
    );
    assert_eq!(
        storage.read_settlements(late).unwrap(),
        [settled_at(50)],
        "published before the cutoff, but settled after it"
    );
    storage.write(vec![sweep(60)]).await.unwrap();
    assert!(storage.read_settlements(late).unwrap().is_empty());
    storage.close();
}
