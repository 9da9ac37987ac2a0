//! The client subcommands: each one calls the REST API through the typed client and shows
//! the answer (JSON with `--json`, text otherwise).

use anyhow::bail;
use serde_json::json;
use switchyard_client::{
    Client, CreateQueue, PatchQueue, PublishBatch, Published, PublishedBatch, Queue,
    ReceiptFailure, ReceiveRequest, ReceiveResponse, SubscriptionList, TopicList,
};

use super::compose::{self, Outgoing};
use super::output::{self, Output, Table};
use super::{
    AckArgs, ExtendArgs, MessageArgs, NackArgs, PublishArgs, QueueCommand, QueueSettings,
    ReceiveArgs, SendArgs, SubCommand, TopicCommand,
};

pub(super) async fn topic(
    client: &Client,
    out: Output,
    command: TopicCommand,
) -> anyhow::Result<()> {
    match command {
        TopicCommand::Create { name } => {
            let topic = client.create_topic(&name).await?;
            if out.json {
                return out.print_json(&topic);
            }
            println!("created topic {}", topic.name);
        }
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
            table.print();
        }
        TopicCommand::Get { name } => {
            let topic = client.get_topic(&name).await?;
            if out.json {
                return out.print_json(&topic);
            }
            output::print_fields(&[
                ("name", topic.name.clone()),
                ("subscriptions", topic.subscriptions.to_string()),
                ("created", output::time_and_relative(topic.created_at_ms)),
            ]);
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
            let QueueSettings {
                visibility_timeout_ms,
                max_receive_count,
                dead_letter_queue,
                delay_ms,
                retention_ms,
            } = settings;
            let request = CreateQueue {
                name,
                visibility_timeout_ms,
                max_receive_count,
                dead_letter_queue,
                delay_ms,
                retention_ms,
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
        } => {
            let patch = PatchQueue {
                visibility_timeout_ms: settings.visibility_timeout_ms,
                max_receive_count: settings.max_receive_count,
                dead_letter_queue: match (settings.dead_letter_queue, no_dead_letter_queue) {
                    (Some(queue), _) => Some(Some(queue)),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
                delay_ms: settings.delay_ms,
                retention_ms: settings.retention_ms,
            };
            if patch.visibility_timeout_ms.is_none()
                && patch.max_receive_count.is_none()
                && patch.dead_letter_queue.is_none()
                && patch.delay_ms.is_none()
                && patch.retention_ms.is_none()
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
    table.print();
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
        ("delay", output::duration(queue.delay_ms)),
        ("retention", output::duration(queue.retention_ms)),
        ("created", output::time_and_relative(queue.created_at_ms)),
    ];
    if let Some(stats) = &queue.stats {
        lines.extend([
            ("ready", stats.ready.to_string()),
            ("in flight", stats.in_flight.to_string()),
            ("delayed", stats.delayed.to_string()),
            ("dead lettered in", stats.dead_lettered.to_string()),
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
        } => {
            let filter = filter.as_deref().map(compose::parse_filter).transpose()?;
            let subscription = client.subscribe(&topic, &queue, filter).await?;
            if out.json {
                return out.print_json(&subscription);
            }
            println!(
                "created subscription {} ({} -> {})",
                subscription.id, subscription.topic, subscription.queue
            );
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
            table.print();
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

pub(super) async fn publish(client: &Client, out: Output, args: PublishArgs) -> anyhow::Result<()> {
    match compose::outgoing(args.message)? {
        Outgoing::One(message) => {
            let id = client.publish(&args.topic, &message).await?;
            print_id(out, id)
        }
        Outgoing::Many(messages) => {
            let ids = client
                .publish_batch(&args.topic, &PublishBatch { messages })
                .await?;
            print_ids(out, ids)
        }
    }
}

pub(super) async fn send(client: &Client, out: Output, args: SendArgs) -> anyhow::Result<()> {
    match compose::outgoing(args.message)? {
        Outgoing::One(message) => {
            let id = client.send(&args.queue, &message).await?;
            print_id(out, id)
        }
        Outgoing::Many(messages) => {
            // Queues have no batch endpoint: send one by one, in order.
            let mut ids = Vec::with_capacity(messages.len());
            for (index, message) in messages.iter().enumerate() {
                match client.send(&args.queue, message).await {
                    Ok(id) => ids.push(id),
                    Err(error) => {
                        if !out.json {
                            print_ids(out, ids)?;
                        }
                        return Err(anyhow::Error::new(error).context(format!(
                            "message {} of {} was not sent",
                            index + 1,
                            messages.len()
                        )));
                    }
                }
            }
            print_ids(out, ids)
        }
    }
}

fn print_id(out: Output, id: String) -> anyhow::Result<()> {
    if out.json {
        return out.print_json(&Published { id });
    }
    println!("{id}");
    Ok(())
}

fn print_ids(out: Output, ids: Vec<String>) -> anyhow::Result<()> {
    if out.json {
        return out.print_json(&PublishedBatch { ids });
    }
    for id in ids {
        println!("{id}");
    }
    Ok(())
}

pub(super) async fn receive(client: &Client, out: Output, args: ReceiveArgs) -> anyhow::Result<()> {
    let request = ReceiveRequest {
        max_messages: Some(args.max),
        wait_ms: Some(args.wait_ms),
        visibility_timeout_ms: args.visibility_timeout_ms,
    };
    let messages = client.receive(&args.queue, &request).await?;
    let receipts: Vec<String> = messages.iter().filter_map(|m| m.receipt.clone()).collect();
    let acked = if args.ack && !receipts.is_empty() {
        Some(client.ack(&args.queue, receipts).await)
    } else {
        None
    };
    if out.json {
        let mut body = serde_json::to_value(ReceiveResponse { messages })?;
        if let Some(Ok(ack)) = &acked {
            body["ack"] = serde_json::to_value(ack)?;
        }
        out.print_json(&body)?;
    } else if messages.is_empty() {
        println!("no messages");
    } else {
        for (index, message) in messages.iter().enumerate() {
            if index > 0 {
                println!();
            }
            output::print_message(message);
        }
    }
    match acked {
        None => Ok(()),
        Some(Ok(ack)) => {
            if !out.json {
                println!();
                println!("acked {}", ack.acked);
            }
            receipt_failures(&ack.failed, "acked")
        }
        Some(Err(error)) => Err(anyhow::Error::new(error).context(
            "the messages were received but could not be acked; they will be redelivered",
        )),
    }
}

pub(super) async fn ack(client: &Client, out: Output, args: AckArgs) -> anyhow::Result<()> {
    let answer = client.ack(&args.queue, args.receipts).await?;
    if out.json {
        out.print_json(&answer)?;
    } else {
        println!("acked {}", answer.acked);
    }
    receipt_failures(&answer.failed, "acked")
}

pub(super) async fn nack(client: &Client, out: Output, args: NackArgs) -> anyhow::Result<()> {
    let answer = client
        .nack(&args.queue, args.receipts, args.delay_ms)
        .await?;
    if out.json {
        out.print_json(&answer)?;
    } else {
        match args.delay_ms.filter(|&ms| ms > 0) {
            Some(ms) => println!(
                "returned {} (visible again in {})",
                answer.nacked,
                output::duration(ms)
            ),
            None => println!("returned {}", answer.nacked),
        }
    }
    receipt_failures(&answer.failed, "returned")
}

/// Lists receipts that failed on stderr; an error (exit 1) when there are any.
fn receipt_failures(failed: &[ReceiptFailure], verb: &str) -> anyhow::Result<()> {
    for failure in failed {
        eprintln!(
            "not {verb}: {}: {} ({})",
            failure.receipt, failure.message, failure.code
        );
    }
    match failed.len() {
        0 => Ok(()),
        1 => bail!("1 receipt was not {verb}"),
        n => bail!("{n} receipts were not {verb}"),
    }
}

pub(super) async fn extend(client: &Client, out: Output, args: ExtendArgs) -> anyhow::Result<()> {
    let answer = client
        .extend(&args.queue, &args.receipt, args.visibility_timeout_ms)
        .await?;
    if out.json {
        return out.print_json(&answer);
    }
    println!(
        "lease extended until {}",
        output::time_and_relative(answer.visible_at_ms)
    );
    Ok(())
}

pub(super) async fn message(client: &Client, out: Output, args: MessageArgs) -> anyhow::Result<()> {
    let status = client.message_status(&args.id).await?;
    if out.json {
        return out.print_json(&status);
    }
    output::print_fields(&[
        ("id", status.id.clone()),
        (
            "topic",
            status
                .topic
                .clone()
                .unwrap_or_else(|| "(sent to a queue)".to_string()),
        ),
        (
            "published",
            output::time_and_relative(status.published_at_ms),
        ),
    ]);
    println!();
    if status.deliveries.is_empty() {
        println!("no queue holds it any more (acked, purged or expired)");
        return Ok(());
    }
    let mut table = Table::new(&["QUEUE", "STATE", "RECEIVES", "VISIBLE", "DEAD LETTER"]);
    for delivery in status.deliveries {
        table.row(vec![
            delivery.queue,
            output::state_name(delivery.state).to_string(),
            delivery.receive_count.to_string(),
            output::relative(delivery.visible_at_ms),
            delivery
                .dead_letter
                .as_ref()
                .map_or("-".to_string(), output::dead_letter_text),
        ]);
    }
    table.print();
    Ok(())
}
