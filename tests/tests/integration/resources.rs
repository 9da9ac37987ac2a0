//! Topics, queues and subscriptions as resources: create, list, get, patch, delete, and
//! what deleting one does to the others.

use serde_json::json;
use switchyard_client::{CreateQueue, PatchQueue};
use switchyard_tests::*;

#[tokio::test]
async fn health_says_ok() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    assert_eq!(server.client.health().await?.status, "ok");
    Ok(())
}

#[tokio::test]
async fn topics_can_be_created_listed_fetched_and_deleted() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let own: Vec<String> = client
        .list_topics()
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(
        own,
        [switchyard_client::ALARMS_TOPIC],
        "only the server's own topic"
    );
    let created = client.create_topic("signups").await?;
    assert_eq!(created.name, "signups");
    client.create_topic("a.b_c-D9").await?;
    let longest = "x".repeat(128);
    client.create_topic(&longest).await?;

    let names: Vec<String> = client
        .list_topics()
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(
        names,
        [
            "a.b_c-D9".to_string(),
            "signups".into(),
            switchyard_client::ALARMS_TOPIC.into(),
            longest.clone()
        ],
        "sorted by name"
    );
    assert_eq!(client.get_topic("signups").await?, created);

    client.delete_topic("signups").await?;
    assert_api_error(client.get_topic("signups").await, 404, "topic_not_found");
    assert_eq!(client.list_topics().await?.len(), 3);
    Ok(())
}

#[tokio::test]
async fn queues_can_be_created_with_settings_and_patched() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let plain = client.create_queue(&queue("plain")).await?;
    assert_eq!(plain.visibility_timeout_ms, 30_000, "SQS's default lease");
    assert_eq!(plain.delay_ms, 0);
    assert_eq!(
        (plain.max_receive_count, plain.dead_letter_queue.as_deref()),
        (None, None)
    );

    let tuned = client
        .create_queue(&CreateQueue {
            name: "tuned".into(),
            visibility_timeout_ms: Some(43_200_000),
            max_receive_count: Some(4),
            dead_letter_queue: Some("plain".into()),
            delay_ms: Some(250),
            retention_ms: Some(3_600_000),
            ..CreateQueue::default()
        })
        .await?;
    assert_eq!(tuned.visibility_timeout_ms, 43_200_000, "12 h is allowed");
    assert_eq!(tuned.max_receive_count, Some(4));
    assert_eq!(tuned.dead_letter_queue.as_deref(), Some("plain"));
    assert_eq!((tuned.delay_ms, tuned.retention_ms), (250, 3_600_000));

    let zero = client
        .create_queue(&CreateQueue {
            name: "zero-lease".into(),
            visibility_timeout_ms: Some(0),
            ..CreateQueue::default()
        })
        .await?;
    assert_eq!(zero.visibility_timeout_ms, 0, "0 is allowed");

    let patched = client
        .patch_queue(
            "tuned",
            &PatchQueue {
                visibility_timeout_ms: Some(5_000),
                dead_letter_queue: Some(None),
                ..PatchQueue::default()
            },
        )
        .await?;
    assert_eq!(patched.visibility_timeout_ms, 5_000);
    assert_eq!(
        patched.dead_letter_queue, None,
        "null removes the dead-letter queue"
    );
    // Like SQS's redrive policy, the receive limit goes with the dead-letter queue.
    assert_eq!(patched.max_receive_count, None);
    assert_eq!(
        (patched.delay_ms, patched.retention_ms),
        (250, 3_600_000),
        "absent settings stay"
    );

    let fetched = client.get_queue("tuned").await?;
    assert_eq!(fetched.visibility_timeout_ms, 5_000);
    assert!(fetched.stats.is_some(), "GET shows live stats");
    let names: Vec<String> = client
        .list_queues()
        .await?
        .into_iter()
        .map(|q| q.name)
        .collect();
    assert_eq!(names, ["plain", "tuned", "zero-lease"]);
    Ok(())
}

#[tokio::test]
async fn patched_visibility_timeout_applies_to_the_next_receive() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("q")).await?; // 30 s
    let patch = PatchQueue {
        visibility_timeout_ms: Some(300),
        ..PatchQueue::default()
    };
    client.patch_queue("q", &patch).await?;
    let id = client.send("q", &json_message(json!(1))).await?;
    receive_exactly(client, "q", 1).await?;
    let again = receive_exactly(client, "q", 1).await?.remove(0);
    assert_eq!((again.id.as_str(), again.receive_count), (id.as_str(), 2));
    Ok(())
}

