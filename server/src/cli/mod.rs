//! The `switchyard` command line: argument parsing and dispatch. `serve` runs the server;
//! every other subcommand is a client of the REST API through `switchyard_client::Client`
//! and never reaches into the broker or storage.

mod access;
mod archive;
mod bench;
mod compose;
mod messages;
mod monitor;
mod output;
mod plugins;
mod serve;
mod wiring;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use switchyard_client::{Client, ClientError};

/// Runs the `switchyard` binary: parses the arguments, runs the subcommand on a tokio
/// runtime and turns its outcome into an exit code (0 ok, 1 error, 2 usage error).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version go to stdout with 0, usage errors to stderr with 2.
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let out = output::Output { json: cli.json };
    let client = match token(cli.token.as_deref()) {
        Some(token) => Client::new(cli.url.clone()).with_token(token),
        None => Client::new(cli.url.clone()),
    };
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Topic(command) => wiring::topic(&client, out, command).await,
        Command::Queue(command) => wiring::queue(&client, out, command).await,
        Command::Sub(command) => wiring::subscription(&client, out, command).await,
        Command::Publish(args) => messages::publish(&client, out, args).await,
        Command::Send(args) => messages::send(&client, out, args).await,
        Command::Receive(args) => messages::receive(&client, out, args).await,
        Command::Ack(args) => messages::ack(&client, out, args).await,
        Command::Nack(args) => messages::nack(&client, out, args).await,
        Command::Extend(args) => messages::extend(&client, out, args).await,
        Command::Message(args) => messages::message(&client, out, args).await,
        Command::Plugin(command) => plugins::plugin(&client, out, command).await,
        Command::Consumer(command) => plugins::consumer(&client, out, command).await,
        Command::Replay(command) => archive::replay(&client, out, command).await,
        Command::Bench(args) => bench::run(&client, out, args).await,
        Command::Token(command) => access::token(&client, out, command).await,
        Command::Monitor(args) => monitor::monitor(&client, out, args).await,
        Command::Alarm(command) => monitor::alarm(&client, out, command).await,
    }
}

