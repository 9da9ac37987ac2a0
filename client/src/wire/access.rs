//! Access: API tokens and their scopes, the caller's own identity, the audit log.

use serde::{Deserialize, Serialize};

/// `POST /v1/tokens`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label for people (shown in lists and in the audit log); 1 to 128 characters.
    pub name: String,
    /// What the token may do: `"<action>:<kind>:<name glob>"`, such as
    /// `publish:topic:signups` or `read:*:*`.
    pub scopes: Vec<String>,
    /// When the token stops working (Unix ms); never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
    /// How fast the token may publish and send; unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_rate: Option<PublishRate>,
    /// Also issue an AWS access key pair for the SQS-compatible endpoint, signing
    /// (SigV4) as this token, with its scopes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aws_keys: bool,
}

/// A token's publish quota: messages per second, with bursts up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRate {
    /// Sustained messages per second (1 to 10 000 000).
    pub per_second: u32,
    /// Messages that may go at once after a quiet spell (default: `per_second`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
}

/// The answer to `POST /v1/tokens`: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedToken {
    /// The token's id (for `DELETE /v1/tokens/{id}`).
    pub id: String,
    /// Its label.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// The secret to send as `Authorization: Bearer <token>`. Not stored: keep it.
    pub token: String,
    /// When it stops working (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
    /// Its publish quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_rate: Option<PublishRate>,
    /// With `aws_keys`: the access key id for the SQS-compatible endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_access_key_id: Option<String>,
    /// With `aws_keys`: the secret access key, shown only here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_secret_access_key: Option<String>,
}

/// A token as listed (never with its secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Its id.
    pub id: String,
    /// Its label.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// When it stops working (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
    /// Its publish quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_rate: Option<PublishRate>,
    /// Unix ms.
    pub created_at_ms: u64,
    /// The name of the token that created it (`bootstrap` for the first admin token).
    pub created_by: String,
    /// Its AWS access key id, if it has a key pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_access_key_id: Option<String>,
}

/// `GET /v1/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenList {
    /// Every token, oldest first.
    pub tokens: Vec<TokenInfo>,
}

/// `GET /v1/whoami`: the token the request carried.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identity {
    /// The token's id (`anonymous` when the server runs without auth).
    pub id: String,
    /// Its label.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// When it stops working (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
    /// Its publish quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_rate: Option<PublishRate>,
    /// False when the server was started with `--insecure-no-auth`.
    pub auth: bool,
}

/// One entry of the audit log: who changed what, when, and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, counting up.
    pub seq: u64,
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
    /// The resources the request named, as `kind:name` (`queue:mail`, `token:<id>`).
    pub targets: Vec<String>,
    /// HTTP status of the answer.
    pub status: u16,
    /// The error code when it was refused or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /v1/audit?after=&limit=`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditLog {
    /// Entries after `after`, oldest first.
    pub entries: Vec<AuditEntry>,
}
