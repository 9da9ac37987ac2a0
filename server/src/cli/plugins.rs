//! Plugin and consumer subcommands: deploy a component, list, activate and delete versions, read a
//! plugin's key-value store; create, inspect, pause, resume and delete consumers, and
//! follow a consumer's log.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use switchyard_client::{
    BatchSettings, Client, Consumer, ConsumerList, ConsumerState, CreateConsumer, PluginList,
};

use super::compose::parse_attribute;
use super::output::{self, Output, Table};

#[derive(Debug, Subcommand)]
pub(super) enum PluginCommand {
    /// Upload a component (built for wasm32-wasip2) as a new version and activate it.
    Deploy {
        /// The .wasm file.
        file: PathBuf,
        /// The plugin's name.
        #[arg(long)]
        name: String,
        /// Upload without activating (unless the plugin has no active version yet).
        #[arg(long)]
        no_activate: bool,
    },
    /// List plugins and their versions.
    List,
    /// Show one plugin's versions.
    Get { name: String },
    /// Make a version (its digest, or a unique prefix of it) the active one: roll forward
    /// or back.
    Activate {
        name: String,
        #[arg(value_name = "VERSION")]
        digest: String,
    },
    /// Delete a version that is not the active one (its digest, or a unique prefix of it),
    /// and its binary unless another plugin has the same one.
    DeleteVersion {
        name: String,
        #[arg(value_name = "VERSION")]
        digest: String,
    },
    /// Read a value of the plugin's key-value store.
    Kv { name: String, key: String },
}

#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per run; boxing the arguments buys nothing"
)]
pub(super) enum ConsumerCommand {
    /// Run a plugin on the messages of a queue.
    Create(CreateConsumerArgs),
    /// List consumers with their counters.
    List,
    /// Show one consumer's settings and counters.
    Get { name: String },
    /// Stop leasing messages (batches in flight finish).
    Pause { name: String },
    /// Start leasing again.
    Resume { name: String },
    /// Delete a consumer.
    Delete { name: String },
    /// Print a consumer's recent log lines.
    Logs {
        name: String,
        /// Keep printing new lines as they come (until interrupted).
        #[arg(long, short)]
        follow: bool,
    },
}

#[derive(Debug, Args)]
pub(super) struct CreateConsumerArgs {
    /// The consumer's name.
    name: String,
    /// The queue it leases from.
    #[arg(long)]
    queue: String,
    /// The plugin it runs (its active version).
    #[arg(long)]
    plugin: String,
    /// Most messages per invocation.
    #[arg(long, value_name = "N")]
    batch_max: Option<u32>,
    /// Most payload bytes per invocation.
    #[arg(long, value_name = "BYTES")]
    batch_max_bytes: Option<u64>,
    /// The batch window (up to 24 h): a batch forms once the queue holds --batch-max
    /// messages or --batch-max-bytes, or its first ready message has waited this long.
    #[arg(long, value_name = "MS")]
    batch_wait_ms: Option<u64>,
    /// Invocations at once.
    #[arg(long, value_name = "N")]
    concurrency: Option<u32>,
    /// Deadline per invocation.
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// Memory cap per invocation.
    #[arg(long, value_name = "BYTES")]
    memory_bytes: Option<u64>,
    /// Fuel per invocation (roughly, wasm instructions); without it only the deadline
    /// bounds an invocation.
    #[arg(long, value_name = "UNITS")]
    fuel: Option<u64>,
    /// A config value the plugin reads (repeatable).
    #[arg(long = "config", value_name = "K=V", value_parser = parse_attribute)]
    config: Vec<(String, String)>,
    /// A secret the plugin reads like a config value, never shown again (repeatable).
    #[arg(long = "secret", value_name = "K=V", value_parser = parse_attribute)]
    secrets: Vec<(String, String)>,
    /// An origin outbound HTTP may reach: a scheme, a host and an optional port, such as
    /// `https://api.example.com` or `http://10.0.0.5:8080` (repeatable).
    #[arg(long = "allow-host", value_name = "ORIGIN")]
    allowed_hosts: Vec<String>,
}

