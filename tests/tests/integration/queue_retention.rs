//! Time in a queue: a copy's retention runs from when it entered that queue (a replay from
//! the archive, a dead-letter move), not from its message's publish; it still runs out.

use serde_json::json;
use switchyard_client::{
    ArchivePoint, ArchiveSettings, Client, CreateQueue, DeliveryState, ReceiveRequest, StartReplay,
};
use switchyard_tests::*;

/// The retention of the queues under test: the message is older than this when it
/// arrives there.
const RETENTION_MS: u64 = 5000;

fn kept_for(name: &str, retention_ms: u64) -> CreateQueue {
    CreateQueue {
        name: name.into(),
        retention_ms: Some(retention_ms),
        ..CreateQueue::default()
    }
}

/// The state of message `id`'s copy in `queue`, if its status shows one.
async fn state_in(client: &Client, id: &str, queue: &str) -> anyhow::Result<Option<DeliveryState>> {
    Ok(states(&client.message_status(id).await?)
        .into_iter()
        .find(|(name, _)| name == queue)
        .map(|(_, state)| state))
}

async fn wait_for_state(
    client: &Client,
    id: &str,
    queue: &str,
    state: DeliveryState,
) -> anyhow::Result<()> {
    let what = format!("message {id} to be {state:?} in {queue}");
    wait_until(&what, PATIENCE, async || {
        Ok(state_in(client, id, queue).await? == Some(state))
    })
    .await
}

/// A server with queue `clock` (kept [`RETENTION_MS`]) subscribed to the archived topic
/// `events`, and queue `probe` kept one second.
async fn server() -> anyhow::Result<TestServer> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client
        .create_archived_topic("events", ArchiveSettings::default())
        .await?;
    client
        .create_queue(&kept_for("clock", RETENTION_MS))
        .await?;
    client.subscribe("events", "clock", None).await?;
    client.create_queue(&kept_for("probe", 1000)).await?;
    Ok(server)
}

/// Waits until message `id` is older than [`RETENTION_MS`]: its copy in `clock`, whose
/// retention counts from the publish, has expired.
async fn outlive_the_retention(client: &Client, id: &str) -> anyhow::Result<()> {
    wait_for_state(client, id, "clock", DeliveryState::Expired).await
}

/// Waits until a retention sweep has run that started after now: a message sent to the
/// one-second queue `probe` now has expired.
async fn a_sweep_has_run(client: &Client) -> anyhow::Result<()> {
    let probe = client.send("probe", &json_message(json!("probe"))).await?;
    wait_for_state(client, &probe, "probe", DeliveryState::Expired).await
}

/// The copy of `id` that just entered `queue` (older than [`RETENTION_MS`], but in the
/// queue for less) outlasts a sweep, then expires [`RETENTION_MS`] after it entered.
async fn kept_by_a_sweep_then_expires(
    client: &Client,
    id: &str,
    queue: &str,
) -> anyhow::Result<()> {
    a_sweep_has_run(client).await?;
    assert_eq!(
        state_in(client, id, queue).await?,
        Some(DeliveryState::Ready),
        "a sweep after the copy entered {queue} keeps it: it has been there under {RETENTION_MS} ms"
    );
    wait_for_state(client, id, queue, DeliveryState::Expired).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_copy_is_kept_from_its_replay_then_expires() -> anyhow::Result<()> {
    let server = server().await?;
    let client = &server.client;
    client
        .create_queue(&kept_for("replayed", RETENTION_MS))
        .await?;
    let id = client
        .publish("events", &json_message(json!("old")))
        .await?;
    outlive_the_retention(client, &id).await?;

    let replay = StartReplay {
        queue: "replayed".into(),
        from: ArchivePoint::Position(0),
        to: None,
        filter: None,
    };
    let job = client.start_replay("events", &replay).await?;
    wait_until("the replay to copy the message", PATIENCE, async || {
        let job = client.get_replay(&job.id).await?;
        Ok(job.state.is_finished() && job.matched == 1)
    })
    .await?;
    assert_eq!(
        state_in(client, &id, "replayed").await?,
        Some(DeliveryState::Ready),
        "the replay reports the message copied"
    );
    kept_by_a_sweep_then_expires(client, &id, "replayed").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_kept_from_its_move_then_expires() -> anyhow::Result<()> {
    let server = server().await?;
    let client = &server.client;
    client.create_queue(&kept_for("dead", RETENTION_MS)).await?;
    client
        .create_queue(&CreateQueue {
            name: "work".into(),
            max_receive_count: Some(1),
            dead_letter_queue: Some("dead".into()),
            ..CreateQueue::default()
        })
        .await?;
    client.subscribe("events", "work", None).await?;
    let id = client
        .publish("events", &json_message(json!("poison")))
        .await?;
    let leased = client
        .receive(
            "work",
            &ReceiveRequest {
                visibility_timeout_ms: Some(600_000),
                ..receive_request(1, 5000)
            },
        )
        .await?;
    assert_eq!(leased.len(), 1);
    outlive_the_retention(client, &id).await?;

    // Its one allowed delivery is given up: it moves to the dead-letter queue now.
    client.nack("work", vec![receipt(&leased[0])], None).await?;
    wait_for_state(client, &id, "dead", DeliveryState::Ready).await?;
    kept_by_a_sweep_then_expires(client, &id, "dead").await
}
