//! API tokens (only a hash of each secret), the audit log, and the server's own keys.
//! Written through the same group commit as everything else.

use redb::{
    ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};
use serde::{Deserialize, Serialize};
use switchyard_client::PublishRate;

use super::{Storage, StorageError, read_json};

/// Token id → JSON [`TokenRecord`].
pub(super) const TOKENS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("tokens");
/// Sequence number → JSON [`AuditRecord`].
pub(super) const AUDIT: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("audit");
/// Key name → secret bytes the server made for itself (the receipt key).
pub(super) const SERVER_KEYS: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("server_keys");

/// The key receipts are authenticated with.
const RECEIPT_KEY: &str = "receipt_hmac";

/// A token. The secret itself is never stored: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Its id.
    pub id: String,
    /// Its label.
    pub name: String,
    /// Its scopes, as given.
    pub scopes: Vec<String>,
    /// SHA-256 of the secret, hex.
    pub hash: String,
    /// When it stops working (Unix ms).
    pub expires_at_ms: Option<u64>,
    /// Its publish quota.
    pub publish_rate: Option<PublishRate>,
    /// Unix ms.
    pub created_at_ms: u64,
    /// The name of the token that created it.
    pub created_by: String,
    /// Its AWS key pair for the SQS-compatible endpoint. Unlike the token's own secret,
    /// the secret access key is kept: verifying a SigV4 signature needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_key: Option<AwsKey>,
}

/// An AWS access key pair issued with a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsKey {
    /// `SYAK` and 16 upper-case letters and digits.
    pub access_key_id: String,
    /// 40 characters of the base64 alphabet.
    pub secret_access_key: String,
}

/// One audit log entry (its sequence number is the key, given by the writer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Unix ms.
    pub at_ms: u64,
    /// The token's id.
    pub token_id: String,
    /// The token's name.
    pub token: String,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// `kind:name` of each resource the request named.
    pub targets: Vec<String>,
    /// HTTP status.
    pub status: u16,
    /// The error code, when refused or failed.
    pub error: Option<String>,
}

/// A change to tokens or the audit log.
#[derive(Debug)]
pub enum AccessOp {
    /// Create or replace a token.
    PutToken(TokenRecord),
    /// Delete a token.
    DeleteToken {
        /// Its id.
        id: String,
    },
    /// Append an entry, then drop the oldest while more than `keep` remain.
    Audit {
        /// The entry.
        record: AuditRecord,
        /// How many entries the log keeps.
        keep: u64,
    },
}

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StorageError> {
    txn.open_table(TOKENS)?;
    txn.open_table(AUDIT)?;
    let mut keys = txn.open_table(SERVER_KEYS)?;
    if keys.get(RECEIPT_KEY)?.is_none() {
        let key: [u8; 32] = rand::random();
        keys.insert(RECEIPT_KEY, key.as_slice())?;
    }
    Ok(())
}

/// Applies one op inside the writer's transaction. Returns whether it changed a record
/// (a delete of a missing token changes nothing).
pub(super) fn apply(txn: &WriteTransaction, op: AccessOp) -> Result<bool, StorageError> {
    match op {
        AccessOp::PutToken(record) => {
            let json = serde_json::to_vec(&record).expect("a token record serializes");
            txn.open_table(TOKENS)?
                .insert(record.id.as_str(), json.as_slice())?;
            Ok(true)
        }
        AccessOp::DeleteToken { id } => Ok(txn.open_table(TOKENS)?.remove(id.as_str())?.is_some()),
        AccessOp::Audit { record, keep } => {
            let mut table = txn.open_table(AUDIT)?;
            let next = table.last()?.map_or(1, |(seq, _)| seq.value() + 1);
            let json = serde_json::to_vec(&record).expect("an audit record serializes");
            table.insert(next, json.as_slice())?;
            // One append drops at most a few: the bound holds with constant work per entry.
            for _ in 0..4 {
                if table.len()? <= keep.max(1) {
                    break;
                }
                table.pop_first()?;
            }
            Ok(true)
        }
    }
}

impl Storage {
    /// Every token (blocking).
    pub fn read_tokens(&self) -> Result<Vec<TokenRecord>, StorageError> {
        let txn = self.db()?.begin_read()?;
        read_json(&txn.open_table(TOKENS)?)
    }

    /// The key receipts are authenticated with (blocking; made when the database was).
    pub fn receipt_key(&self) -> Result<[u8; 32], StorageError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(SERVER_KEYS)?;
        let value = table
            .get(RECEIPT_KEY)?
            .ok_or_else(|| StorageError::Corrupt {
                what: "the receipt key is missing".into(),
            })?;
        value.value().try_into().map_err(|_| StorageError::Corrupt {
            what: "the receipt key is not 32 bytes".into(),
        })
    }

    /// Audit entries after sequence number `after`, oldest first, at most `limit`
    /// (blocking).
    pub fn read_audit(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, AuditRecord)>, StorageError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(AUDIT)?;
        let mut out = Vec::new();
        for row in table.range(after.saturating_add(1)..)?.take(limit) {
            let (seq, value) = row?;
            let record =
                serde_json::from_slice(value.value()).map_err(|e| StorageError::Corrupt {
                    what: format!("audit entry {}: {e}", seq.value()),
                })?;
            out.push((seq.value(), record));
        }
        Ok(out)
    }
}