pub(super) async fn plugin(
    client: &Client,
    out: Output,
    command: PluginCommand,
) -> anyhow::Result<()> {
    match command {
        PluginCommand::Deploy {
            file,
            name,
            no_activate,
        } => {
            let wasm =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let deployed = client.deploy_plugin(&name, wasm, !no_activate).await?;
            if out.json {
                return out.print_json(&deployed);
            }
            let what = if deployed.created {
                "deployed"
            } else {
                "already had"
            };
            let state = if deployed.active {
                "active"
            } else {
                "not active"
            };
            println!("{what} {name} version {} ({state})", deployed.version);
        }
        PluginCommand::List => {
            let plugins = client.list_plugins().await?;
            if out.json {
                return out.print_json(&PluginList { plugins });
            }
            let mut table = Table::new(&["NAME", "ACTIVE VERSION", "VERSIONS", "CREATED"]);
            for plugin in plugins {
                table.row(vec![
                    plugin.name,
                    plugin.active_version.as_deref().map_or("-".into(), short),
                    plugin.versions.len().to_string(),
                    output::timestamp(plugin.created_at_ms),
                ]);
            }
            table.print_or(
                "no plugins: deploy one with `switchyard plugin deploy FILE --name NAME`",
            );
        }
        PluginCommand::Get { name } => print_versions(out, client.get_plugin(&name).await?)?,
        PluginCommand::Activate { name, digest } => {
            print_versions(out, client.activate_plugin(&name, &digest).await?)?
        }
        PluginCommand::DeleteVersion { name, digest } => {
            client.delete_plugin_version(&name, &digest).await?;
            if out.json {
                return out
                    .print_json(&json!({ "plugin": name, "version": digest, "deleted": true }));
            }
            println!("deleted version {digest} of plugin {name}");
        }
        PluginCommand::Kv { name, key } => {
            let entry = client.plugin_kv(&name, &key).await?;
            if out.json {
                return out.print_json(&entry);
            }
            match (entry.value, entry.value_base64) {
                (Some(text), _) => println!("{text}"),
                (None, Some(b64)) => println!("(base64) {b64}"),
                (None, None) => println!(),
            }
        }
    }
    Ok(())
}

fn short(version: &str) -> String {
    version.chars().take("sha256:".len() + 12).collect()
}

fn print_versions(out: Output, plugin: switchyard_client::Plugin) -> anyhow::Result<()> {
    if out.json {
        return out.print_json(&plugin);
    }
    let mut table = Table::new(&["VERSION", "SIZE", "UPLOADED", ""]);
    for version in &plugin.versions {
        table.row(vec![
            version.version.clone(),
            format!("{} KiB", version.size_bytes / 1024),
            output::timestamp(version.uploaded_at_ms),
            if version.active {
                "active".into()
            } else {
                String::new()
            },
        ]);
    }
    println!("plugin {}", plugin.name);
    table.print();
    Ok(())
}

pub(super) async fn consumer(
    client: &Client,
    out: Output,
    command: ConsumerCommand,
) -> anyhow::Result<()> {
    let consumer = match command {
        ConsumerCommand::Create(args) => client.create_consumer(&create_request(args)).await?,
        ConsumerCommand::List => {
            let consumers = client.list_consumers().await?;
            if out.json {
                return out.print_json(&ConsumerList { consumers });
            }
            let mut table = Table::new(&[
                "NAME",
                "QUEUE",
                "PLUGIN",
                "STATE",
                "INVOCATIONS",
                "ACKED",
                "RETRIED",
                "DEAD",
                "FAULTS",
            ]);
            for c in consumers {
                let faults: u64 = c.stats.faults.values().sum();
                table.row(vec![
                    c.name,
                    c.queue,
                    c.plugin,
                    state_name(c.state).into(),
                    c.stats.invocations.to_string(),
                    c.stats.acked.to_string(),
                    c.stats.retried.to_string(),
                    c.stats.dead_lettered.to_string(),
                    faults.to_string(),
                ]);
            }
            table.print_or("no consumers: create one with `switchyard consumer create NAME --queue Q --plugin P`");
            return Ok(());
        }
        ConsumerCommand::Get { name } => client.get_consumer(&name).await?,
        ConsumerCommand::Pause { name } => client.pause_consumer(&name).await?,
        ConsumerCommand::Resume { name } => client.resume_consumer(&name).await?,
        ConsumerCommand::Delete { name } => {
            client.delete_consumer(&name).await?;
            if out.json {
                return out.print_json(&json!({ "name": name, "deleted": true }));
            }
            println!("deleted consumer {name}");
            return Ok(());
        }
        ConsumerCommand::Logs { name, follow } => return logs(client, out, &name, follow).await,
    };
    if out.json {
        return out.print_json(&consumer);
    }
    print_consumer(&consumer);
    Ok(())
}

