//! Who may do what: API tokens (stored as hashes), their scopes, per-token publish quotas,
//! the first admin token of a fresh data directory, and the audit log of changes. Knows
//! neither HTTP (api) nor redb (storage internals): the api asks it, storage keeps it.

mod quota;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
#[cfg(test)]
use switchyard_client::PublishRate;
use switchyard_client::{
    Action, AuditEntry, CreateToken, CreatedToken, Grants, Identity, Kind, TokenInfo,
};

use crate::broker::now_ms;
use crate::storage::{AccessOp, AuditRecord, AwsKey, Op, Storage, StorageError, TokenRecord};
use quota::Bucket;

/// Name of the file a generated first admin token is written to, in the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// Shortest secret accepted from `SWITCHYARD_ADMIN_TOKEN`.
pub const MIN_SECRET_CHARS: usize = 16;
/// Most tokens a server keeps.
const MAX_TOKENS: usize = 10_000;
/// Most scopes one token carries.
const MAX_SCOPES: usize = 100;

/// Why a request may not go on, or a token change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// No token, or one the server does not know (401).
    #[error("{reason}")]
    Unauthenticated {
        /// What was wrong, in words.
        reason: String,
    },
    /// The token lacks a scope (403).
    #[error("this token may not do that: it needs the scope {scope}")]
    Forbidden {
        /// The scope it lacks.
        scope: String,
    },
    /// The token's publish quota is spent for now (429).
    #[error(
        "this token publishes faster than its quota of {per_second}/s; retry in {retry_after_ms} ms"
    )]
    RateLimited {
        /// Its sustained rate.
        per_second: u32,
        /// When a retry can pass.
        retry_after_ms: u64,
    },
    /// A token request is malformed (400).
    #[error("invalid token request: {reason}")]
    InvalidToken {
        /// Why.
        reason: String,
    },
    /// No token has that id (404).
    #[error("no token with id {id:?}")]
    TokenNotFound {
        /// The id.
        id: String,
    },
    /// The admin token file could not be written.
    #[error("cannot write the admin token to {path}: {source}")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Storage failed; nothing changed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl AccessError {
    /// The API's stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AccessError::Unauthenticated { .. } => "unauthenticated",
            AccessError::Forbidden { .. } => "forbidden",
            AccessError::RateLimited { .. } => "rate_limited",
            AccessError::InvalidToken { .. } => "invalid_token",
            AccessError::TokenNotFound { .. } => "token_not_found",
            AccessError::TokenFile { .. } | AccessError::Storage(_) => "internal",
        }
    }
}

/// One token as the server holds it: its record, parsed scopes and quota state.
#[derive(Debug)]
pub struct Principal {
    record: TokenRecord,
    grants: Grants,
    quota: Option<Bucket>,
}

impl Principal {
    fn new(record: TokenRecord) -> Self {
        // Stored scopes were checked when the token was made; one that no longer parses
        // (a future grammar) grants nothing rather than failing the whole server.
        let grants = Grants::parse(&record.scopes).unwrap_or_default();
        let quota = record.publish_rate.map(Bucket::new);
        Self {
            record,
            grants,
            quota,
        }
    }

    /// The identity of a server that runs without auth: everything is allowed.
    fn anonymous() -> Self {
        Self {
            record: TokenRecord {
                id: "anonymous".into(),
                name: "anonymous".into(),
                scopes: vec!["admin:*:*".into()],
                hash: String::new(),
                expires_at_ms: None,
                publish_rate: None,
                created_at_ms: 0,
                created_by: "--insecure-no-auth".into(),
                aws_key: None,
            },
            grants: Grants::everything(),
            quota: None,
        }
    }

    /// The token's id.
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// The token's name.
    pub fn name(&self) -> &str {
        &self.record.name
    }

    /// What its scopes allow.
    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// `Ok` when some scope allows `action` on the `kind` resource `name`; else
    /// [`AccessError::Forbidden`] naming the scope that would.
    pub fn require(&self, action: Action, kind: Kind, name: &str) -> Result<(), AccessError> {
        if self.grants.allows(action, kind, name) {
            Ok(())
        } else {
            Err(AccessError::Forbidden {
                scope: Grants::needed(action, kind, name),
            })
        }
    }

    /// `Ok` when some scope allows `action` on some resource of `kind`.
    pub fn require_some(&self, action: Action, kind: Kind) -> Result<(), AccessError> {
        if self.grants.covers(action, kind) {
            Ok(())
        } else {
            Err(AccessError::Forbidden {
                scope: Grants::needed(action, kind, "<name>"),
            })
        }
    }

