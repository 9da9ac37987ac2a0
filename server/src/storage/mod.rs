//! Durable state in redb. The only module that imports redb. One writer thread applies every
//! change with group commit ([`writer`]); reads use their own read transactions and are
//! blocking (call them off the async runtime).

mod access;
mod alarms;
mod archive;
#[cfg(test)]
mod bounded_tests;
pub(crate) mod codec;
#[cfg(test)]
pub(crate) mod failure_tests;
mod pending;
mod plugins;
#[cfg(test)]
mod power_loss_tests;
mod records;
pub(crate) mod tables;
mod writer;
#[cfg(test)]
mod writer_tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};

pub use access::{AccessOp, AuditRecord, AwsKey, TokenRecord};
pub use alarms::{AlarmOp, AlarmRecord};
pub use archive::{ArchiveHead, ArchiveId, ArchivedMessage};
pub use pending::PendingWrite;
pub use plugins::{ConsumerRecord, PluginOp, PluginRecord, PluginVersionRecord, RecoveredPlugins};
pub use records::*;
/// Where a replay job is (the wire's states are stored as they are).
pub use switchyard_client::ReplayState;
pub use writer::{
    BacklogLimits, DedupEntry, EncodedMessage, Op, OpOutcome, WriteCounters, WriterHealth,
};

/// A message id: a ULID as a number (its top 48 bits are the publish time in ms).
pub type MessageId = u128;

/// Reference counts by message id. Ids are made by the server (80 random bits each), so a
/// plain multiplicative hash spreads them well and costs far less than SipHash.
pub(crate) type RefCounts = HashMap<MessageId, u32, BuildIdHasher>;

/// Hashes message ids: fold the 128 bits, multiply by an odd constant.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BuildIdHasher;

/// See [`BuildIdHasher`].
#[derive(Debug, Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::BuildHasher for BuildIdHasher {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(29) ^ value).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u128(&mut self, value: u128) {
        self.write_u64(value as u64 ^ (value >> 64) as u64);
    }
}
/// A queue's internal id; a re-created queue gets a new one.
pub type QueueId = u64;

/// Everything read back at start.
#[derive(Debug, Default)]
pub struct Recovered {
    /// All topics.
    pub topics: Vec<TopicRecord>,
    /// All queues.
    pub queues: Vec<QueueRecord>,
    /// All subscriptions.
    pub subscriptions: Vec<SubscriptionRecord>,
    /// All replay jobs.
    pub replays: Vec<ReplayRecord>,
    /// Every delivery, by queue.
    pub deliveries: HashMap<QueueId, Vec<(MessageId, DeliveryRecord)>>,
    /// The next free queue id.
    pub next_queue_id: QueueId,
    /// The next free archive id.
    pub next_archive_id: ArchiveId,
}