fn create_request(args: CreateConsumerArgs) -> CreateConsumer {
    let batch = (args.batch_max.is_some()
        || args.batch_max_bytes.is_some()
        || args.batch_wait_ms.is_some())
    .then_some(BatchSettings {
        max_messages: args.batch_max,
        max_bytes: args.batch_max_bytes,
        max_wait_ms: args.batch_wait_ms,
    });
    CreateConsumer {
        name: args.name,
        queue: args.queue,
        plugin: args.plugin,
        batch,
        concurrency: args.concurrency,
        timeout_ms: args.timeout_ms,
        memory_bytes: args.memory_bytes,
        fuel: args.fuel,
        config: args.config.into_iter().collect::<BTreeMap<_, _>>(),
        secrets: args.secrets.into_iter().collect::<BTreeMap<_, _>>(),
        allowed_hosts: args.allowed_hosts,
    }
}

fn state_name(state: ConsumerState) -> &'static str {
    match state {
        ConsumerState::Running => "running",
        ConsumerState::Paused => "paused",
    }
}

fn print_consumer(c: &Consumer) {
    let faults = if c.stats.faults.is_empty() {
        "none".to_string()
    } else {
        c.stats
            .faults
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = vec![
        ("name", c.name.clone()),
        ("queue", c.queue.clone()),
        ("plugin", c.plugin.clone()),
        ("state", state_name(c.state).into()),
        (
            "batch",
            format!(
                "up to {} messages / {} bytes, wait {}",
                c.batch.max_messages,
                c.batch.max_bytes,
                output::duration(c.batch.max_wait_ms)
            ),
        ),
        ("concurrency", c.concurrency.to_string()),
        ("timeout", output::duration(c.timeout_ms)),
        ("memory", format!("{} MiB", c.memory_bytes >> 20)),
        (
            "fuel",
            c.fuel
                .map_or_else(|| "no limit".into(), |units| units.to_string()),
        ),
        ("allowed hosts", c.allowed_hosts.join(", ")),
        (
            "messages",
            format!(
                "{} in {} invocations: {} acked, {} retried, {} dead-lettered, {} published",
                c.stats.messages,
                c.stats.invocations,
                c.stats.acked,
                c.stats.retried,
                c.stats.dead_lettered,
                c.stats.published
            ),
        ),
        ("faults", faults),
    ];
    if let Some(error) = &c.stats.last_error {
        lines.push((
            "last error",
            format!(
                "{} ({}, {})",
                error.message,
                error.kind,
                output::relative(error.at_ms)
            ),
        ));
    }
    output::print_fields(&lines);
}

async fn logs(client: &Client, out: Output, name: &str, follow: bool) -> anyhow::Result<()> {
    let mut after = None;
    loop {
        let entries = client.consumer_logs(name, after).await?;
        for entry in &entries {
            if out.json {
                println!("{}", serde_json::to_string(entry)?);
            } else {
                println!(
                    "{} {:5} {}",
                    output::timestamp(entry.at_ms),
                    entry.level,
                    entry.text
                );
            }
        }
        after = entries.last().map(|e| e.seq).or(after);
        if !follow {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