/// The token the client subcommands send: `--token` / `SWITCHYARD_TOKEN`, else the admin
/// token a server started from this directory generated, so the README's tour works by
/// copy-paste.
fn token(given: Option<&str>) -> Option<String> {
    if let Some(token) = given.map(str::trim).filter(|t| !t.is_empty()) {
        return Some(token.to_string());
    }
    let file = std::path::Path::new("switchyard-data").join(crate::access::ADMIN_TOKEN_FILE);
    let text = std::fs::read_to_string(file).ok()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// One line for an error: the context chain (without repeats), with API errors shown as the
/// server's message and code, and transport errors reduced to the URL and the root cause.
fn describe(error: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in error.chain() {
        match cause.downcast_ref::<ClientError>() {
            Some(ClientError::Api { code, message, .. }) => {
                parts.push(format!("{message} ({code})"));
                break;
            }
            Some(ClientError::Transport { url, .. }) => {
                let mut root: &dyn std::error::Error = cause;
                while let Some(source) = root.source() {
                    root = source;
                }
                parts.push(format!("cannot reach the server at {url}: {root}"));
                break;
            }
            _ => {
                // Many errors repeat their source in their own message: say it once.
                let text = cause.to_string();
                if !parts
                    .last()
                    .is_some_and(|last: &String| last.contains(&text))
                {
                    parts.push(text);
                }
            }
        }
    }
    parts.join(": ")
}

/// Switchyard: a self-hosted event bus. Topics fan out to durable queues.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, propagate_version = true)]
struct Cli {
    /// Base URL of the server the client subcommands talk to.
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_URL",
        default_value = "http://127.0.0.1:7700",
        value_name = "URL",
        help_heading = "Global options"
    )]
    url: String,

    /// Print the JSON response instead of human-readable output.
    #[arg(long, global = true, help_heading = "Global options")]
    json: bool,

    /// API token the client subcommands send (default: the file
    /// ./switchyard-data/admin-token, when it exists).
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        help_heading = "Global options"
    )]
    token: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Create, list, inspect and delete topics.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Create, list, inspect, change, purge, browse and delete queues.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Subscribe queues to topics, with optional filters.
    #[command(subcommand, visible_alias = "subscription")]
    Sub(SubCommand),
    /// Publish a message (or a batch) to a topic; prints the id(s).
    Publish(PublishArgs),
    /// Send a message straight to a queue; prints the id.
    Send(SendArgs),
    /// Receive messages from a queue (long polling), each with a receipt.
    Receive(ReceiveArgs),
    /// Acknowledge (delete) received messages.
    Ack(AckArgs),
    /// Return received messages to the queue, optionally after a delay.
    Nack(NackArgs),
    /// Extend the lease of a received message.
    Extend(ExtendArgs),
    /// Show where a message is: which queues hold it, and in which state.
    Message(MessageArgs),
    /// Plugins: deploy WebAssembly components, list and activate versions, read their store.
    #[command(subcommand)]
    Plugin(plugins::PluginCommand),
    /// Consumers: run a plugin on a queue's messages.
    #[command(subcommand)]
    Consumer(plugins::ConsumerCommand),
    /// Replay a topic's archive into a queue; list, show and cancel replay jobs.
    #[command(subcommand)]
    Replay(archive::ReplayCommand),
    /// Benchmark a running server: batched, single-message and serial publishes.
    Bench(bench::BenchArgs),
    /// API tokens: create (shown once), list, revoke; and the audit log.
    #[command(subcommand)]
    Token(access::TokenCommand),
    /// Stuck messages and long invocations per queue and consumer; with a queue, its
    /// stuck messages.
    Monitor(monitor::MonitorArgs),
    /// Alarms on queue and consumer metrics: create, list, get, delete.
    #[command(subcommand)]
    Alarm(monitor::AlarmCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// A TOML config file overlaid on the defaults (see --print-config).
    #[arg(long, env = "SWITCHYARD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory of the embedded database [config default: ./switchyard-data].
    #[arg(long, env = "SWITCHYARD_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on [config default: 127.0.0.1:7700].
    #[arg(long, env = "SWITCHYARD_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Largest payload accepted, in bytes [config default: 1048576].
    #[arg(long, env = "SWITCHYARD_MAX_MESSAGE_BYTES", value_name = "N")]
    max_message_bytes: Option<usize>,
    /// Directory of the built web console, served at `/` (`cargo xtask console` builds it).
    #[arg(long, env = "SWITCHYARD_CONSOLE_DIR", value_name = "DIR")]
    console_dir: Option<PathBuf>,
    /// The first admin token of a data directory without tokens (else one is generated
    /// into <data-dir>/admin-token).
    #[arg(
        long,
        env = "SWITCHYARD_ADMIN_TOKEN",
        value_name = "SECRET",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// Turn authentication off: every request acts as an admin. Refused unless listening
    /// on a loopback address.
    #[arg(long, env = "SWITCHYARD_INSECURE_NO_AUTH")]
    insecure_no_auth: bool,
    /// Print the commented default configuration and exit.
    #[arg(long)]
    print_config: bool,
}

