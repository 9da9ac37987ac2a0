//! `GET /v1/history`: the server samples every queue's counts and every topic's publishes
//! on its own, so a chart opened later still shows what happened before; each token sees
//! only what it may read.

use serde_json::json;
use switchyard_client::{Client, CreateToken, History};
use switchyard_tests::*;

/// A sample interval short enough for a test.
const INTERVAL_MS: u64 = 100;

async fn history_until(
    client: &Client,
    what: &str,
    done: impl Fn(&History) -> bool,
) -> anyhow::Result<History> {
    wait_for(what, PATIENCE, async || {
        let history = client.history().await?;
        Ok(done(&history).then_some(history))
    })
    .await
}

#[tokio::test]
async fn the_server_keeps_samples_of_queues_and_topics_for_whoever_may_read_them()
-> anyhow::Result<()> {
    let server = TestServer::start_with(|config| config.history_interval_ms = INTERVAL_MS).await?;
    let client = &server.client;
    client.create_topic("signups").await?;
    client.create_queue(&queue("mail")).await?;
    client.create_queue(&queue("private")).await?;
    client.subscribe("signups", "mail", None).await?;
    for n in 0..5 {
        client
            .publish("signups", &json_message(json!({ "n": n })))
            .await?;
    }
    client
        .send("private", &json_message(json!("hidden")))
        .await?;

    let history = history_until(client, "a sample with the five messages", |h| {
        h.samples.last().is_some_and(|s| {
            s.queues.get("mail").is_some_and(|q| q.ready == 5)
                && s.topics.get("signups") == Some(&5)
        })
    })
    .await?;
    assert_eq!(history.interval_ms, INTERVAL_MS);
    assert!(
        history.samples.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
        "oldest first"
    );
    // Drained, the queue's latest sample says so while the older ones still show the five.
    let got = client.receive("mail", &receive_request(10, 0)).await?;
    client
        .ack("mail", got.into_iter().filter_map(|m| m.receipt).collect())
        .await?;
    let history = history_until(client, "a sample after the acks", |h| {
        h.samples
            .last()
            .is_some_and(|s| s.queues.get("mail").is_some_and(|q| q.ready == 0))
    })
    .await?;
    assert!(
        history
            .samples
            .iter()
            .any(|s| s.queues.get("mail").is_some_and(|q| q.ready == 5)),
        "the past is still there"
    );

    let created = client
        .create_token(&CreateToken {
            name: "mail reader".into(),
            scopes: vec!["read:queue:mail".into()],
            ..Default::default()
        })
        .await?;
    let reader = Client::new(server.url()).with_token(&created.token);
    let seen = reader.history().await?;
    assert!(
        seen.samples
            .iter()
            .all(|s| { s.queues.keys().all(|q| q == "mail") && s.topics.is_empty() })
    );
    assert!(seen.samples.iter().any(|s| s.queues.contains_key("mail")));
    Ok(())
}
