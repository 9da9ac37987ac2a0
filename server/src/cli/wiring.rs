//! Wiring subcommands: topics, queues and subscriptions (create, list, inspect, change,
//! delete). Each calls the REST API through the typed client and shows the answer.

use anyhow::bail;
use serde_json::json;
use switchyard_client::{
    Client, CreateQueue, CreateSubscription, PatchQueue, PatchTopic, Queue, SubscriptionList,
    TopicList,
};

use super::archive;
use super::compose;
use super::output::{self, Output, Table};
use super::{QueueCommand, SubCommand, TopicCommand};

pub(super) async fn topic(
    client: &Client,
    out: Output,
    command: TopicCommand,
) -> anyhow::Result<()> {
    match command {
        TopicCommand::Create { name, archive } => {
            let topic = match archive.settings() {
                Some(settings) => client.create_archived_topic(&name, settings).await?,
                None => client.create_topic(&name).await?,
            };
            if out.json {
                return out.print_json(&topic);
            }
            let with = if topic.archive.is_some() {
                " with an archive"
            } else {
                ""
            };
            println!("created topic {}{with}", topic.name);
        }
        TopicCommand::Update {
            name,
            archive,
            no_archive,
        } => {
            archive::check_no_archive(&archive, no_archive)?;
            let patch = match (archive.settings(), no_archive) {
                (_, true) => PatchTopic {
                    archive: Some(None),
                },
                (Some(settings), false) => PatchTopic {
                    archive: Some(Some(settings)),
                },
                (None, false) => bail!(
                    "give --archive, --archive-max-age-ms, --archive-max-bytes or --no-archive"
                ),
            };
            let topic = client.patch_topic(&name, &patch).await?;
            if out.json {
                return out.print_json(&topic);
            }
            let state = if topic.archive.is_some() { "on" } else { "off" };
            println!("updated topic {name}: archive {state}");
        }
        TopicCommand::Preview {
            topic,
            filter,
            limit,
        } => archive::preview(client, out, &topic, &filter, limit).await?,
        TopicCommand::List => {
            let topics = client.list_topics().await?;
            if out.json {
                return out.print_json(&TopicList { topics });
            }
            let mut table = Table::new(&["NAME", "SUBSCRIPTIONS", "CREATED"]);
            for topic in topics {
                let created = output::timestamp(topic.created_at_ms);
                table.row(vec![topic.name, topic.subscriptions.to_string(), created]);
            }
            table.print_or("no topics");
        }
        TopicCommand::Get { name } => {
            let topic = client.get_topic(&name).await?;
            if out.json {
                return out.print_json(&topic);
            }
            let mut lines = vec![
                ("name", topic.name.clone()),
                ("subscriptions", topic.subscriptions.to_string()),
                ("created", output::time_and_relative(topic.created_at_ms)),
            ];
            lines.extend(archive::archive_fields(&topic));
            output::print_fields(&lines);
        }
        TopicCommand::Delete { name } => {
            client.delete_topic(&name).await?;
            if out.json {
                return out.print_json(&json!({ "name": name, "deleted": true }));
            }
            println!("deleted topic {name}");
        }
    }
    Ok(())
}