/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error("cannot open database {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: redb::DatabaseError,
    },
    /// The database was written by an incompatible version.
    #[error("database schema version {found} is not supported (expected {expected})")]
    Schema {
        /// Found on disk.
        found: u64,
        /// This build's.
        expected: u64,
    },
    /// A transaction could not begin.
    #[error("storage transaction failed: {0}")]
    Transaction(#[from] redb::TransactionError),
    /// A table could not be opened.
    #[error("storage table failed: {0}")]
    Table(#[from] redb::TableError),
    /// A read or write failed.
    #[error("storage I/O failed: {0}")]
    Io(#[from] redb::StorageError),
    /// The commit failed; nothing of it is durable.
    #[error("storage commit failed: {0}")]
    Commit(#[from] redb::CommitError),
    /// A record could not be decoded.
    #[error("corrupt record: {what}")]
    Corrupt {
        /// What.
        what: String,
    },
    /// The storage was closed (the server is shutting down).
    #[error("storage is closed")]
    WriterStopped,
    /// An earlier commit failed on I/O; the writer takes no more writes until the server
    /// is restarted.
    #[error("storage stopped taking writes after a failed commit ({reason}); restart the server")]
    WriterFailed {
        /// The failure that stopped it.
        reason: String,
    },
    /// Too much waits for the writer already: the write was refused at once, nothing of it
    /// is stored; retry shortly.
    #[error(
        "the storage writer is behind ({requests} writes holding {bytes} bytes wait for it); retry shortly"
    )]
    Overloaded {
        /// Writes waiting.
        requests: usize,
        /// Bytes they hold.
        bytes: usize,
    },
    /// The group commit this request was part of failed; nothing of it is durable.
    #[error("group commit failed: {source}")]
    GroupFailed {
        /// The failure, shared by every request of the group.
        #[source]
        source: Arc<StorageError>,
    },
}

impl StorageError {
    /// Whether this is a failure of the disk or of redb's file (after which redb takes no
    /// more writes), not a refusal of one request.
    pub fn is_io(&self) -> bool {
        match self {
            StorageError::Io(_) | StorageError::Commit(_) | StorageError::Transaction(_) => true,
            StorageError::Table(redb::TableError::Storage(_)) => true,
            StorageError::GroupFailed { source } => source.is_io(),
            _ => false,
        }
    }
}

/// The database, its writer thread, and blocking reads.
pub struct Storage {
    /// Taken out at [`Storage::close`], so that the file is released even while other
    /// parts of the process still hold the `Storage`.
    db: RwLock<Option<Arc<Database>>>,
    writer: RwLock<Option<writer::Writer>>,
    counters: Arc<WriteCounters>,
    health: Arc<WriterHealth>,
    archive_heads: archive::SharedHeads,
}

const DB_FILE: &str = "switchyard.redb";

impl Storage {
    /// Opens (or creates) the database under `data_dir`, reads everything back, and starts
    /// the writer thread, which takes up to `max_group_commit` requests per transaction.
    pub fn open(
        data_dir: &Path,
        max_group_commit: usize,
    ) -> Result<(Self, Recovered), StorageError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StorageError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        let db = Database::builder()
            .set_cache_size(256 << 20)
            .create(&path)
            .map_err(|source| StorageError::Open { path, source })?;
        Self::from_database(db, max_group_commit)
    }

    pub(crate) fn from_database(
        db: Database,
        max_group_commit: usize,
    ) -> Result<(Self, Recovered), StorageError> {
        Self::with_limits(db, max_group_commit, BacklogLimits::default())
    }

    /// Storage over `db` whose writer's backlog is bounded by `limits`.
    pub(crate) fn with_limits(
        db: Database,
        max_group: usize,
        limits: BacklogLimits,
    ) -> Result<(Self, Recovered), StorageError> {
        init_schema(&db)?;
        let (recovered, refcounts, heads) = recover(&db)?;
        let settled_swept_ms = {
            let txn = db.begin_read()?;
            let meta = txn.open_table(tables::META)?;
            meta.get(tables::SETTLED_SWEPT_MS)?.map_or(0, |v| v.value())
        };
        let db = Arc::new(db);
        let live_queues = recovered.queues.iter().map(|q| q.id).collect();
        let counters = Arc::new(WriteCounters::default());
        let health = Arc::new(WriterHealth::default());
        let archive_heads = Arc::new(RwLock::new(heads));
        let start = writer::WriterStart {
            max_group,
            limits,
            refcounts,
            live_queues,
            heads: archive_heads.clone(),
            settled_swept_ms,
            counters: counters.clone(),
            health: health.clone(),
        };
        let writer = writer::Writer::start(db.clone(), start);
        let storage = Storage {
            db: RwLock::new(Some(db)),
            writer: RwLock::new(Some(writer)),
            counters,
            health,
            archive_heads,
        };
        Ok((storage, recovered))
    }

    /// Applies `ops` atomically in the next group commit; resolves once durable.
    pub async fn write(&self, ops: Vec<Op>) -> Result<Vec<OpOutcome>, StorageError> {
        self.submit(ops).wait().await
    }

    /// Queues `ops` for the next group commit without waiting. Requests are applied in the
    /// order they are submitted, so callers submit while holding the lock that ordered
    /// their decision, and wait after releasing it. When too much waits for the writer
    /// already, the write is refused at once with [`StorageError::Overloaded`].
    pub fn submit(&self, ops: Vec<Op>) -> PendingWrite {
        self.submit_as(ops, writer::Admission::Shed)
    }

    /// [`Storage::submit`] for background work that keeps one write in flight at a time
    /// (sweeps, replay batches, the rest of a purge): queued however much waits.
    pub fn submit_background(&self, ops: Vec<Op>) -> PendingWrite {
        self.submit_as(ops, writer::Admission::Always)
    }

    fn submit_as(&self, ops: Vec<Op>, admission: writer::Admission) -> PendingWrite {
        let writer = self.writer.read().expect("writer lock");
        match writer.as_ref() {
            Some(writer) => writer.submit(ops, admission),
            None => PendingWrite::refused(0, StorageError::WriterStopped),
        }
    }

    /// Stops the writer after it has applied everything submitted so far (blocking).
    pub fn close(&self) {
        let writer = self.writer.write().expect("writer lock").take();
        if let Some(writer) = writer {
            writer.stop();
        }
        self.db.write().expect("database lock").take();
    }

    fn db(&self) -> Result<Arc<Database>, StorageError> {
        self.db
            .read()
            .expect("database lock")
            .clone()
            .ok_or(StorageError::WriterStopped)
    }

    /// Reads message bodies (blocking). `None` where a message no longer exists.
    pub fn read_messages(
        &self,
        ids: &[MessageId],
    ) -> Result<Vec<Option<StoredMessage>>, StorageError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(tables::MESSAGES)?;
        ids.iter()
            .map(|id| match table.get(&tables::message_key(*id))? {
                Some(bytes) => codec::decode_message(bytes.value()).map(Some),
                None => Ok(None),
            })
            .collect()
    }

    /// How copies of `id` left their queues, as far as remembered (blocking).
    pub fn read_settlements(&self, id: MessageId) -> Result<Vec<Settlement>, StorageError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(tables::SETTLED)?;
        let (low, high) = (
            tables::settled_key(id, 0),
            tables::settled_key(id, u64::MAX),
        );
        let mut out = Vec::new();
        for row in table.range::<&[u8; 24]>(&low..=&high)? {
            let (key, value) = row?;
            let queue = u64::from_be_bytes(key.value()[16..].try_into().expect("8 bytes"));
            let (outcome, at_ms, receive_count) = tables::decode_settled(value.value());
            let outcome = Settled::from_byte(outcome).ok_or_else(|| StorageError::Corrupt {
                what: format!("settlement kind {outcome}"),
            })?;
            out.push(Settlement {
                queue,
                outcome,
                at_ms,
                receive_count,
            });
        }
        Ok(out)
    }

    /// A replay job as last committed (blocking).
    pub fn read_replay(&self, id: &str) -> Result<Option<ReplayRecord>, StorageError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(tables::REPLAYS)?;
        let Some(value) = table.get(id)? else {
            return Ok(None);
        };
        serde_json::from_slice(value.value())
            .map(Some)
            .map_err(|e| StorageError::Corrupt {
                what: format!("replay {id:?}: {e}"),
            })
    }

    /// Counters of the write path.
    pub fn counters(&self) -> &WriteCounters {
        &self.counters
    }

    /// Whether the writer still commits.
    pub fn health(&self) -> &Arc<WriterHealth> {
        &self.health
    }

    /// How many message bodies are stored (for tests and stats).
    pub fn message_count(&self) -> Result<u64, StorageError> {
        let txn = self.db()?.begin_read()?;
        Ok(txn.open_table(tables::MESSAGES)?.len()?)
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        self.close();
    }
}

