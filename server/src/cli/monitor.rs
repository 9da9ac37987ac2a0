//! `switchyard monitor` (stuck messages and long invocations; with a queue, the list of its
//! stuck messages) and `switchyard alarm create|list|get|delete`.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::json;
use switchyard_client::{
    AgeBuckets, Alarm, AlarmLevel, AlarmList, Client, Comparison, CreateAlarm, MonitorReport,
    PatchAlarm,
};

use super::output::{self, Output, Table};

#[derive(Debug, Args)]
pub(super) struct MonitorArgs {
    /// List this queue's stuck messages instead.
    queue: Option<String>,
    /// With a queue: list messages at least this old (default: its smallest threshold).
    #[arg(long, value_name = "MS", requires = "queue")]
    over_ms: Option<u64>,
    /// With a queue: list at most this many (default 100, at most 1000).
    #[arg(long, value_name = "N", requires = "queue")]
    limit: Option<u32>,
    /// With a queue: start after this message id (the `next` of the previous page).
    #[arg(long, value_name = "ID", requires = "queue")]
    after: Option<String>,
}

pub(super) async fn monitor(client: &Client, out: Output, args: MonitorArgs) -> anyhow::Result<()> {
    let Some(queue) = args.queue else {
        let report = client.monitor().await.context("cannot read the monitor")?;
        if out.json {
            return out.print_json(&report);
        }
        print_report(&report);
        return Ok(());
    };
    let stuck = client
        .stuck_messages(&queue, args.over_ms, args.limit, args.after.as_deref())
        .await
        .with_context(|| format!("cannot list the stuck messages of queue {queue}"))?;
    if out.json {
        return out.print_json(&stuck);
    }
    let mut table = Table::new(&["ID", "STATE", "AGE", "RECEIVES", "LAST ERROR"]);
    for message in &stuck.messages {
        table.row(vec![
            message.id.clone(),
            output::state_name(message.state).to_string(),
            output::duration(message.age_ms),
            message.receive_count.to_string(),
            message
                .last_error
                .as_deref()
                .map_or("-".into(), |e| output::one_line(e, 80)),
        ]);
    }
    table.print_or(&format!(
        "no message of queue {queue} has waited or been in flight {}",
        output::duration(stuck.over_ms)
    ));
    if let Some(next) = &stuck.next_after {
        println!("more: --after {next}");
    }
    Ok(())
}

fn buckets_text(buckets: &AgeBuckets) -> String {
    buckets
        .over
        .iter()
        .map(|b| format!(">{} {}", output::duration(b.threshold_ms), b.count))
        .collect::<Vec<_>>()
        .join("  ")
}

fn print_report(report: &MonitorReport) {
    let mut queues = Table::new(&[
        "QUEUE",
        "WAITING",
        "OVER",
        "OLDEST",
        "IN FLIGHT",
        "OVER",
        "OLDEST",
    ]);
    for queue in &report.queues {
        let oldest = |b: &AgeBuckets| b.oldest_age_ms.map_or("-".into(), output::duration);
        let mark = if queue.complete { "" } else { " (at least)" };
        queues.row(vec![
            queue.queue.clone(),
            queue.waiting.total.to_string(),
            format!("{}{mark}", buckets_text(&queue.waiting)),
            oldest(&queue.waiting),
            queue.in_flight.total.to_string(),
            format!("{}{mark}", buckets_text(&queue.in_flight)),
            oldest(&queue.in_flight),
        ]);
    }
    queues.print_or("no queues");
    if report.consumers.is_empty() {
        return;
    }
    println!();
    let mut consumers = Table::new(&["CONSUMER", "QUEUE", "RUNNING", "OVER", "LONGEST"]);
    for consumer in &report.consumers {
        consumers.row(vec![
            consumer.consumer.clone(),
            consumer.queue.clone(),
            consumer.running.total.to_string(),
            buckets_text(&consumer.running),
            consumer
                .running
                .oldest_age_ms
                .map_or("-".into(), output::duration),
        ]);
    }
    consumers.print();
}

#[derive(Debug, Subcommand)]
pub(super) enum AlarmCommand {
    /// Create an alarm on a queue's or a consumer's metric; each time it fires or resolves
    /// a message goes to the topic switchyard.alarms.
    Create {
        /// Its name.
        name: String,
        /// The queue it watches.
        #[arg(long, value_name = "QUEUE", required_unless_present = "consumer")]
        queue: Option<String>,
        /// The consumer it watches.
        #[arg(long, value_name = "CONSUMER", conflicts_with = "queue")]
        consumer: Option<String>,
        /// oldest_age_ms, depth, dead_lettered, dead_letters_per_minute,
        /// stuck_over_ms:<ms> (a queue) or fault_rate (a consumer).
        #[arg(long, value_name = "METRIC")]
        metric: String,
        /// The value the metric is compared with.
        #[arg(long, value_name = "X")]
        threshold: f64,
        /// How: >=, >, <= or < (default >=).
        #[arg(long, value_name = "OP", value_parser = parse_comparison)]
        comparison: Option<Comparison>,
        /// How long the condition must hold before it fires (default 0).
        #[arg(long, value_name = "MS")]
        for_ms: Option<u64>,
        /// warning or critical.
        #[arg(long, value_name = "LEVEL", value_parser = parse_level)]
        level: AlarmLevel,
    },
    /// List alarms with their state.
    List,
    /// Show one alarm with its state and last transition.
    Get { name: String },
    /// Change an alarm's condition; what is not given stays as it is.
    Update {
        name: String,
        /// The value the metric is compared with.
        #[arg(long, value_name = "X")]
        threshold: Option<f64>,
        /// How: >=, >, <= or <.
        #[arg(long, value_name = "OP", value_parser = parse_comparison)]
        comparison: Option<Comparison>,
        /// How long the condition must hold before it fires.
        #[arg(long, value_name = "MS")]
        for_ms: Option<u64>,
        /// warning or critical.
        #[arg(long, value_name = "LEVEL", value_parser = parse_level)]
        level: Option<AlarmLevel>,
    },
    /// Delete an alarm.
    Delete { name: String },
}