#[tokio::test]
async fn deleting_a_topic_removes_its_subscriptions_but_not_its_queues() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("t").await?;
    client.create_topic("other").await?;
    client.create_queue(&queue("q")).await?;
    client.subscribe("t", "q", None).await?;
    let kept = client.subscribe("other", "q", None).await?;
    client.publish("t", &json_message(json!("before"))).await?;
    assert_eq!(client.get_topic("t").await?.subscriptions, 1);

    client.delete_topic("t").await?;
    let subs = client.list_subscriptions().await?;
    assert_eq!(subs, [kept], "only the other topic's subscription is left");
    let held = drain(client, "q").await?;
    assert_eq!(held.len(), 1, "the queue keeps what it already had");
    Ok(())
}

#[tokio::test]
async fn deleting_a_queue_removes_its_messages_and_subscriptions() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("t").await?;
    client.create_queue(&queue("doomed")).await?;
    client.create_queue(&queue("survivor")).await?;
    client.subscribe("t", "doomed", None).await?;
    let kept = client.subscribe("t", "survivor", None).await?;
    let id = client.publish("t", &json_message(json!(1))).await?;

    client.delete_queue("doomed").await?;
    assert_api_error(client.get_queue("doomed").await, 404, "queue_not_found");
    assert_eq!(client.list_subscriptions().await?, [kept]);
    let status = client.message_status(&id).await?;
    let queues: Vec<&str> = status.deliveries.iter().map(|d| d.queue.as_str()).collect();
    assert_eq!(queues, ["survivor"]);

    // A queue of the same name starts empty.
    client.create_queue(&queue("doomed")).await?;
    assert!(client.peek("doomed", 10, None).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn subscriptions_can_be_listed_by_topic() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    for topic in ["a", "b"] {
        client.create_topic(topic).await?;
    }
    client.create_queue(&queue("q")).await?;
    let on_a = client
        .subscribe("a", "q", Some(json!({"attributes": {"kind": ["x"]}})))
        .await?;
    client.subscribe("b", "q", None).await?;
    assert_eq!(on_a.filter, Some(json!({"attributes": {"kind": ["x"]}})));
    let subs: switchyard_client::SubscriptionList = client
        .call::<(), _>(reqwest::Method::GET, "/v1/subscriptions?topic=a", None)
        .await?;
    assert_eq!(subs.subscriptions, [on_a]);
    Ok(())
}

#[tokio::test]
async fn a_queue_with_consumers_is_not_deleted_until_they_are() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("jobs")).await?;
    client
        .deploy_plugin("ack-all", plugin_wasm("ack-all")?, true)
        .await?;
    for name in ["worker-a", "worker-b"] {
        let consumer = switchyard_client::CreateConsumer {
            name: name.into(),
            queue: "jobs".into(),
            plugin: "ack-all".into(),
            ..Default::default()
        };
        client.create_consumer(&consumer).await?;
    }
    let message = assert_api_error(client.delete_queue("jobs").await, 409, "queue_in_use");
    assert!(
        message.contains("worker-a") && message.contains("worker-b"),
        "{message}"
    );
    // The claim is rebuilt at start.
    let server = server.restart().await?;
    let client = &server.client;
    assert_api_error(client.delete_queue("jobs").await, 409, "queue_in_use");
    client.delete_consumer("worker-a").await?;
    let message = assert_api_error(client.delete_queue("jobs").await, 409, "queue_in_use");
    assert!(
        !message.contains("worker-a") && message.contains("worker-b"),
        "{message}"
    );
    client.delete_consumer("worker-b").await?;
    client.delete_queue("jobs").await?;
    // A consumer of a queue that does not exist is refused and stored nowhere.
    let orphan = switchyard_client::CreateConsumer {
        name: "orphan".into(),
        queue: "jobs".into(),
        plugin: "ack-all".into(),
        ..Default::default()
    };
    assert_api_error(
        client.create_consumer(&orphan).await,
        404,
        "queue_not_found",
    );
    assert!(client.list_consumers().await?.is_empty());
    Ok(())
}