    /// `Ok` for `admin:*:*` tokens (tokens and the audit log).
    pub fn require_full_admin(&self) -> Result<(), AccessError> {
        if self.grants.is_full_admin() {
            Ok(())
        } else {
            Err(AccessError::Forbidden {
                scope: "admin:*:*".into(),
            })
        }
    }

    /// Takes `messages` from the token's publish quota, if it has one: refused with the
    /// wait until a retry can pass when the quota is spent.
    pub fn charge_publish(&self, messages: usize) -> Result<(), AccessError> {
        match &self.quota {
            None => Ok(()),
            Some(bucket) => bucket
                .take(messages, std::time::Instant::now())
                .map_err(|wait| AccessError::RateLimited {
                    per_second: bucket.rate().per_second,
                    retry_after_ms: wait.as_millis().max(1) as u64,
                }),
        }
    }

    /// The identity `GET /v1/whoami` shows.
    pub fn identity(&self, auth: bool) -> Identity {
        Identity {
            id: self.record.id.clone(),
            name: self.record.name.clone(),
            scopes: self.record.scopes.clone(),
            expires_at_ms: self.record.expires_at_ms,
            publish_rate: self.record.publish_rate,
            auth,
        }
    }
}

/// The first admin token, made when a data directory had none.
#[derive(Debug)]
pub struct Bootstrap {
    /// The secret (to print in the console login link).
    pub token: String,
    /// Where it was written, when it was generated (not taken from the environment).
    pub file: Option<PathBuf>,
}

/// The token registry: every live token by the hash of its secret.
pub struct Access {
    storage: Arc<Storage>,
    /// False with `--insecure-no-auth`: every request acts as an admin.
    enabled: bool,
    tokens: RwLock<HashMap<[u8; 32], Arc<Principal>>>,
    /// The tokens with an AWS key pair, by access key id.
    aws_keys: RwLock<HashMap<String, Arc<Principal>>>,
    anonymous: Arc<Principal>,
    /// Token changes are decided one at a time (limits, then the durable write).
    changes: tokio::sync::Mutex<()>,
    audit_keep: u64,
}

impl Access {
    /// Loads the tokens. On a data directory without any, makes the first admin
    /// token: `admin_token` when given, else a random one written to
    /// `<data_dir>/admin-token` (mode 0600).
    pub async fn open(
        storage: Arc<Storage>,
        data_dir: &Path,
        admin_token: Option<&str>,
        enabled: bool,
        audit_keep: u64,
    ) -> Result<(Self, Option<Bootstrap>), AccessError> {
        let records = storage.read_tokens()?;
        let mut bootstrap = None;
        let records = if records.is_empty() {
            let (secret, file) = match admin_token {
                Some(secret) => (secret.trim().to_string(), None),
                None => {
                    let secret = new_secret();
                    let path = data_dir.join(ADMIN_TOKEN_FILE);
                    write_secret_file(&path, &secret)?;
                    (secret, Some(path))
                }
            };
            let record = TokenRecord {
                id: new_id(),
                name: "admin".into(),
                scopes: vec!["admin:*:*".into()],
                hash: hex(&hash_secret(&secret)),
                expires_at_ms: None,
                publish_rate: None,
                created_at_ms: now_ms(),
                created_by: "bootstrap".into(),
                aws_key: None,
            };
            let op = Op::Access(AccessOp::PutToken(record.clone()));
            storage.write(vec![op]).await?;
            bootstrap = Some(Bootstrap {
                token: secret,
                file,
            });
            vec![record]
        } else {
            records
        };
        let tokens: HashMap<[u8; 32], Arc<Principal>> = records
            .into_iter()
            .filter_map(|record| {
                let hash = unhex(&record.hash)?;
                Some((hash, Arc::new(Principal::new(record))))
            })
            .collect();
        let aws_keys = tokens
            .values()
            .filter_map(|p| Some((p.record.aws_key.as_ref()?.access_key_id.clone(), p.clone())))
            .collect();
        let access = Self {
            storage,
            enabled,
            tokens: RwLock::new(tokens),
            aws_keys: RwLock::new(aws_keys),
            anonymous: Arc::new(Principal::anonymous()),
            changes: tokio::sync::Mutex::new(()),
            audit_keep,
        };
        Ok((access, bootstrap))
    }