fn init_schema(db: &Database) -> Result<(), StorageError> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(tables::META)?;
        let found = meta.get("schema_version")?.map(|v| v.value());
        match found {
            None => {
                meta.insert("schema_version", tables::SCHEMA_VERSION)?;
            }
            Some(found) if found != tables::SCHEMA_VERSION => {
                return Err(StorageError::Schema {
                    found,
                    expected: tables::SCHEMA_VERSION,
                });
            }
            Some(_) => {}
        }
        txn.open_table(tables::TOPICS)?;
        txn.open_table(tables::QUEUES)?;
        txn.open_table(tables::SUBSCRIPTIONS)?;
        txn.open_table(tables::MESSAGES)?;
        txn.open_table(tables::DELIVERIES)?;
        txn.open_table(tables::DEDUP)?;
        txn.open_table(tables::SETTLED)?;
        txn.open_table(tables::SETTLED_LATE)?;
        if meta.get(tables::DEDUP_EXPIRY_BUILT)?.is_none() {
            // Written before dedup entries were listed by expiry: list them once.
            let dedup = txn.open_table(tables::DEDUP)?;
            let mut expiry = txn.open_table(tables::DEDUP_EXPIRY)?;
            for row in dedup.iter()? {
                let (key, value) = row?;
                let (_, expires) = tables::decode_dedup(value.value());
                expiry.insert(
                    tables::dedup_expiry_key(expires, key.value()).as_slice(),
                    (),
                )?;
            }
            meta.insert(tables::DEDUP_EXPIRY_BUILT, 1)?;
        }
        txn.open_table(tables::ARCHIVE)?;
        txn.open_table(tables::ARCHIVE_HEADS)?;
        txn.open_table(tables::REPLAYS)?;
    }
    plugins::create_tables(&txn)?;
    access::create_tables(&txn)?;
    alarms::create_tables(&txn)?;
    txn.commit()?;
    Ok(())
}

