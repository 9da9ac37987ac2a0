//! Plugins and consumers: deploying components, the outcomes a plugin returns, the limits
//! that stop a misbehaving plugin, the HTTP allow-list, batching and concurrency, and the
//! seed scenarios (signups, the order flow) played by the example plugins, and batch
//! windows.

mod budgets;
mod deploy;
mod limits;
mod sandbox;
mod scenarios;
mod windows;

use std::time::Duration;

use switchyard_client::{Client, Consumer, CreateConsumer, CreateQueue, Message};
use switchyard_tests::*;

/// Deploys the example plugin `crate_name` as plugin `name`.
async fn deploy(client: &Client, name: &str, crate_name: &str) -> anyhow::Result<String> {
    let wasm = plugin_wasm(crate_name)?;
    Ok(client.deploy_plugin(name, wasm, true).await?.version)
}

/// A topic, a queue subscribed to it (with a dead-letter queue `<queue>-dlq` after
/// `max_receive_count` deliveries when given).
async fn wire(
    client: &Client,
    topic: &str,
    queue_name: &str,
    max_receive_count: Option<u32>,
) -> anyhow::Result<()> {
    if client.get_topic(topic).await.is_err() {
        client.create_topic(topic).await?;
    }
    let dead_letter_queue = match max_receive_count {
        Some(_) => {
            let dlq = format!("{queue_name}-dlq");
            client.create_queue(&queue(&dlq)).await?;
            Some(dlq)
        }
        None => None,
    };
    client
        .create_queue(&CreateQueue {
            name: queue_name.into(),
            max_receive_count,
            dead_letter_queue,
            ..CreateQueue::default()
        })
        .await?;
    client.subscribe(topic, queue_name, None).await?;
    Ok(())
}

/// A consumer of `queue` running `plugin`, adjusted by `adjust`.
async fn consume(
    client: &Client,
    name: &str,
    queue: &str,
    plugin: &str,
    adjust: impl FnOnce(&mut CreateConsumer),
) -> Result<Consumer, switchyard_client::ClientError> {
    let mut request = CreateConsumer {
        name: name.into(),
        queue: queue.into(),
        plugin: plugin.into(),
        ..CreateConsumer::default()
    };
    adjust(&mut request);
    client.create_consumer(&request).await
}

/// Waits until the consumer's state satisfies `done`; returns it.
async fn wait_consumer(
    client: &Client,
    name: &str,
    what: &str,
    done: impl Fn(&Consumer) -> bool,
) -> anyhow::Result<Consumer> {
    wait_for(what, PATIENCE, async || {
        let consumer = client.get_consumer(name).await?;
        Ok(done(&consumer).then_some(consumer))
    })
    .await
}

/// Waits until `queue` holds `count` ready messages; returns them (peeked, not leased).
async fn wait_ready(client: &Client, queue: &str, count: u64) -> anyhow::Result<Vec<Message>> {
    wait_until(&format!("{count} ready in {queue}"), PATIENCE, async || {
        let stats = client.get_queue(queue).await?.stats.expect("stats");
        Ok(stats.ready >= count)
    })
    .await?;
    Ok(client.peek(queue, 1000, None).await?)
}

/// Long enough for a consumer to have picked up work it should not have.
const SETTLE: Duration = Duration::from_millis(300);
