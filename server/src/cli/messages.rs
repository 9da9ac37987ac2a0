//! Message subcommands: publish, send, receive, ack, nack, extend and message status.
//! Each calls the REST API through the typed client and shows the answer.

use anyhow::bail;
use switchyard_client::{
    Client, PublishBatch, Published, PublishedBatch, ReceiptFailure, ReceiveRequest,
    ReceiveResponse,
};

use super::compose::{self, Outgoing};
use super::output::{self, Output, Table};
use super::{AckArgs, ExtendArgs, MessageArgs, NackArgs, PublishArgs, ReceiveArgs, SendArgs};

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
            let ids = client
                .send_batch(&args.queue, &PublishBatch { messages })
                .await?;
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
    let mut table = Table::new(&[
        "QUEUE",
        "STATE",
        "RECEIVES",
        "SINCE / VISIBLE",
        "DEAD LETTER",
    ]);
    for delivery in status.deliveries {
        let when = match delivery.settled_at_ms {
            Some(at) => output::relative(at),
            None => output::relative(delivery.visible_at_ms),
        };
        table.row(vec![
            delivery.queue,
            output::state_name(delivery.state).to_string(),
            delivery.receive_count.to_string(),
            when,
            delivery
                .dead_letter
                .as_ref()
                .map_or("-".to_string(), output::dead_letter_text),
        ]);
    }
    table.print();
    Ok(())
}