type RecoveredHeads = HashMap<ArchiveId, ArchiveHead>;

fn recover(db: &Database) -> Result<(Recovered, RefCounts, RecoveredHeads), StorageError> {
    let txn = db.begin_read()?;
    let meta = txn.open_table(tables::META)?;
    let mut recovered = Recovered {
        next_queue_id: meta.get("next_queue_id")?.map_or(1, |v| v.value()),
        next_archive_id: meta.get("next_archive_id")?.map_or(1, |v| v.value()),
        ..Recovered::default()
    };
    recovered.replays = read_json(&txn.open_table(tables::REPLAYS)?)?;
    recovered.topics = read_json(&txn.open_table(tables::TOPICS)?)?;
    recovered.queues = read_json(&txn.open_table(tables::QUEUES)?)?;
    recovered.subscriptions = read_json(&txn.open_table(tables::SUBSCRIPTIONS)?)?;
    let deliveries = txn.open_table(tables::DELIVERIES)?;
    let mut refcounts =
        RefCounts::with_capacity_and_hasher(deliveries.len()? as usize, BuildIdHasher);
    for row in deliveries.iter()? {
        let (key, value) = row?;
        let (queue, id) = tables::split_delivery_key(key.value());
        let record = codec::decode_delivery(value.value())?;
        recovered
            .deliveries
            .entry(queue)
            .or_default()
            .push((id, record));
        let count = refcounts.entry(id).or_default();
        *count = count.saturating_add(1);
    }
    let heads = archive::recover_heads(
        &txn.open_table(tables::ARCHIVE)?,
        &txn.open_table(tables::ARCHIVE_HEADS)?,
        |id| *refcounts.entry(id).or_default() += 1,
    )?;
    Ok((recovered, refcounts, heads))
}

fn read_json<T: serde::de::DeserializeOwned>(
    table: &redb::ReadOnlyTable<&str, &[u8]>,
) -> Result<Vec<T>, StorageError> {
    let mut out = Vec::new();
    for row in table.iter()? {
        let (key, value) = row?;
        let record = serde_json::from_slice(value.value()).map_err(|e| StorageError::Corrupt {
            what: format!("record {:?}: {e}", key.value()),
        })?;
        out.push(record);
    }
    Ok(out)
}