pub(super) async fn queue(
    client: &Client,
    out: Output,
    command: QueueCommand,
) -> anyhow::Result<()> {
    match command {
        QueueCommand::Create { name, settings } => {
            let request = CreateQueue {
                name,
                visibility_timeout_ms: settings.visibility_timeout_ms,
                max_receive_count: settings.max_receive_count,
                dead_letter_queue: settings.dead_letter_queue.clone(),
                delay_ms: settings.delay_ms,
                retention_ms: settings.retention_ms,
                ordering: settings.ordering(),
                retry: settings.retry(),
                fairness: settings.fairness(),
                monitor_thresholds_ms: settings.monitor_thresholds_ms.clone(),
            };
            let queue = client.create_queue(&request).await?;
            if out.json {
                return out.print_json(&queue);
            }
            println!("created queue {}", queue.name);
        }
        QueueCommand::List => {
            let queues = client.list_queues().await?;
            if out.json {
                return out.print_json(&switchyard_client::QueueList { queues });
            }
            print_queue_table(queues);
        }
        QueueCommand::Get { name } => {
            let queue = client.get_queue(&name).await?;
            if out.json {
                return out.print_json(&queue);
            }
            print_queue(&queue);
        }
        QueueCommand::Update {
            name,
            settings,
            no_dead_letter_queue,
            no_retry,
            no_fairness,
        } => {
            let fairness = match (settings.fairness(), no_fairness) {
                (Some(fairness), _) => Some(Some(fairness)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            let retry = match (settings.retry(), no_retry) {
                (Some(schedule), _) => Some(Some(schedule)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            let patch = PatchQueue {
                visibility_timeout_ms: settings.visibility_timeout_ms,
                max_receive_count: settings.max_receive_count,
                dead_letter_queue: match (settings.dead_letter_queue.clone(), no_dead_letter_queue)
                {
                    (Some(queue), _) => Some(Some(queue)),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
                delay_ms: settings.delay_ms,
                retention_ms: settings.retention_ms,
                ordering: settings.ordering(),
                retry,
                fairness,
                monitor_thresholds_ms: settings.monitor_thresholds_ms.clone().map(Some),
            };
            if patch.visibility_timeout_ms.is_none()
                && patch.max_receive_count.is_none()
                && patch.dead_letter_queue.is_none()
                && patch.delay_ms.is_none()
                && patch.retention_ms.is_none()
                && patch.ordering.is_none()
                && patch.retry.is_none()
                && patch.fairness.is_none()
                && patch.monitor_thresholds_ms.is_none()
            {
                bail!(
                    "nothing to change: give at least one setting (see `switchyard queue update --help`)"
                );
            }
            let queue = client.patch_queue(&name, &patch).await?;
            if out.json {
                return out.print_json(&queue);
            }
            println!("updated queue {}", queue.name);
        }
        QueueCommand::Delete { name } => {
            client.delete_queue(&name).await?;
            if out.json {
                return out.print_json(&json!({ "name": name, "deleted": true }));
            }
            println!("deleted queue {name}");
        }
        QueueCommand::Purge { name } => {
            let purged = client.purge(&name).await?;
            if out.json {
                return out.print_json(&switchyard_client::PurgeResponse { purged });
            }
            println!("purged {purged} messages from queue {name}");
        }
        QueueCommand::Redrive {
            name,
            to,
            max,
            max_per_second,
            no_wait,
        } => {
            let request = switchyard_client::RedriveRequest {
                destination: to,
                max_messages: max,
                max_per_second,
            };
            let mut job = client.start_redrive(&name, &request).await?;
            if !no_wait {
                job = follow_redrive(client, out, job).await?;
            }
            if out.json {
                return out.print_json(&job);
            }
            print_redrive(&job);
        }
        QueueCommand::Redrives { name, id, cancel } => match id {
            Some(id) => {
                let job = if cancel {
                    client.cancel_redrive(&name, &id).await?
                } else {
                    client.get_redrive(&name, &id).await?
                };
                if out.json {
                    return out.print_json(&job);
                }
                print_redrive(&job);
            }
            None => {
                let redrives = client.list_redrives(&name).await?;
                if out.json {
                    return out.print_json(&switchyard_client::RedriveList { redrives });
                }
                let mut table = Table::new(&["ID", "STATE", "MOVED", "SKIPPED", "STARTED"]);
                for job in &redrives {
                    table.row(vec![
                        job.id.clone(),
                        job.state.name().to_string(),
                        format!("{} of {}", job.moved, job.total),
                        job.skipped.to_string(),
                        output::relative(job.started_at_ms),
                    ]);
                }
                table.print_or("no redrives");
            }
        },
        QueueCommand::Peek { name, limit, after } => {
            let messages = client.peek(&name, limit, after.as_deref()).await?;
            if out.json {
                return out.print_json(&switchyard_client::PeekResponse { messages });
            }
            let mut table = Table::new(&["ID", "STATE", "RECEIVES", "PUBLISHED", "PAYLOAD"]);
            for message in &messages {
                table.row(vec![
                    message.id.clone(),
                    message.state.map_or("-", output::state_name).to_string(),
                    message.receive_count.to_string(),
                    output::relative(message.published_at_ms),
                    output::one_line(&output::payload_text(message), 60),
                ]);
            }
            if table.len() == 0 {
                println!("no messages");
                return Ok(());
            }
            table.print();
            if let Some(last) = messages.last().filter(|_| table.len() == limit as usize) {
                eprintln!("more: switchyard queue peek {name} --after {}", last.id);
            }
        }
    }
    Ok(())
}

fn print_queue_table(queues: Vec<Queue>) {
    let mut table = Table::new(&[
        "NAME",
        "READY",
        "IN FLIGHT",
        "DELAYED",
        "OLDEST",
        "VISIBILITY",
        "DEAD LETTERS TO",
    ]);
    for queue in queues {
        let stats = queue.stats.unwrap_or_default();
        table.row(vec![
            queue.name,
            stats.ready.to_string(),
            stats.in_flight.to_string(),
            stats.delayed.to_string(),
            stats
                .oldest_age_ms
                .map_or("-".to_string(), output::duration),
            output::duration(queue.visibility_timeout_ms),
            queue.dead_letter_queue.unwrap_or_else(|| "-".to_string()),
        ]);
    }
    table.print_or("no queues");
}

fn print_queue(queue: &Queue) {
    let mut lines = vec![
        ("name", queue.name.clone()),
        (
            "visibility timeout",
            output::duration(queue.visibility_timeout_ms),
        ),
        (
            "max receive count",
            queue
                .max_receive_count
                .map_or("none".to_string(), |n| n.to_string()),
        ),
        (
            "dead-letter queue",
            queue
                .dead_letter_queue
                .clone()
                .unwrap_or_else(|| "none".to_string()),
        ),
        (
            "delay",
            match queue.delay_ms {
                0 => "none".to_string(),
                ms => output::duration(ms),
            },
        ),
        ("retention", output::duration(queue.retention_ms)),
        (
            "ordering",
            match queue.ordering {
                switchyard_client::QueueOrdering::None => "none".to_string(),
                switchyard_client::QueueOrdering::PerKey => "per key".to_string(),
            },
        ),
        (
            "fairness",
            queue
                .fairness
                .as_ref()
                .map_or("none: oldest first".to_string(), |fair| {
                    let weights: Vec<String> = fair
                        .weights
                        .iter()
                        .map(|(group, weight)| format!("{group}={weight}"))
                        .collect();
                    format!(
                        "by {}, weights {} (others {})",
                        fair.by,
                        if weights.is_empty() {
                            "-".to_string()
                        } else {
                            weights.join(", ")
                        },
                        fair.default_weight
                    )
                }),
        ),
        (
            "retry",
            queue.retry.as_ref().map_or("at once".to_string(), |retry| {
                retry.describe(output::duration)
            }),
        ),
        ("created", output::time_and_relative(queue.created_at_ms)),
    ];
    if let Some(stats) = &queue.stats {
        lines.extend([
            ("ready", stats.ready.to_string()),
            ("in flight", stats.in_flight.to_string()),
            ("delayed", stats.delayed.to_string()),
            ("behind their key", stats.behind_key.to_string()),
            ("dead-lettered into it", stats.dead_lettered.to_string()),
            (
                "oldest message",
                stats
                    .oldest_age_ms
                    .map_or("-".to_string(), output::duration),
            ),
        ]);
    }
    output::print_fields(&lines);
}

pub(super) async fn subscription(
    client: &Client,
    out: Output,
    command: SubCommand,
) -> anyhow::Result<()> {
    match command {
        SubCommand::Create {
            topic,
            queue,
            filter,
            start,
        } => {
            let request = CreateSubscription {
                topic,
                queue,
                filter: filter.as_deref().map(compose::parse_filter).transpose()?,
                start: start.point(),
            };
            let subscription = client.create_subscription(&request).await?;
            if out.json {
                return out.print_json(&subscription);
            }
            println!(
                "created subscription {} ({} -> {})",
                subscription.id, subscription.topic, subscription.queue
            );
            if let Some(replay) = &subscription.replay {
                println!(
                    "its history is copied by replay {replay} (switchyard replay show {replay})"
                );
            }
        }
        SubCommand::List { topic } => {
            let mut subscriptions = client.list_subscriptions().await?;
            if let Some(topic) = &topic {
                subscriptions.retain(|s| &s.topic == topic);
            }
            if out.json {
                return out.print_json(&SubscriptionList { subscriptions });
            }
            let mut table = Table::new(&["ID", "TOPIC", "QUEUE", "FILTER"]);
            for s in subscriptions {
                let filter = s
                    .filter
                    .map_or("-".to_string(), |f| output::one_line(&f.to_string(), 60));
                table.row(vec![s.id, s.topic, s.queue, filter]);
            }
            table.print_or("no subscriptions");
        }
        SubCommand::Update {
            id,
            filter,
            no_filter,
        } => {
            let filter = match (filter, no_filter) {
                (Some(raw), _) => Some(compose::parse_filter(&raw)?),
                (None, _) => None,
            };
            let subscription = client.patch_subscription(&id, filter).await?;
            if out.json {
                return out.print_json(&subscription);
            }
            match &subscription.filter {
                Some(_) => println!("updated the filter of subscription {id}"),
                None => println!("removed the filter of subscription {id}"),
            }
        }
        SubCommand::Delete { id } => {
            client.delete_subscription(&id).await?;
            if out.json {
                return out.print_json(&json!({ "id": id, "deleted": true }));
            }
            println!("deleted subscription {id}");
        }
    }
    Ok(())
}

/// Polls a redrive job until it ends, drawing a bar on stderr unless the output is JSON.
async fn follow_redrive(
    client: &Client,
    out: Output,
    mut job: switchyard_client::RedriveJob,
) -> anyhow::Result<switchyard_client::RedriveJob> {
    loop {
        if !out.json {
            eprint!(
                "\r{}  {}/{} moved, {} skipped  {}",
                super::archive::bar(job.moved, job.total, job.state.is_finished()),
                job.moved,
                job.total,
                job.skipped,
                job.state.name()
            );
            let _ = std::io::Write::flush(&mut std::io::stderr());
        }
        if job.state.is_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        job = client.get_redrive(&job.queue, &job.id).await?;
    }
    if !out.json {
        eprintln!();
    }
    Ok(job)
}

fn print_redrive(job: &switchyard_client::RedriveJob) {
    let mut lines = vec![
        ("id", job.id.clone()),
        ("queue", job.queue.clone()),
        (
            "to",
            job.destination
                .clone()
                .unwrap_or_else(|| "the queues the messages came from".to_string()),
        ),
        ("state", job.state.name().to_string()),
        ("moved", format!("{} of {}", job.moved, job.total)),
        ("left in place", job.skipped.to_string()),
        (
            "pace",
            job.max_per_second
                .map_or("as fast as it goes".to_string(), |rate| format!("{rate}/s")),
        ),
        ("started", output::time_and_relative(job.started_at_ms)),
    ];
    if let Some(error) = &job.error {
        lines.push(("error", error.clone()));
    }
    output::print_fields(&lines);
}
