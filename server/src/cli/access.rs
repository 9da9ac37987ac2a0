//! Token subcommands: `token create|list|revoke|whoami|audit`.

use anyhow::Context as _;
use clap::Subcommand;
use switchyard_client::{AuditLog, Client, CreateToken, PublishRate, TokenList};

use super::output::{self, Output, Table};

#[derive(Debug, Subcommand)]
pub(super) enum TokenCommand {
    /// Create a token and print its secret (shown this once only).
    Create {
        /// A label for people (shown in lists and the audit log).
        name: String,
        /// A scope, `<action>:<kind>:<name glob>` (repeatable), such as
        /// `publish:topic:signups`, `consume:queue:mail-*` or `read:*:*`.
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// When the token stops working: Unix ms or RFC 3339.
        #[arg(long, value_name = "TIME")]
        expires: Option<String>,
        /// Publish quota: sustained messages per second.
        #[arg(long, value_name = "N")]
        publish_per_second: Option<u32>,
        /// Publish quota: messages that may go at once (default: the per-second rate).
        #[arg(long, value_name = "N", requires = "publish_per_second")]
        publish_burst: Option<u32>,
        /// Also issue an AWS access key pair for the SQS-compatible endpoint (printed as
        /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` lines, shown this once only).
        #[arg(long)]
        aws_keys: bool,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token at once.
    Revoke {
        /// The token's id (from `token list`).
        id: String,
    },
    /// Show the token this client sends: its name and scopes.
    Whoami,
    /// Show the audit log of changes, oldest first.
    Audit {
        /// Only entries after this sequence number.
        #[arg(long, value_name = "SEQ")]
        after: Option<u64>,
        /// At most this many (default 100, at most 1000).
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
}

pub(super) async fn token(
    client: &Client,
    out: Output,
    command: TokenCommand,
) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            name,
            scopes,
            expires,
            publish_per_second,
            publish_burst,
            aws_keys,
        } => {
            let expires_at_ms = expires
                .as_deref()
                .map(super::archive::parse_time)
                .transpose()
                .map_err(anyhow::Error::msg)
                .context("invalid --expires")?;
            let request = CreateToken {
                name: name.clone(),
                scopes,
                expires_at_ms,
                publish_rate: publish_per_second.map(|per_second| PublishRate {
                    per_second,
                    burst: publish_burst,
                }),
                aws_keys,
            };
            let created = client
                .create_token(&request)
                .await
                .with_context(|| format!("cannot create token {name}"))?;
            if out.json {
                return out.print_json(&created);
            }
            println!("{}", created.token);
            if let (Some(id), Some(secret)) =
                (&created.aws_access_key_id, &created.aws_secret_access_key)
            {
                println!("AWS_ACCESS_KEY_ID={id}");
                println!("AWS_SECRET_ACCESS_KEY={secret}");
            }
            eprintln!(
                "token {} ({}) created; the secret above is shown only now",
                created.id, created.name
            );
            Ok(())
        }
        TokenCommand::List => {
            let tokens = client.list_tokens().await.context("cannot list tokens")?;
            if out.json {
                return out.print_json(&TokenList { tokens });
            }
            let mut table = Table::new(&["ID", "NAME", "SCOPES", "EXPIRES", "QUOTA", "CREATED BY"]);
            for t in tokens {
                table.row(vec![
                    t.id,
                    t.name,
                    t.scopes.join(" "),
                    t.expires_at_ms.map_or("never".into(), output::timestamp),
                    t.publish_rate.map_or("-".into(), |r| {
                        format!(
                            "{}/s burst {}",
                            r.per_second,
                            r.burst.unwrap_or(r.per_second)
                        )
                    }),
                    t.created_by,
                ]);
            }
            table.print_or("no tokens");
            Ok(())
        }
        TokenCommand::Revoke { id } => {
            client
                .revoke_token(&id)
                .await
                .with_context(|| format!("cannot revoke token {id}"))?;
            if out.json {
                return out.print_json(&serde_json::json!({ "revoked": id }));
            }
            println!("revoked token {id}");
            Ok(())
        }
        TokenCommand::Whoami => {
            let identity = client
                .whoami()
                .await
                .context("cannot ask who this token is")?;
            if out.json {
                return out.print_json(&identity);
            }
            output::print_fields(&[
                ("name", identity.name),
                ("id", identity.id),
                ("scopes", identity.scopes.join(" ")),
                (
                    "expires",
                    identity
                        .expires_at_ms
                        .map_or("never".into(), output::timestamp),
                ),
            ]);
            Ok(())
        }
        TokenCommand::Audit { after, limit } => {
            let entries = client
                .audit(after, limit)
                .await
                .context("cannot read the audit log")?;
            if out.json {
                return out.print_json(&AuditLog { entries });
            }
            let mut table = Table::new(&["SEQ", "WHEN", "TOKEN", "REQUEST", "TARGETS", "OUTCOME"]);
            for e in entries {
                table.row(vec![
                    e.seq.to_string(),
                    output::timestamp(e.at_ms),
                    e.token,
                    format!("{} {}", e.method, e.path),
                    e.targets.join(" "),
                    match e.error {
                        Some(code) => format!("{} {code}", e.status),
                        None => e.status.to_string(),
                    },
                ]);
            }
            table.print_or("no audit entries");
            Ok(())
        }
    }
}