#[derive(Debug, Subcommand)]
enum TopicCommand {
    /// Create a topic, optionally with an archive.
    Create {
        name: String,
        #[command(flatten)]
        archive: archive::ArchiveArgs,
    },
    /// List topics.
    List,
    /// Show one topic, with its archive's stats.
    Get { name: String },
    /// Turn a topic's archive on, change its retention, or turn it off.
    Update {
        name: String,
        #[command(flatten)]
        archive: archive::ArchiveArgs,
        /// Turn the archive off (what it holds is dropped).
        #[arg(long)]
        no_archive: bool,
    },
    /// Test a draft filter against the topic's newest archived messages (changes nothing).
    Preview {
        topic: String,
        /// The draft pattern (JSON).
        #[arg(long, value_name = "JSON")]
        filter: String,
        /// How many of the newest archived messages to test (default 100, at most 10000).
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Delete a topic and its subscriptions (queues and their messages stay).
    Delete { name: String },
}

/// Queue settings, shared by `queue create` and `queue update`.
#[derive(Debug, Args)]
struct QueueSettings {
    /// Lease length of a received message (default 30000, at most 12 h).
    #[arg(long, value_name = "MS")]
    visibility_timeout_ms: Option<u64>,
    /// Deliveries before a message moves to the dead-letter queue.
    #[arg(long, value_name = "N")]
    max_receive_count: Option<u32>,
    /// Queue that receives messages after --max-receive-count deliveries.
    #[arg(long, value_name = "QUEUE")]
    dead_letter_queue: Option<String>,
    /// Delay before a new message becomes visible.
    #[arg(long, value_name = "MS")]
    delay_ms: Option<u64>,
    /// How long a message is kept (default 4 days).
    #[arg(long, value_name = "MS")]
    retention_ms: Option<u64>,
    /// Delivery order: `per-key` delivers one message of a key at a time, in publish order.
    #[arg(long, value_name = "ORDER")]
    ordering: Option<OrderingArg>,
    /// Retry schedule: the delays after the 1st, 2nd, ... failed delivery (the last repeats).
    #[arg(long, value_name = "MS,MS,..", value_delimiter = ',', num_args = 1..)]
    retry_backoff_ms: Option<Vec<u64>>,
    /// Retry schedule: the delay after the first failed delivery, growing by
    /// --retry-multiplier (default 2) up to --retry-max-ms (default 12 h).
    #[arg(long, value_name = "MS", conflicts_with = "retry_backoff_ms")]
    retry_initial_ms: Option<u64>,
    /// See --retry-initial-ms.
    #[arg(long, value_name = "X", requires = "retry_initial_ms")]
    retry_multiplier: Option<f64>,
    /// See --retry-initial-ms.
    #[arg(long, value_name = "MS", requires = "retry_initial_ms")]
    retry_max_ms: Option<u64>,
    /// Take up to this fraction (0 to 1) off each retry delay, at random.
    #[arg(long, value_name = "F")]
    retry_jitter: Option<f64>,
    /// Weighted fairness: share receives between groups of messages, by `key` or
    /// `attribute:<name>`.
    #[arg(long, value_name = "BY")]
    fair_by: Option<String>,
    /// A group's weight (1 to 1000), as GROUP=N; repeatable.
    #[arg(long, value_name = "GROUP=N", requires = "fair_by", value_parser = parse_weight)]
    fair_weight: Vec<(String, u32)>,
    /// The weight of groups without --fair-weight (default 1).
    #[arg(long, value_name = "N", requires = "fair_by")]
    fair_default_weight: Option<u32>,
    /// The ages the monitor counts stuck messages against, ascending (default
    /// 300000,600000,2700000: 5, 10 and 45 minutes).
    #[arg(long, value_name = "MS,MS,..", value_delimiter = ',', num_args = 1..)]
    monitor_thresholds_ms: Option<Vec<u64>>,
}

/// `--fair-weight GROUP=N`.
fn parse_weight(text: &str) -> Result<(String, u32), String> {
    let (group, weight) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("{text:?} is not GROUP=N"))?;
    let weight = weight
        .parse()
        .map_err(|_| format!("{weight:?} is not a whole number"))?;
    Ok((group.to_string(), weight))
}

/// `--ordering`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OrderingArg {
    None,
    PerKey,
}

impl QueueSettings {
    fn ordering(&self) -> Option<switchyard_client::QueueOrdering> {
        self.ordering.map(|ordering| match ordering {
            OrderingArg::None => switchyard_client::QueueOrdering::None,
            OrderingArg::PerKey => switchyard_client::QueueOrdering::PerKey,
        })
    }

    /// The fairness setting the flags describe, if --fair-by was given.
    fn fairness(&self) -> Option<switchyard_client::Fairness> {
        Some(switchyard_client::Fairness {
            by: self.fair_by.clone()?,
            weights: self.fair_weight.iter().cloned().collect(),
            default_weight: self.fair_default_weight.unwrap_or(1),
        })
    }

