//! Alarm definitions, with the state of their last transition, as JSON records. Written
//! through the same group commit as everything else.

use redb::{ReadableDatabase, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use switchyard_client::{AlarmLevel, AlarmTransition, Comparison};

use super::{Storage, StorageError, read_json};

/// Alarm name → JSON [`AlarmRecord`].
pub(super) const ALARMS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("alarms");

/// An alarm as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmRecord {
    /// Its name.
    pub name: String,
    /// The queue it watches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The consumer it watches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    /// The queue that consumer consumed when the alarm was made: access to the alarm is
    /// decided on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_queue: Option<String>,
    /// The metric, by name.
    pub metric: String,
    /// The value compared with the metric.
    pub threshold: f64,
    /// How they are compared.
    #[serde(default)]
    pub comparison: Comparison,
    /// How long the condition must hold before it fires.
    pub for_ms: u64,
    /// How bad it is.
    pub level: AlarmLevel,
    /// Whether it fired and has not resolved since (as of its last transition).
    #[serde(default)]
    pub firing: bool,
    /// Its last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition: Option<AlarmTransition>,
    /// Unix ms.
    pub created_at_ms: u64,
}

/// A change to alarms.
#[derive(Debug)]
pub enum AlarmOp {
    /// Create or replace an alarm.
    Put(AlarmRecord),
    /// Delete an alarm.
    Delete {
        /// Its name.
        name: String,
    },
}

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StorageError> {
    txn.open_table(ALARMS)?;
    Ok(())
}

/// Applies one op inside the writer's transaction. Returns whether it changed a record.
pub(super) fn apply(txn: &WriteTransaction, op: AlarmOp) -> Result<bool, StorageError> {
    let mut table = txn.open_table(ALARMS)?;
    match op {
        AlarmOp::Put(record) => {
            let json = serde_json::to_vec(&record).expect("an alarm record serializes");
            table.insert(record.name.as_str(), json.as_slice())?;
            Ok(true)
        }
        AlarmOp::Delete { name } => Ok(table.remove(name.as_str())?.is_some()),
    }
}

impl Storage {
    /// Every alarm (blocking).
    pub fn read_alarms(&self) -> Result<Vec<AlarmRecord>, StorageError> {
        let txn = self.db()?.begin_read()?;
        read_json(&txn.open_table(ALARMS)?)
    }
}

#[cfg(test)]
mod tests {
    use redb::Database;
    use redb::backends::InMemoryBackend;

    use super::*;
    use crate::storage::Op;

    fn record(name: &str) -> AlarmRecord {
        AlarmRecord {
            name: name.into(),
            queue: Some("mail".into()),
            consumer: None,
            consumer_queue: None,
            metric: "depth".into(),
            threshold: 10.0,
            comparison: Comparison::default(),
            for_ms: 0,
            level: AlarmLevel::Warning,
            firing: false,
            last_transition: None,
            created_at_ms: 1,
        }
    }

    #[tokio::test]
    async fn alarms_are_written_replaced_and_deleted() {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .expect("an in-memory database opens");
        let (storage, _) = Storage::from_database(db, 64).expect("storage opens");
        let put = |r| vec![Op::Alarm(AlarmOp::Put(r))];
        storage.write(put(record("a"))).await.unwrap();
        storage.write(put(record("b"))).await.unwrap();
        let firing = AlarmRecord {
            firing: true,
            ..record("a")
        };
        storage.write(put(firing.clone())).await.unwrap();
        let delete = AlarmOp::Delete { name: "b".into() };
        storage.write(vec![Op::Alarm(delete)]).await.unwrap();
        assert_eq!(storage.read_alarms().unwrap(), [firing]);
    }
}