fn parse_comparison(text: &str) -> Result<Comparison, String> {
    serde_json::from_value(json!(text)).map_err(|_| format!("{text:?}: use >=, >, <= or <"))
}

fn parse_level(text: &str) -> Result<AlarmLevel, String> {
    serde_json::from_value(json!(text)).map_err(|_| format!("{text:?}: use warning or critical"))
}

pub(super) async fn alarm(
    client: &Client,
    out: Output,
    command: AlarmCommand,
) -> anyhow::Result<()> {
    match command {
        AlarmCommand::Create {
            name,
            queue,
            consumer,
            metric,
            threshold,
            comparison,
            for_ms,
            level,
        } => {
            let request = CreateAlarm {
                name,
                queue,
                consumer,
                metric,
                threshold,
                comparison,
                for_ms,
                level,
            };
            let alarm = client.create_alarm(&request).await?;
            if out.json {
                return out.print_json(&alarm);
            }
            println!("created alarm {}", alarm.name);
        }
        AlarmCommand::List => {
            let alarms = client.list_alarms().await?;
            if out.json {
                return out.print_json(&AlarmList { alarms });
            }
            let mut table = Table::new(&[
                "NAME",
                "WATCHES",
                "CONDITION",
                "LEVEL",
                "STATE",
                "VALUE",
                "LAST CHANGE",
            ]);
            for alarm in &alarms {
                table.row(vec![
                    alarm.name.clone(),
                    watches(alarm),
                    condition(alarm),
                    alarm.level.as_str().into(),
                    state_text(alarm),
                    alarm.value.map_or("-".into(), |v| v.to_string()),
                    alarm.last_transition.as_ref().map_or("-".into(), |t| {
                        format!("{:?} {}", t.state, output::relative(t.at_ms)).to_lowercase()
                    }),
                ]);
            }
            table.print_or("no alarms");
        }
        AlarmCommand::Get { name } => {
            let alarm = client.get_alarm(&name).await?;
            if out.json {
                return out.print_json(&alarm);
            }
            let mut lines = vec![
                ("name", alarm.name.clone()),
                ("watches", watches(&alarm)),
                ("condition", condition(&alarm)),
                ("level", alarm.level.as_str().into()),
                ("state", state_text(&alarm)),
                ("value", alarm.value.map_or("-".into(), |v| v.to_string())),
            ];
            if let Some(since) = alarm.breaching_since_ms {
                lines.push(("breaching since", output::time_and_relative(since)));
            }
            if let Some(t) = &alarm.last_transition {
                lines.push((
                    "last transition",
                    format!("{:?} {}", t.state, output::time_and_relative(t.at_ms)).to_lowercase(),
                ));
            }
            output::print_fields(&lines);
        }
        AlarmCommand::Update {
            name,
            threshold,
            comparison,
            for_ms,
            level,
        } => {
            let patch = PatchAlarm {
                threshold,
                comparison,
                for_ms,
                level,
            };
            if patch == PatchAlarm::default() {
                anyhow::bail!(
                    "nothing to change: give --threshold, --comparison, --for-ms or --level"
                );
            }
            let alarm = client.patch_alarm(&name, &patch).await?;
            if out.json {
                return out.print_json(&alarm);
            }
            println!("updated alarm {}: {}", alarm.name, condition(&alarm));
        }
        AlarmCommand::Delete { name } => {
            client.delete_alarm(&name).await?;
            if out.json {
                return out.print_json(&json!({ "name": name, "deleted": true }));
            }
            println!("deleted alarm {name}");
        }
    }
    Ok(())
}

fn watches(alarm: &Alarm) -> String {
    match (&alarm.queue, &alarm.consumer) {
        (Some(queue), _) => format!("queue {queue}"),
        (None, Some(consumer)) => format!("consumer {consumer}"),
        (None, None) => "-".into(),
    }
}

fn condition(alarm: &Alarm) -> String {
    let mut text = format!(
        "{} {} {}",
        alarm.metric,
        alarm.comparison.as_str(),
        alarm.threshold
    );
    if alarm.for_ms > 0 {
        text.push_str(&format!(" for {}", output::duration(alarm.for_ms)));
    }
    text
}

fn state_text(alarm: &Alarm) -> String {
    serde_json::to_value(alarm.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