    /// The retry schedule the flags describe, if any of them was given.
    fn retry(&self) -> Option<switchyard_client::RetrySchedule> {
        let schedule = switchyard_client::RetrySchedule {
            backoff_ms: self.retry_backoff_ms.clone(),
            initial_ms: self.retry_initial_ms,
            multiplier: self.retry_multiplier,
            max_ms: self.retry_max_ms,
            jitter: self.retry_jitter,
        };
        (schedule != switchyard_client::RetrySchedule::default()).then_some(schedule)
    }
}

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// Create a queue.
    Create {
        name: String,
        #[command(flatten)]
        settings: QueueSettings,
    },
    /// List queues with their counts.
    List,
    /// Show a queue's settings and live counts.
    Get { name: String },
    /// Change a queue's settings; the ones not given stay as they are.
    Update {
        name: String,
        #[command(flatten)]
        settings: QueueSettings,
        /// Remove the dead-letter queue.
        #[arg(long, conflicts_with = "dead_letter_queue")]
        no_dead_letter_queue: bool,
        /// Remove the retry schedule.
        #[arg(long, conflicts_with_all = ["retry_backoff_ms", "retry_initial_ms"])]
        no_retry: bool,
        /// Remove the fairness setting.
        #[arg(long, conflicts_with = "fair_by")]
        no_fairness: bool,
    },
    /// Delete a queue, its messages and the subscriptions that feed it.
    Delete { name: String },
    /// Delete every message in a queue.
    Purge { name: String },
    /// Move a dead-letter queue's ready messages back to the queues they came from.
    Redrive {
        name: String,
        /// Move them all to this queue instead.
        #[arg(long, value_name = "QUEUE")]
        to: Option<String>,
        /// Move at most this many.
        #[arg(long, value_name = "N")]
        max: Option<u32>,
        /// Move at most this many per second.
        #[arg(long, value_name = "N")]
        max_per_second: Option<u32>,
        /// Start the job and print it, without following it to its end.
        #[arg(long)]
        no_wait: bool,
    },
    /// Follow a queue's redrive jobs: the recent ones, or one (with `--cancel`, cancel it).
    Redrives {
        name: String,
        /// The job to show.
        id: Option<String>,
        /// Cancel that job.
        #[arg(long, requires = "id")]
        cancel: bool,
    },
    /// Browse a queue's messages without leasing them.
    Peek {
        name: String,
        /// How many messages to show.
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: u32,
        /// Start after this message id (the last id of the previous page).
        #[arg(long, value_name = "ID")]
        after: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum SubCommand {
    /// Subscribe a queue to a topic.
    Create {
        topic: String,
        queue: String,
        /// A filter pattern (JSON) over {"payload", "attributes", "key"}.
        #[arg(long, value_name = "JSON")]
        filter: Option<String>,
        /// Also copy the topic's archived history from this point (a replay job).
        #[command(flatten)]
        start: archive::FromArgs,
    },
    /// List subscriptions.
    List {
        /// Only the subscriptions of this topic.
        #[arg(long, value_name = "TOPIC")]
        topic: Option<String>,
    },
    /// Replace or remove a subscription's filter.
    Update {
        id: String,
        /// The new filter pattern (JSON).
        #[arg(
            long,
            value_name = "JSON",
            required_unless_present = "no_filter",
            conflicts_with = "no_filter"
        )]
        filter: Option<String>,
        /// Remove the filter: every message matches.
        #[arg(long)]
        no_filter: bool,
    },
    /// Delete a subscription.
    Delete { id: String },
}