    /// Whether requests must carry a token.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The token a request's `Authorization` header value names, if it is live.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Arc<Principal>, AccessError> {
        if !self.enabled {
            return Ok(self.anonymous.clone());
        }
        let unauthenticated = |reason: &str| AccessError::Unauthenticated {
            reason: reason.into(),
        };
        let header = header.ok_or_else(|| {
            unauthenticated("this request carries no token; send Authorization: Bearer <token>")
        })?;
        let secret = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                unauthenticated("the Authorization header must be \"Bearer <token>\"")
            })?;
        let principal = self
            .tokens
            .read()
            .expect("token lock")
            .get(&hash_secret(secret))
            .cloned()
            .ok_or_else(|| unauthenticated("the token is not known here, or was revoked"))?;
        if principal
            .record
            .expires_at_ms
            .is_some_and(|at| at <= now_ms())
        {
            return Err(unauthenticated("the token has expired"));
        }
        Ok(principal)
    }

    /// The token an AWS access key id belongs to, if it is live, and the key's secret (to
    /// verify the request's signature with). Without auth, `None` for the secret: any
    /// signature goes.
    pub fn aws_principal(
        &self,
        access_key_id: &str,
    ) -> Result<(Arc<Principal>, Option<String>), AccessError> {
        if !self.enabled {
            return Ok((self.anonymous.clone(), None));
        }
        let principal = self
            .aws_keys
            .read()
            .expect("aws key lock")
            .get(access_key_id)
            .cloned()
            .ok_or_else(|| AccessError::Unauthenticated {
                reason: "the access key id is not known here, or its token was revoked".into(),
            })?;
        if principal
            .record
            .expires_at_ms
            .is_some_and(|at| at <= now_ms())
        {
            return Err(AccessError::Unauthenticated {
                reason: "the access key's token has expired".into(),
            });
        }
        let secret = principal
            .record
            .aws_key
            .as_ref()
            .map(|k| k.secret_access_key.clone());
        Ok((principal, secret))
    }

    /// Makes a token; `creator` names who made it. The secret is in the answer only.
    pub async fn create_token(
        &self,
        creator: &Principal,
        request: CreateToken,
    ) -> Result<CreatedToken, AccessError> {
        let invalid = |reason: String| AccessError::InvalidToken { reason };
        let name = request.name.trim();
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(invalid(
                "name must be 1 to 128 characters, without control characters".into(),
            ));
        }
        if request.scopes.is_empty() {
            return Err(invalid(
                "scopes must list at least one scope, such as \"read:*:*\"".into(),
            ));
        }
        if request.scopes.len() > MAX_SCOPES {
            return Err(invalid(format!(
                "{} scopes; the limit is {MAX_SCOPES}",
                request.scopes.len()
            )));
        }
        Grants::parse(&request.scopes).map_err(invalid)?;
        if let Some(at) = request.expires_at_ms
            && at <= now_ms()
        {
            return Err(invalid(format!("expires_at_ms {at} is in the past")));
        }
        if let Some(rate) = request.publish_rate {
            quota::validate(rate).map_err(invalid)?;
        }
        let _change = self.changes.lock().await;
        if self.tokens.read().expect("token lock").len() >= MAX_TOKENS {
            return Err(invalid(format!(
                "the server already holds {MAX_TOKENS} tokens; revoke some first"
            )));
        }
        let secret = new_secret();
        let hash = hash_secret(&secret);
        let record = TokenRecord {
            id: new_id(),
            name: name.to_string(),
            scopes: request.scopes,
            hash: hex(&hash),
            expires_at_ms: request.expires_at_ms,
            publish_rate: request.publish_rate,
            created_at_ms: now_ms(),
            created_by: creator.name().to_string(),
            aws_key: request.aws_keys.then(new_aws_key),
        };
        self.storage
            .write(vec![Op::Access(AccessOp::PutToken(record.clone()))])
            .await?;
        let created = CreatedToken {
            id: record.id.clone(),
            name: record.name.clone(),
            scopes: record.scopes.clone(),
            token: secret,
            expires_at_ms: record.expires_at_ms,
            publish_rate: record.publish_rate,
            aws_access_key_id: record.aws_key.as_ref().map(|k| k.access_key_id.clone()),
            aws_secret_access_key: record.aws_key.as_ref().map(|k| k.secret_access_key.clone()),
        };
        let principal = Arc::new(Principal::new(record));
        if let Some(key) = &principal.record.aws_key {
            self.aws_keys
                .write()
                .expect("aws key lock")
                .insert(key.access_key_id.clone(), principal.clone());
        }
        self.tokens
            .write()
            .expect("token lock")
            .insert(hash, principal);
        Ok(created)
    }

    /// Every token, oldest first (never the secrets).
    pub fn list_tokens(&self) -> Vec<TokenInfo> {
        let mut tokens: Vec<TokenInfo> = self
            .tokens
            .read()
            .expect("token lock")
            .values()
            .map(|p| token_info(&p.record))
            .collect();
        tokens.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        tokens
    }

    /// Revokes a token: once this answers, no request with it is let in.
    pub async fn revoke_token(&self, id: &str) -> Result<(), AccessError> {
        let _change = self.changes.lock().await;
        let hash = self
            .tokens
            .read()
            .expect("token lock")
            .iter()
            .find(|(_, p)| p.record.id == id)
            .map(|(hash, _)| *hash)
            .ok_or_else(|| AccessError::TokenNotFound { id: id.into() })?;
        // Out of memory first, so that no request gets in while the delete commits; put
        // back if the write fails.
        let principal = self.tokens.write().expect("token lock").remove(&hash);
        let key_id = principal
            .as_ref()
            .and_then(|p| Some(p.record.aws_key.as_ref()?.access_key_id.clone()));
        let keyed = key_id
            .as_ref()
            .and_then(|id| self.aws_keys.write().expect("aws key lock").remove(id));
        let written = self
            .storage
            .write(vec![Op::Access(AccessOp::DeleteToken { id: id.into() })])
            .await;
        if let Err(error) = written {
            if let (Some(id), Some(keyed)) = (key_id, keyed) {
                self.aws_keys
                    .write()
                    .expect("aws key lock")
                    .insert(id, keyed);
            }
            if let Some(principal) = principal {
                self.tokens
                    .write()
                    .expect("token lock")
                    .insert(hash, principal);
            }
            return Err(error.into());
        }
        Ok(())
    }

    /// Appends a change to the audit log (dropping the oldest past the bound).
    pub async fn record(&self, entry: AuditRecord) -> Result<(), AccessError> {
        let op = AccessOp::Audit {
            record: entry,
            keep: self.audit_keep,
        };
        self.storage.write(vec![Op::Access(op)]).await?;
        Ok(())
    }

    /// Audit entries after `after`, oldest first, at most `limit`.
    pub async fn audit(&self, after: u64, limit: usize) -> Result<Vec<AuditEntry>, AccessError> {
        let storage = self.storage.clone();
        let rows = tokio::task::spawn_blocking(move || storage.read_audit(after, limit))
            .await
            .expect("reading the audit log does not panic")?;
        Ok(rows
            .into_iter()
            .map(|(seq, r)| AuditEntry {
                seq,
                at_ms: r.at_ms,
                token_id: r.token_id,
                token: r.token,
                method: r.method,
                path: r.path,
                targets: r.targets,
                status: r.status,
                error: r.error,
            })
            .collect())
    }
}

