//! Names: unknown topics, queues, subscriptions and messages (404), invalid names (400)
//! and names already taken (409).

use serde_json::json;
use switchyard_client::{CreateQueue, PatchQueue, PublishBatch};
use switchyard_tests::*;

use super::{World, unchanged, world};

#[tokio::test]
async fn unknown_topic_is_404_topic_not_found() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    world(client).await?;
    let before = snapshot(client).await?;
    let message = json_message(json!(1));
    assert_api_error(client.get_topic("nope").await, 404, "topic_not_found");
    assert_api_error(client.delete_topic("nope").await, 404, "topic_not_found");
    assert_api_error(
        client.publish("nope", &message).await,
        404,
        "topic_not_found",
    );
    let batch = PublishBatch {
        messages: vec![message],
    };
    assert_api_error(
        client.publish_batch("nope", &batch).await,
        404,
        "topic_not_found",
    );
    assert_api_error(
        client.subscribe("nope", "work", None).await,
        404,
        "topic_not_found",
    );
    unchanged(client, &before).await
}

#[tokio::test]
async fn unknown_queue_is_404_queue_not_found() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let World { held, .. } = world(client).await?;
    let before = snapshot(client).await?;
    let receipts = vec![receipt(&held)];
    let code = "queue_not_found";
    assert_api_error(client.get_queue("nope").await, 404, code);
    assert_api_error(client.delete_queue("nope").await, 404, code);
    assert_api_error(
        client.patch_queue("nope", &PatchQueue::default()).await,
        404,
        code,
    );
    assert_api_error(
        client.send("nope", &json_message(json!(1))).await,
        404,
        code,
    );
    assert_api_error(
        client.receive("nope", &receive_request(1, 0)).await,
        404,
        code,
    );
    assert_api_error(client.ack("nope", receipts.clone()).await, 404, code);
    assert_api_error(client.nack("nope", receipts.clone(), None).await, 404, code);
    assert_api_error(client.extend("nope", &receipts[0], 1000).await, 404, code);
    assert_api_error(client.peek("nope", 10, None).await, 404, code);
    assert_api_error(client.purge("nope").await, 404, code);
    assert_api_error(client.subscribe("orders", "nope", None).await, 404, code);
    unchanged(client, &before).await
}

#[tokio::test]
async fn unknown_subscription_and_message_are_404() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    world(client).await?;
    let before = snapshot(client).await?;
    let missing = ulid::Ulid::new().to_string();
    let code = "subscription_not_found";
    assert_api_error(client.delete_subscription(&missing).await, 404, code);
    assert_api_error(client.patch_subscription(&missing, None).await, 404, code);
    assert_api_error(
        client.message_status(&missing).await,
        404,
        "message_not_found",
    );
    unchanged(client, &before).await
}

#[tokio::test]
async fn invalid_names_are_400_invalid_name() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    world(client).await?;
    let before = snapshot(client).await?;
    let too_long = "x".repeat(129);
    let names = [
        "",
        "has space",
        "slash/inside",
        "ünïcode",
        "semi;colon",
        "star*",
        "tab\there",
        "new\nline",
        too_long.as_str(),
    ];
    for name in names {
        assert_api_error(client.create_topic(name).await, 400, "invalid_name");
        assert_api_error(client.create_queue(&queue(name)).await, 400, "invalid_name");
    }
    unchanged(client, &before).await
}

#[tokio::test]
async fn existing_names_are_409() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    world(client).await?;
    let before = snapshot(client).await?;
    assert_api_error(client.create_topic("orders").await, 409, "topic_exists");
    assert_api_error(
        client.create_queue(&queue("work")).await,
        409,
        "queue_exists",
    );
    let other_settings = CreateQueue {
        name: "work".into(),
        visibility_timeout_ms: Some(1),
        ..CreateQueue::default()
    };
    assert_api_error(
        client.create_queue(&other_settings).await,
        409,
        "queue_exists",
    );
    assert_api_error(
        client.subscribe("orders", "work", None).await,
        409,
        "subscription_exists",
    );
    unchanged(client, &before).await
}