/// One message from the command line: its payload and its options.
#[derive(Debug, Args)]
struct MessageInput {
    /// The payload as JSON text (with --text: any text, sent as a JSON string).
    #[arg(value_name = "PAYLOAD")]
    payload: Option<String>,
    /// Send PAYLOAD as a JSON string instead of parsing it as JSON.
    #[arg(long, requires = "payload")]
    text: bool,
    /// Send the bytes of FILE as a binary payload ("-" reads stdin).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["payload", "text"])]
    file: Option<PathBuf>,
    /// An attribute (repeatable).
    #[arg(long = "attr", value_name = "K=V", value_parser = compose::parse_attribute)]
    attributes: Vec<(String, String)>,
    /// Message key (ordering and fairness).
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    /// Deduplication id: a repeat within the dedup window returns the first id.
    #[arg(long, value_name = "ID")]
    dedup_id: Option<String>,
    /// Delay before the message becomes visible.
    #[arg(long, value_name = "MS")]
    delay_ms: Option<u64>,
    /// Send many messages: a JSON file {"messages":[..]} or JSON lines, one message body
    /// ({"payload":..,"attributes":..}) per line ("-" reads stdin).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["payload", "text", "file", "attributes", "key", "dedup_id", "delay_ms"]
    )]
    batch_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct PublishArgs {
    /// The topic.
    topic: String,
    #[command(flatten)]
    message: MessageInput,
}

#[derive(Debug, Args)]
struct SendArgs {
    /// The queue.
    queue: String,
    #[command(flatten)]
    message: MessageInput,
}

#[derive(Debug, Args)]
struct ReceiveArgs {
    /// The queue.
    queue: String,
    /// Most messages to receive (1..=1000).
    #[arg(long, default_value_t = 1, value_name = "N")]
    max: u32,
    /// Wait up to this long for a message when none is ready (at most 20000).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    wait_ms: u64,
    /// Lease length for these messages (default: the queue's visibility timeout).
    #[arg(long, value_name = "MS")]
    visibility_timeout_ms: Option<u64>,
    /// Ack the messages after printing them.
    #[arg(long)]
    ack: bool,
}

#[derive(Debug, Args)]
struct AckArgs {
    /// The queue.
    queue: String,
    /// Receipts from `receive`.
    #[arg(required = true, value_name = "RECEIPT")]
    receipts: Vec<String>,
}

#[derive(Debug, Args)]
struct NackArgs {
    /// The queue.
    queue: String,
    /// Receipts from `receive`.
    #[arg(required = true, value_name = "RECEIPT")]
    receipts: Vec<String>,
    /// Delay before the messages become visible again.
    #[arg(long, value_name = "MS")]
    delay_ms: Option<u64>,
}

#[derive(Debug, Args)]
struct ExtendArgs {
    /// The queue.
    queue: String,
    /// A receipt from `receive`.
    receipt: String,
    /// New lease length, counted from now (at most 12 h).
    #[arg(long, value_name = "MS")]
    visibility_timeout_ms: u64,
}

#[derive(Debug, Args)]
struct MessageArgs {
    /// The message id.
    id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_are_accepted_after_the_subcommand() {
        let cli =
            Cli::try_parse_from(["switchyard", "queue", "list", "--json", "--url", "http://x"])
                .unwrap();
        assert!(cli.json);
        assert_eq!(cli.url, "http://x");
    }

    #[test]
    fn batch_file_excludes_a_payload() {
        let err = Cli::try_parse_from(["switchyard", "publish", "t", "{}", "--batch-file", "f"])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn subscription_update_needs_a_filter_or_no_filter() {
        let err = Cli::try_parse_from(["switchyard", "sub", "update", "id"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert!(Cli::try_parse_from(["switchyard", "sub", "update", "id", "--no-filter"]).is_ok());
    }

    #[test]
    fn describe_says_a_repeated_source_once() {
        let io = std::io::Error::new(std::io::ErrorKind::AddrInUse, "address in use");
        let error = anyhow::Error::new(io)
            .context("cannot listen on 127.0.0.1:1: address in use")
            .context("cannot start the server");
        assert_eq!(
            describe(&error),
            "cannot start the server: cannot listen on 127.0.0.1:1: address in use"
        );
    }

    #[test]
    fn describe_shows_the_api_message_and_code() {
        let error = anyhow::Error::new(ClientError::Api {
            status: switchyard_client::StatusCode::NOT_FOUND,
            code: "queue_not_found".into(),
            message: "no queue named mail".into(),
        })
        .context("cannot get queue mail");
        assert_eq!(
            describe(&error),
            "cannot get queue mail: no queue named mail (queue_not_found)"
        );
    }
}