fn token_info(record: &TokenRecord) -> TokenInfo {
    TokenInfo {
        id: record.id.clone(),
        name: record.name.clone(),
        scopes: record.scopes.clone(),
        expires_at_ms: record.expires_at_ms,
        publish_rate: record.publish_rate,
        created_at_ms: record.created_at_ms,
        created_by: record.created_by.clone(),
        aws_access_key_id: record.aws_key.as_ref().map(|k| k.access_key_id.clone()),
    }
}

/// A new AWS key pair: an id that says it is Switchyard's, and a 240-bit secret.
fn new_aws_key() -> AwsKey {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let id: String = (0..16)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    let secret: [u8; 30] = rand::random();
    AwsKey {
        access_key_id: format!("SYAK{id}"),
        secret_access_key: base64::engine::general_purpose::STANDARD.encode(secret),
    }
}

/// A new secret: `sy_` and 256 random bits.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("sy_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A new token id: 64 random bits in hex.
fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Writes the secret to `path`, readable by its owner only.
fn write_secret_file(path: &Path, secret: &str) -> Result<(), AccessError> {
    use std::io::Write as _;
    let failed = |source| AccessError::TokenFile {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(failed)?;
    #[cfg(unix)]
    {
        // An existing file keeps its mode on open: set it.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(failed)?;
    }
    writeln!(file, "{secret}").map_err(failed)?;
    file.sync_all().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open(dir: &Path, admin: Option<&str>) -> (Access, Option<Bootstrap>) {
        let (storage, _) = Storage::open(dir, 64).unwrap();
        Access::open(Arc::new(storage), dir, admin, true, 100)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_fresh_data_directory_gets_one_admin_token_in_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let (access, bootstrap) = open(dir.path(), None).await;
        let bootstrap = bootstrap.expect("a first token");
        let file = bootstrap.file.expect("written to a file");
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.trim(), bootstrap.token);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let header = format!("Bearer {}", bootstrap.token);
        let admin = access.authenticate(Some(&header)).unwrap();
        assert!(admin.grants().is_full_admin());
        assert!(access.authenticate(Some("Bearer sy_wrong")).is_err());
        assert!(access.authenticate(None).is_err());
        assert!(
            access.authenticate(Some(&bootstrap.token)).is_err(),
            "no Bearer"
        );
    }

    #[tokio::test]
    async fn only_a_hash_of_each_secret_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, _) = Storage::open(dir.path(), 64).unwrap();
        let storage = Arc::new(storage);
        let (access, bootstrap) = Access::open(storage.clone(), dir.path(), None, true, 100)
            .await
            .unwrap();
        let admin = access
            .authenticate(Some(&format!("Bearer {}", bootstrap.unwrap().token)))
            .unwrap();
        let request = CreateToken {
            name: "ci".into(),
            scopes: vec!["read:*:*".into()],
            ..Default::default()
        };
        let created = access.create_token(&admin, request).await.unwrap();
        for record in storage.read_tokens().unwrap() {
            let json = serde_json::to_string(&record).unwrap();
            assert!(!json.contains(&created.token), "secret stored: {json}");
        }
        drop(access);
        storage.close();
        let (access, bootstrap) = open(dir.path(), None).await;
        assert!(bootstrap.is_none(), "tokens exist: no second bootstrap");
        let reader = access
            .authenticate(Some(&format!("Bearer {}", created.token)))
            .unwrap();
        assert_eq!(reader.name(), "ci");
    }

    #[tokio::test]
    async fn bad_token_requests_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (access, _) = open(dir.path(), Some("a-long-enough-admin-secret")).await;
        let admin = access
            .authenticate(Some("Bearer a-long-enough-admin-secret"))
            .unwrap();
        for request in [
            CreateToken {
                name: "".into(),
                scopes: vec!["read:*:*".into()],
                ..Default::default()
            },
            CreateToken {
                name: "x".into(),
                scopes: vec![],
                ..Default::default()
            },
            CreateToken {
                name: "x".into(),
                scopes: vec!["write:topic:x".into()],
                ..Default::default()
            },
            CreateToken {
                name: "x".into(),
                scopes: vec!["read:*:*".into()],
                expires_at_ms: Some(1),
                ..Default::default()
            },
            CreateToken {
                name: "x".into(),
                scopes: vec!["read:*:*".into()],
                publish_rate: Some(PublishRate {
                    per_second: 0,
                    burst: None,
                }),
                ..Default::default()
            },
        ] {
            let error = access.create_token(&admin, request).await.unwrap_err();
            assert_eq!(error.code(), "invalid_token", "{error}");
        }
        assert_eq!(access.list_tokens().len(), 1);
    }

    #[tokio::test]
    async fn the_audit_log_keeps_only_its_newest_entries() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, _) = Storage::open(dir.path(), 64).unwrap();
        let (access, _) = Access::open(Arc::new(storage), dir.path(), None, true, 3)
            .await
            .unwrap();
        for n in 0..10 {
            let entry = AuditRecord {
                at_ms: n,
                token_id: "t".into(),
                token: "admin".into(),
                method: "POST".into(),
                path: format!("/v1/topics/{n}"),
                targets: vec![],
                status: 201,
                error: None,
            };
            access.record(entry).await.unwrap();
        }
        let kept = access.audit(0, 100).await.unwrap();
        let seqs: Vec<u64> = kept.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [8, 9, 10]);
        assert_eq!(access.audit(8, 100).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_revoked_token_is_refused_at_once_and_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (access, _) = open(dir.path(), Some("a-long-enough-admin-secret")).await;
        let admin = access
            .authenticate(Some("Bearer a-long-enough-admin-secret"))
            .unwrap();
        let request = CreateToken {
            name: "temp".into(),
            scopes: vec!["publish:topic:x".into()],
            ..Default::default()
        };
        let created = access.create_token(&admin, request).await.unwrap();
        let header = format!("Bearer {}", created.token);
        assert!(access.authenticate(Some(&header)).is_ok());
        access.revoke_token(&created.id).await.unwrap();
        assert!(access.authenticate(Some(&header)).is_err());
        assert_eq!(
            access.revoke_token(&created.id).await.unwrap_err().code(),
            "token_not_found"
        );
    }
}
